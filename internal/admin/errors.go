package admin

import (
	"errors"
	"fmt"
	"net/http"

	"latchkey/internal/store"
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

// Status is the HTTP status that a refused operation deserves, by its
// kind: 400 for invalid input, 404 for what does not exist, 409 for what
// is taken, 403 when no mail server is configured, 429 for a request
// repeated too soon, 503 when the mail server failed. It is 0 for an error
// that is no *Error of these kinds (a fault, which the caller classifies).
// The REST API and the pages both answer by it.
func Status(err error) int {
	var ae *Error
	if !errors.As(err, &ae) {
		return 0
	}
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrAlreadyExists):
		return http.StatusConflict
	case errors.Is(err, ErrNoMail):
		return http.StatusForbidden
	case errors.Is(err, ErrTooSoon):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrMailFailed):
		return http.StatusServiceUnavailable
	}
	return 0
}
