// Package vouch holds what the parts of a Vouch registry say to each other:
// the interfaces between the HTTP edge (package server, the web pages, a
// mirror's read-only front) and the registry core behind them, the types
// that cross that line, and the errors that say whose fault a failure is.
// It depends on no storage: a front end built on it can be served by any
// implementation of these interfaces.
//
// The registry itself is package registry; its log, package logcore; its
// rules, package state. docs/design.md maps every package.
package vouch
