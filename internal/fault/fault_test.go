package fault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"latchkey/internal/store"
)

// TestStatusClassifiesWhatCarriesNoStatusOfItsOwn: unstorable text is the
// client's (400), an unreachable database is a 503 even when wrapped, and
// anything else is the server's (500).
func TestStatusClassifiesWhatCarriesNoStatusOfItsOwn(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"no error", nil, http.StatusOK},
		{"unstorable text", store.ErrInvalidText, http.StatusBadRequest},
		{"wrapped unstorable text", fmt.Errorf("update user: %w", store.ErrInvalidText), http.StatusBadRequest},
		{"unavailable database", fmt.Errorf("get bearer: %w", store.ErrUnavailable), http.StatusServiceUnavailable},
		{"not found reaching here", store.ErrNotFound, http.StatusInternalServerError},
		{"anything else", errors.New("boom"), http.StatusInternalServerError},
		{"the client went away", fmt.Errorf("get bearer: %w", context.Canceled), StatusClientClosed},
		{"the client went away during a database call", errors.Join(context.Canceled, store.ErrUnavailable), StatusClientClosed},
	} {
		if got := Status(c.err); got != c.want {
			t.Errorf("%s: Status = %d, want %d", c.name, got, c.want)
		}
		if got, want := ServerSide(c.err), c.want >= 500; got != want {
			t.Errorf("%s: ServerSide = %v, want %v", c.name, got, want)
		}
	}
}

// TestMarkRetrySetsRetryAfterOnlyOn503AndKeepsAHandlersOwn.
func TestMarkRetrySetsRetryAfterOnlyOn503AndKeepsAHandlersOwn(t *testing.T) {
	h := http.Header{}
	MarkRetry(http.StatusServiceUnavailable, h)
	if got := h.Get("Retry-After"); got != "5" {
		t.Errorf("503: Retry-After %q, want 5", got)
	}
	h = http.Header{"Retry-After": {"30"}}
	MarkRetry(http.StatusServiceUnavailable, h)
	if got := h.Get("Retry-After"); got != "30" {
		t.Errorf("503 with the handler's own: Retry-After %q, want 30", got)
	}
	for _, status := range []int{http.StatusOK, http.StatusTooManyRequests, http.StatusInternalServerError} {
		h = http.Header{}
		MarkRetry(status, h)
		if got := h.Get("Retry-After"); got != "" {
			t.Errorf("%d: Retry-After %q, want none", status, got)
		}
	}
}
