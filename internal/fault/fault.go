// Package fault classifies any error, from any layer, into the HTTP
// status it deserves when it reaches a client. It is the one place that
// knows which failures are the client's (text the database cannot keep)
// and which are the server's (the database is unreachable: 503, anything
// unexpected: 500). Protocol and resource errors that carry their own
// status (oauth.Error, the API's and the pages' errors) are mapped by
// their own renderers first; whatever is left ends here.
package fault

import (
	"errors"
	"net/http"

	"latchkey/internal/store"
)

// Status is the status an error that carries no status of its own
// deserves: 400 for input the database cannot store (store.ErrInvalidText),
// 503 while the database is unavailable (store.ErrUnavailable: the client
// may retry), 500 for anything else. A nil error is 200.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
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
