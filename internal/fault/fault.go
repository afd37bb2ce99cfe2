// Package fault classifies any error, from any layer, into the HTTP
// status it deserves when it reaches a client. It is the one place that
// knows which failures are the client's (text the database cannot keep)
// and which are the server's (the database is unreachable: 503, anything
// unexpected: 500). Protocol and resource errors that carry their own
// status (oauth.Error, the API's and the pages' errors) are mapped by
// their own renderers first; whatever is left ends here.
package fault

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"latchkey/internal/store"
)

// StatusClientClosed is the status of a request whose client went away
// before it was answered (nginx's 499): nobody reads it, but logs and
// metrics see it as the client's doing, never as a server error.
const StatusClientClosed = 499

// Status is the status an error that carries no status of its own
// deserves: 499 when the client went away (context.Canceled: the request's
// context was cancelled, and with it what the request was waiting for),
// 400 for input the database cannot store (store.ErrInvalidText), 503
// while the database is unavailable (store.ErrUnavailable: the client may
// retry), 500 for anything else. A nil error is 200.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, context.Canceled):
		return StatusClientClosed
	case errors.Is(err, store.ErrInvalidText):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// ServerSide reports whether err is the server's fault (a 5xx), which is
// logged as an error; a client's fault is not.
func ServerSide(err error) bool { return Status(err) >= 500 }

// RetryAfterSeconds is how long a client should wait before it tries
// again after a 503: about the time a database restart or a failover
// takes.
const RetryAfterSeconds = 5

// MarkRetry sets the Retry-After header (RFC 9110 §10.2.3) of a 503
// answer about to be written, unless the handler set one itself. The
// server calls it for every response it writes with 503, so every such
// answer (token endpoint, API, pages, git, health) tells clients and
// load balancers when to try again.
func MarkRetry(status int, h http.Header) {
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
}
