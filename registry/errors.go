package registry

import "github.com/vouchdev/vouch"

// ErrNotFound is returned by reads of things that do not exist (or not at
// the tree size asked for); see package vouch.
var ErrNotFound = vouch.ErrNotFound

// InvalidError is a request the registry cannot answer as asked; see
// package vouch.
type InvalidError = vouch.InvalidError
