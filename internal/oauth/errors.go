package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"latchkey/internal/fault"
)

// RFC 6749 error codes (§4.1.2.1, §5.2) and RFC 6750 codes (§3.1).
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidClient           = "invalid_client"
	CodeInvalidGrant            = "invalid_grant"
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeInvalidScope            = "invalid_scope"
	CodeAccessDenied            = "access_denied"
	CodeServerError             = "server_error"
	CodeTemporarilyUnavailable  = "temporarily_unavailable"
	CodeLoginRequired           = "login_required"
	CodeConsentRequired         = "consent_required"
	CodeInvalidToken            = "invalid_token"
	CodeInsufficientScope       = "insufficient_scope"
	CodeInvalidTarget           = "invalid_target" // RFC 8707 §2
)

// OpenID Connect Core §3.1.2.6 error codes for authorization request
// features Latchkey does not support.
const (
	CodeRequestNotSupported      = "request_not_supported"
	CodeRequestURINotSupported   = "request_uri_not_supported"
	CodeRegistrationNotSupported = "registration_not_supported"
)

// Error is a protocol error. Code and Description are what the client
// sees; Err is server-side detail that is logged and never shown.
type Error struct {
	Code        string
	Description string
	Status      int
	Err         error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Err)
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Err }

func newError(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Description: fmt.Sprintf(format, args...)}
}

// InvalidRequest is RFC 6749's invalid_request (400).
func InvalidRequest(format string, args ...any) *Error {
	return newError(CodeInvalidRequest, http.StatusBadRequest, format, args...)
}

// InvalidClient is RFC 6749's invalid_client (401).
func InvalidClient(format string, args ...any) *Error {
	return newError(CodeInvalidClient, http.StatusUnauthorized, format, args...)
}

// InvalidGrant is RFC 6749's invalid_grant (400).
func InvalidGrant(format string, args ...any) *Error {
	return newError(CodeInvalidGrant, http.StatusBadRequest, format, args...)
}

// InvalidScope is RFC 6749's invalid_scope (400).
func InvalidTarget(format string, args ...any) *Error {
	return newError(CodeInvalidTarget, http.StatusBadRequest, format, args...)
}

// InvalidScope is RFC 6749's invalid_scope (400).
func InvalidScope(format string, args ...any) *Error {
	return newError(CodeInvalidScope, http.StatusBadRequest, format, args...)
}

// UnauthorizedClient is RFC 6749's unauthorized_client (400).
func UnauthorizedClient(format string, args ...any) *Error {
	return newError(CodeUnauthorizedClient, http.StatusBadRequest, format, args...)
}

// ServerError wraps an error that is not a protocol error; the client
// sees only a generic text. Package fault classifies it: text the database
// cannot store is the client's invalid_request (400); while the database
// is unreachable the status is 503; a request whose client went away gets
// 499, which nobody reads but logs and metrics count as the client's (RFC 6749 defines
// temporarily_unavailable for the authorization endpoint only, so the
// token endpoint answers server_error with 503 Service Unavailable, which
// tells clients and load balancers to try again); anything else is
// server_error with 500.
func ServerError(err error) *Error {
	switch fault.Status(err) {
	case http.StatusBadRequest: // the client's input, not a fault of ours
		return &Error{Code: CodeInvalidRequest, Status: http.StatusBadRequest,
			Description: "a parameter holds a NUL byte or invalid UTF-8", Err: err}
	case http.StatusServiceUnavailable:
		return &Error{Code: CodeServerError, Status: http.StatusServiceUnavailable,
			Description: "the service is temporarily unavailable; try again later", Err: err}
	case fault.StatusClientClosed: // nobody is left to read it; logged as the client's doing
		return &Error{Code: CodeServerError, Status: fault.StatusClientClosed,
			Description: "the client went away", Err: err}
	}
	return &Error{Code: CodeServerError, Status: http.StatusInternalServerError,
		Description: "the server could not complete the request", Err: err}
}

// AsError turns any error into a protocol error: protocol errors stay as
// they are, anything else becomes ServerError's. A server_error whose
// cause fault classifies as 503 answers 503.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Code == CodeServerError && e.Status != http.StatusServiceUnavailable &&
			fault.Status(e.Err) == http.StatusServiceUnavailable {
			return ServerError(e.Err)
		}
		return e
	}
	return ServerError(err)
}

// errorBody is the RFC 6749 §5.2 error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// WriteError writes err as RFC 6749 error JSON with the matching status.
// invalid_client carries a WWW-Authenticate challenge (§5.2).
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	e := AsError(err)
	if e.Status >= 500 {
		log.Error("protocol request failed", "error", err)
	} else {
		log.Info("protocol request refused", "code", e.Code, "detail", err.Error())
	}
	if e.Code == CodeInvalidClient {
		w.Header().Set("WWW-Authenticate", `Basic realm="latchkey"`)
	}
	e.WriteJSON(w)
}

// WriteJSON writes e as the error JSON of RFC 6749 §5.2, which RFC 6750
// §3 reuses for protected resources, with e's status and the no-store
// headers. It logs nothing and sets no challenge: WriteError does both for
// the protocol endpoints, package access for the protected resources.
func (e *Error) WriteJSON(w http.ResponseWriter) {
	writeJSON(w, e.Status, errorBody{Error: e.Code, Description: e.Description})
}

// writeJSON writes v as JSON with the no-store headers every token-bearing
// or error response needs.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jsonEndpoint serves a protocol endpoint whose answer is JSON: fn's result
// with 200, or its error as RFC 6749 error JSON.
func (p *Provider) jsonEndpoint(fn func(http.ResponseWriter, *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := fn(w, r)
		if err != nil {
			WriteError(w, p.log, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	})
}
