package registry

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned by reads of things that do not exist (or not at
// the tree size asked for).
var ErrNotFound = errors.New("not found")

// InvalidError is a request the registry cannot answer as asked: a bad
// parameter, a tree size beyond the log, a malformed submission.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalidf(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// NotFoundError names what was not found.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string   { return e.What + " not found" }
func (e *NotFoundError) Is(t error) bool { return t == ErrNotFound }

func notFound(format string, args ...any) error {
	return &NotFoundError{What: fmt.Sprintf(format, args...)}
}
