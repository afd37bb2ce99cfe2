package admin

import (
	"errors"
	"fmt"
)

// ErrInvalid means the input of an operation was refused (a malformed key,
// slug, name or address). Callers answer 400.
var ErrInvalid = errors.New("invalid input")

// Error is an error of an administrative operation: a message fit to show
// as it is, and the kind of failure for errors.Is (ErrInvalid,
// store.ErrNotFound, store.ErrAlreadyExists, ...), so that the REST API can
// choose a status and the command line can print the message alone.
type Error struct {
	Kind    error
	Message string
	cause   error // what failed underneath, for the log; may be nil
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Message + " (" + e.cause.Error() + ")"
	}
	return e.Message
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Kind, e.cause}
	}
	return []error{e.Kind}
}

// failed returns an *Error of the given kind.
func failed(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// invalid returns an ErrInvalid *Error.
func invalid(format string, args ...any) error { return failed(ErrInvalid, format, args...) }
