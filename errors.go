package vouch

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned by reads of things that do not exist (or not at
// the tree size asked for).
var ErrNotFound = errors.New("not found")

// NotFoundError names what was not found; it is ErrNotFound.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string   { return e.What + " not found" }
func (e *NotFoundError) Is(t error) bool { return t == ErrNotFound }

// NotFound returns a *NotFoundError.
func NotFound(format string, args ...any) error {
	return &NotFoundError{What: fmt.Sprintf(format, args...)}
}

// InvalidError is a request that cannot be answered as asked: a bad
// parameter, a tree size beyond the log, a malformed submission.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

// Invalid returns an *InvalidError.
func Invalid(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// UnavailableError reports a failure of the registry, not of the request.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "registry unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// ErrClosed is returned for work submitted while the registry shuts down.
var ErrClosed = errors.New("the registry is shutting down")

// ReadOnlyError is a write sent to a mirror: it names where writes go.
type ReadOnlyError struct{ Upstream string }

func (e *ReadOnlyError) Error() string {
	return "this registry is a read-only mirror of " + e.Upstream + ": send writes there"
}

// ProofTooLargeError is a proof of completeness that would carry more than
// a registry proves in one answer.
type ProofTooLargeError struct{ Msg string }

func (e *ProofTooLargeError) Error() string { return e.Msg }
