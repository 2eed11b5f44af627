// Package e2e holds end-to-end tests of Vouch: real registries on loopback,
// real SQLite, real signatures, concurrent writers, and vouch processes
// killed with SIGKILL mid-load.
package e2e
