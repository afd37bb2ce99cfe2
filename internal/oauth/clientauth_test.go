package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// clientAuthCase is one way a request may present (or fail to present)
// its client (RFC 6749 §2.3). Exactly one of client and code is set:
// client is the client that must be authenticated, code and status the
// error that must be answered.
type clientAuthCase struct {
	name          string
	authorization string     // the Authorization header; empty for none
	body          url.Values // client_id and client_secret in the body
	client        string
	code          string
	status        int
}

var clientAuthCases = []clientAuthCase{
	// Accepted.
	{name: "Basic with the right secret authenticates the confidential client", authorization: basicOf("conf"), client: "conf"},
	{name: "lower-case basic scheme is accepted", authorization: "basic " + strings.TrimPrefix(basicOf("conf"), "Basic "), client: "conf"},
	{name: "Basic user and password are form-urlencoded (RFC 6749 §2.3.1)",
		authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("%63onf:"+url.QueryEscape(clientSecret("conf")))), client: "conf"},
	{name: "client_id and client_secret in the body authenticate the confidential client",
		body: url.Values{"client_id": {"conf"}, "client_secret": {clientSecret("conf")}}, client: "conf"},
	{name: "Basic and a body that repeat the same credentials authenticate the client", authorization: basicOf("conf"),
		body: url.Values{"client_id": {"conf"}, "client_secret": {clientSecret("conf")}}, client: "conf"},
	{name: "public client by client_id alone in the body is authenticated", body: url.Values{"client_id": {"pub"}}, client: "pub"},
	{name: "public client by Basic with an empty password is authenticated (x/oauth2 sends that)", authorization: basic("pub", ""), client: "pub"},
	{name: "public client by Basic with an empty password and its client_id in the body is authenticated",
		authorization: basic("pub", ""), body: url.Values{"client_id": {"pub"}}, client: "pub"},

	// Credentials that disagree: invalid_request, as RFC 6749 §2.3 allows one method per request.
	{name: "Basic and body client_id that disagree are invalid_request", authorization: basicOf("conf"),
		body: url.Values{"client_id": {"other"}}, code: CodeInvalidRequest, status: http.StatusBadRequest},
	{name: "Basic and body client_secret that disagree are invalid_request", authorization: basicOf("conf"),
		body: url.Values{"client_secret": {clientSecret("other")}}, code: CodeInvalidRequest, status: http.StatusBadRequest},
	{name: "Basic with an empty password and the secret in the body is invalid_request", authorization: basic("conf", ""),
		body: url.Values{"client_secret": {clientSecret("conf")}}, code: CodeInvalidRequest, status: http.StatusBadRequest},

	// Refused: invalid_client, 401, with a Basic challenge.
	{name: "no client authentication at all is invalid_client", code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "client_secret without client_id is invalid_client", body: url.Values{"client_secret": {clientSecret("conf")}},
		code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "confidential client with client_id but no secret is invalid_client", body: url.Values{"client_id": {"conf"}},
		code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "confidential client by Basic with an empty password is invalid_client", authorization: basic("conf", ""),
		code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "wrong secret in Basic is invalid_client", authorization: basic("conf", "lks_wrong"), code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "wrong secret in the body is invalid_client", body: url.Values{"client_id": {"conf"}, "client_secret": {"lks_wrong"}},
		code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "another client's secret is invalid_client", authorization: basic("conf", clientSecret("other")), code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "secret that differs only in letter case is invalid_client", authorization: basic("conf", strings.ToUpper(clientSecret("conf"))),
		code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "unknown client in Basic is invalid_client", authorization: basic("no-such-client", "x"), code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "unknown client in the body is invalid_client", body: url.Values{"client_id": {"no-such-client"}},
		code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "suspended client with its right secret is invalid_client", authorization: basicOf("susp"), code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "public client sending a client_secret is invalid_client", body: url.Values{"client_id": {"pub"}, "client_secret": {"guess"}},
		code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "public client sending a Basic password is invalid_client", authorization: basic("pub", "guess"), code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "Bearer scheme is invalid_client", authorization: "Bearer " + clientSecret("conf"), code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "Basic that is not base64 is invalid_client", authorization: "Basic %%%not-base64%%%", code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "Basic without a colon is invalid_client", authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("conf")),
		code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "Basic with an empty client id is invalid_client", authorization: basic("", clientSecret("conf")), code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "Basic with malformed percent-encoding is invalid_client", authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("conf:%zz")),
		code: CodeInvalidClient, status: http.StatusUnauthorized},
	{name: "Authorization header without a scheme separator is invalid_client", authorization: "Basic", code: CodeInvalidClient, status: http.StatusUnauthorized},
}

// TestClientAuthentication states who AuthenticateClient accepts, and
// that the token endpoint answers each refusal with the same code and
// status as RFC 6749 JSON.
func TestClientAuthentication(t *testing.T) {
	h := newHarness(t)
	for _, c := range clientAuthCases {
		t.Run(c.name, func(t *testing.T) {
			client, err := h.p.AuthenticateClient(context.Background(), c.request(), h.params(t, c.request()))
			if c.client != "" {
				if err != nil || client.ID != c.client {
					t.Fatalf("authenticated %q, %v; want client %q", client.ID, err, c.client)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != c.code || e.Status != c.status {
				t.Fatalf("error %v, want %s with status %d", err, c.code, c.status)
			}
			if client.ID != "" {
				t.Fatalf("a refused request still yields client %q", client.ID)
			}
			form := url.Values{"grant_type": {"client_credentials"}}
			for k, v := range c.body {
				form[k] = v
			}
			wantError(t, h.token(form, c.authorization), c.status, c.code)
		})
	}
}

// request is the token request of a case, with only its credentials.
func (c clientAuthCase) request() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(c.body.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.authorization != "" {
		r.Header.Set("Authorization", c.authorization)
	}
	return r
}

func (h *harness) params(t *testing.T, r *http.Request) Params {
	t.Helper()
	params, err := ReadParams(httptest.NewRecorder(), r)
	if err != nil {
		t.Fatalf("read params: %v", err)
	}
	return params
}

// TestEveryClientEndpointAuthenticatesAlike checks that the token,
// revocation, introspection and device authorization endpoints share one
// client authentication: a wrong secret is invalid_client with a Basic
// challenge everywhere, and anything but POST is 405 with Allow: POST.
func TestEveryClientEndpointAuthenticatesAlike(t *testing.T) {
	h := newHarness(t)
	endpoints := map[string]http.Handler{
		"token":                h.p.TokenHandler(TokenOptions{}),
		"revocation":           h.p.RevokeHandler(),
		"introspection":        h.p.IntrospectHandler(),
		"device authorization": h.p.DeviceAuthorizationHandler(),
	}
	for name, handler := range endpoints {
		t.Run(name+" refuses a wrong secret with invalid_client", func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "token": {"lka_x"}}
			wantError(t, h.post(handler, form, basic("conf", "lks_wrong")), http.StatusUnauthorized, CodeInvalidClient)
		})
		t.Run(name+" refuses a suspended client with invalid_client", func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "token": {"lka_x"}}
			wantError(t, h.post(handler, form, basicOf("susp")), http.StatusUnauthorized, CodeInvalidClient)
		})
		t.Run(name+" answers GET with 405 invalid_request and Allow: POST", func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/x?grant_type=client_credentials", nil)
			r.Header.Set("Authorization", basicOf("robot"))
			handler.ServeHTTP(rec, r)
			wantError(t, rec, http.StatusMethodNotAllowed, CodeInvalidRequest)
			if got := rec.Header().Get("Allow"); got != http.MethodPost {
				t.Errorf("Allow %q, want POST", got)
			}
		})
	}
}
