package oauth

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"latchkey/internal/store"
)

// TestWriteErrorStatusPerCode states the RFC 6749 §5.2 answer of each
// kind of error: its code, its status, and that server-side detail never
// reaches the client.
func TestWriteErrorStatusPerCode(t *testing.T) {
	detail := errors.New("sql: connection reset at tokens.go:42")
	for _, c := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"invalid_request is 400", InvalidRequest("x"), http.StatusBadRequest, CodeInvalidRequest},
		{"invalid_client is 401 with a Basic challenge", InvalidClient("x"), http.StatusUnauthorized, CodeInvalidClient},
		{"invalid_grant is 400", InvalidGrant("x"), http.StatusBadRequest, CodeInvalidGrant},
		{"invalid_scope is 400", InvalidScope("x"), http.StatusBadRequest, CodeInvalidScope},
		{"unauthorized_client is 400", UnauthorizedClient("x"), http.StatusBadRequest, CodeUnauthorizedClient},
		{"a protocol error wrapped in context keeps its code and status", fmt.Errorf("redeem: %w", InvalidGrant("x")), http.StatusBadRequest, CodeInvalidGrant},
		{"a server fault is server_error 500", ServerError(detail), http.StatusInternalServerError, CodeServerError},
		{"an error that is not a protocol error is server_error 500", detail, http.StatusInternalServerError, CodeServerError},
		{"an unavailable database is server_error 503", ServerError(fmt.Errorf("%w: %w", store.ErrUnavailable, detail)), http.StatusServiceUnavailable, CodeServerError},
		{"an unavailable database outside a protocol error is server_error 503", fmt.Errorf("load: %w", store.ErrUnavailable), http.StatusServiceUnavailable, CodeServerError},
		{"a server_error 500 around an unavailable database becomes 503",
			&Error{Code: CodeServerError, Status: http.StatusInternalServerError, Description: "x", Err: store.ErrUnavailable},
			http.StatusServiceUnavailable, CodeServerError},
		{"text the database cannot hold is the client's invalid_request 400", ServerError(fmt.Errorf("store: %w", store.ErrInvalidText)),
			http.StatusBadRequest, CodeInvalidRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, slog.New(slog.NewTextHandler(io.Discard, nil)), c.err)
			wantError(t, rec, c.status, c.code)
			for _, leak := range []string{"sql:", ".go:", "connection reset"} {
				if strings.Contains(rec.Body.String(), leak) {
					t.Errorf("error body %s reveals %q", rec.Body, leak)
				}
			}
		})
	}
}

// TestErrorKeepsDetailForTheLog states that Error shows the server-side
// detail to the log (Error()) and to errors.Is, while the client sees only
// Code and Description.
func TestErrorKeepsDetailForTheLog(t *testing.T) {
	e := ServerError(fmt.Errorf("load: %w", store.ErrUnavailable))
	if !errors.Is(e, store.ErrUnavailable) || !strings.Contains(e.Error(), "database unavailable") {
		t.Fatalf("server error %q lost its cause", e)
	}
	if strings.Contains(e.Description, "database unavailable") {
		t.Fatalf("description %q shows the server-side detail", e.Description)
	}
	if got := InvalidGrant("the code is %s", "gone").Error(); got != "invalid_grant: the code is gone" {
		t.Fatalf("Error() = %q", got)
	}
}
