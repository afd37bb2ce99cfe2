package oauth

import (
	"net/http"
	"net/url"
	"testing"
)

// TestClientCredentialsGrant states RFC 6749 §4.4 as Latchkey reads it: a
// confidential client gets an access token for its own service identity,
// within its registered scopes, and never a refresh token.
func TestClientCredentialsGrant(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		name          string
		form          url.Values
		authorization string
		status        int
		code          string // empty: tokens with scope
		scope         string
	}{
		{name: "confidential client without scope gets its default scopes and no refresh token", authorization: basicOf("robot"), scope: "REPO_READ"},
		{name: "scope within the client's registration is granted", form: url.Values{"scope": {"REPO_READ"}}, authorization: basicOf("robot"), scope: "REPO_READ"},
		{name: "scope the registered one implies is granted", form: url.Values{"scope": {"PUBLIC_REPOS"}}, authorization: basicOf("robot"), scope: "PUBLIC_REPOS"},
		{name: "scope beyond the client's registration is invalid_scope", form: url.Values{"scope": {"REPO_WRITE"}}, authorization: basicOf("robot"),
			status: http.StatusBadRequest, code: CodeInvalidScope},
		{name: "unknown scope is invalid_scope", form: url.Values{"scope": {"NO_SUCH_SCOPE"}}, authorization: basicOf("robot"),
			status: http.StatusBadRequest, code: CodeInvalidScope},
		{name: "client secret in the body works as well", form: url.Values{"client_id": {"robot"}, "client_secret": {clientSecret("robot")}}, scope: "REPO_READ"},
		{name: "public client registered for client_credentials all the same is unauthorized_client", form: url.Values{"client_id": {"pubrobot"}},
			status: http.StatusBadRequest, code: CodeUnauthorizedClient},
		{name: "public client not registered for it is unauthorized_client", form: url.Values{"client_id": {"pub"}},
			status: http.StatusBadRequest, code: CodeUnauthorizedClient},
		{name: "confidential client not registered for it is unauthorized_client", authorization: basicOf("conf"),
			status: http.StatusBadRequest, code: CodeUnauthorizedClient},
		{name: "suspended client is invalid_client", authorization: basicOf("susp"), status: http.StatusUnauthorized, code: CodeInvalidClient},
	} {
		t.Run(c.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			for k, v := range c.form {
				form[k] = v
			}
			rec := h.token(form, c.authorization)
			if c.code != "" {
				wantError(t, rec, c.status, c.code)
				return
			}
			resp := wantTokens(t, rec)
			if resp.Scope != c.scope || resp.RefreshToken != "" || resp.IDToken != "" {
				t.Fatalf("scope %q, refresh token %q, id_token %q; want scope %q and neither token", resp.Scope, resp.RefreshToken, resp.IDToken, c.scope)
			}
		})
	}
}

// TestClientCredentialsActForTheServiceIdentity states that the token
// acts for the client's service user, never a person, and that every
// request of one client acts for the same service user.
func TestClientCredentialsActForTheServiceIdentity(t *testing.T) {
	h := newHarness(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	var users []int64
	for range 2 {
		resp := wantTokens(t, h.token(form, basicOf("robot")))
		caller, err := h.caller(resp.AccessToken)
		if err != nil {
			t.Fatalf("bearer check of a client_credentials token: %v", err)
		}
		if caller.User.Username != "client:robot" || caller.ClientID != "robot" || caller.User.PasswordHash != "" {
			t.Fatalf("token acts for %q (password hash %q) through %q, want the password-less client:robot",
				caller.User.Username, caller.User.PasswordHash, caller.ClientID)
		}
		users = append(users, caller.User.ID)
	}
	if users[0] != users[1] || users[0] == h.alice.ID {
		t.Fatalf("service users %v, want one that is not alice (%d)", users, h.alice.ID)
	}
}
