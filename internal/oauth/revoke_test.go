package oauth

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"latchkey/internal/audit"
)

// TestRevocation states RFC 7009 as Latchkey serves it: revoking either
// token of a grant revokes the whole grant at once; an unknown token is
// not an error; a client revokes only its own tokens.
func TestRevocation(t *testing.T) {
	base := newHarness(t)
	for _, c := range []struct {
		name          string
		token         func(g TokenResponse) string
		authorization string
		status        int
		code          string // empty: 200 and the grant is dead
	}{
		{name: "revoking the refresh token kills the access token too", token: func(g TokenResponse) string { return g.RefreshToken }, authorization: basicOf("conf")},
		{name: "revoking the access token kills the refresh token too", token: func(g TokenResponse) string { return g.AccessToken }, authorization: basicOf("conf")},
		{name: "another client's token is unauthorized_client and stays live", token: func(g TokenResponse) string { return g.AccessToken },
			authorization: basicOf("other"), status: http.StatusBadRequest, code: CodeUnauthorizedClient},
		{name: "missing token is invalid_request", token: func(TokenResponse) string { return "" }, authorization: basicOf("conf"),
			status: http.StatusBadRequest, code: CodeInvalidRequest},
		{name: "wrong client secret is invalid_client and the token stays live", token: func(g TokenResponse) string { return g.AccessToken },
			authorization: basic("conf", "lks_wrong"), status: http.StatusUnauthorized, code: CodeInvalidClient},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := base.sub(t)
			g := h.grant(h.alice, "REPO_READ")
			form := url.Values{}
			if tok := c.token(g); tok != "" {
				form.Set("token", tok)
			}
			rec := h.post(h.p.RevokeHandler(), form, c.authorization)
			if c.code != "" {
				wantError(t, rec, c.status, c.code)
				if !h.accessLive(g.AccessToken) || !h.active(g.RefreshToken) {
					t.Fatal("a refused revocation harmed the grant")
				}
				return
			}
			if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("revocation answered %d %q with Cache-Control %q, want an empty no-store 200", rec.Code, rec.Body, rec.Header().Get("Cache-Control"))
			}
			if h.accessLive(g.AccessToken) || h.active(g.RefreshToken) {
				t.Fatal("a token of the revoked grant still works")
			}
			wantError(t, h.refresh(g.RefreshToken, ""), http.StatusBadRequest, CodeInvalidGrant)
			h.wantAudit(audit.TokenRevoked, "conf")
		})
	}
	t.Run("unknown and already revoked tokens are answered 200 (RFC 7009 §2.2)", func(t *testing.T) {
		h := newHarness(t)
		g := h.grant(h.alice, "REPO_READ")
		for _, tok := range []string{"lka_no-such-token", g.AccessToken, g.AccessToken, g.RefreshToken} {
			if rec := h.post(h.p.RevokeHandler(), url.Values{"token": {tok}}, basicOf("conf")); rec.Code != http.StatusOK {
				t.Fatalf("revoking %q: %d %s", tok, rec.Code, rec.Body)
			}
		}
	})
	t.Run("a public client revokes its own tokens by client_id alone", func(t *testing.T) {
		h := newHarness(t)
		d := h.startDevice("pub")
		if err := h.decide(d.UserCode, h.alice.ID, true); err != nil {
			t.Fatal(err)
		}
		resp := wantTokens(t, h.poll("pub", d.DeviceCode))
		if rec := h.post(h.p.RevokeHandler(), url.Values{"token": {resp.RefreshToken}, "client_id": {"pub"}}, ""); rec.Code != http.StatusOK {
			t.Fatalf("revocation: %d %s", rec.Code, rec.Body)
		}
		if h.accessLive(resp.AccessToken) {
			t.Fatal("the public client's access token survived the revocation of its refresh token")
		}
	})
}

// TestIntrospection states RFC 7662 as Latchkey serves it: only a
// confidential client introspects, and only its own live tokens are
// active; everything else is {"active":false}, so clients cannot probe
// one another's tokens.
func TestIntrospection(t *testing.T) {
	h := newHarness(t)
	g := h.grant(h.alice, "REPO_READ")
	t.Run("own live access token is active with what it is", func(t *testing.T) {
		got := h.introspect("conf", g.AccessToken)
		now := h.clock.Now()
		want := map[string]any{
			"active": true, "scope": "REPO_READ", "client_id": "conf", "username": "alice", "token_type": "bearer",
			"exp": float64(now.Add(DefaultAccessTokenTTL).Unix()), "iat": float64(now.Unix()),
			"sub": strconv.FormatInt(h.alice.ID, 10), "aud": "conf", "iss": testIssuer,
		}
		if len(got) != len(want) {
			t.Fatalf("introspection %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("introspection %v, want %s = %v", got, k, v)
			}
		}
	})
	t.Run("own live refresh token is active without token_type", func(t *testing.T) {
		got := h.introspect("conf", g.RefreshToken)
		if got["active"] != true || got["client_id"] != "conf" {
			t.Fatalf("introspection of a refresh token: %v", got)
		}
		if _, ok := got["token_type"]; ok {
			t.Fatalf("introspection of a refresh token names a token_type: %v", got)
		}
	})
	t.Run("another client's token is inactive", func(t *testing.T) { wantInactive(t, h, "other", g.AccessToken) })
	t.Run("unknown token is inactive", func(t *testing.T) { wantInactive(t, h, "conf", "lka_no-such-token") })
	t.Run("expired access token is inactive", func(t *testing.T) {
		h := newHarness(t)
		g := h.grant(h.alice, "REPO_READ")
		h.clock.Advance(DefaultAccessTokenTTL)
		wantInactive(t, h, "conf", g.AccessToken)
		if !h.active(g.RefreshToken) {
			t.Fatal("the refresh token died with its access token")
		}
	})
	t.Run("tokens of a past generation are inactive", func(t *testing.T) {
		h := newHarness(t)
		g := h.grant(h.alice, "REPO_READ")
		wantTokens(t, h.refresh(g.RefreshToken, ""))
		wantInactive(t, h, "conf", g.AccessToken)
		wantInactive(t, h, "conf", g.RefreshToken)
	})
	t.Run("token of a disabled user is inactive", func(t *testing.T) {
		h := newHarness(t)
		g := h.grant(h.alice, "REPO_READ")
		h.disable(h.alice)
		wantInactive(t, h, "conf", g.AccessToken)
	})
	t.Run("public client may not introspect: invalid_client", func(t *testing.T) {
		rec := h.post(h.p.IntrospectHandler(), url.Values{"token": {g.AccessToken}, "client_id": {"pub"}}, "")
		wantError(t, rec, http.StatusUnauthorized, CodeInvalidClient)
	})
	t.Run("missing token is invalid_request", func(t *testing.T) {
		wantError(t, h.post(h.p.IntrospectHandler(), url.Values{}, basicOf("conf")), http.StatusBadRequest, CodeInvalidRequest)
	})
}

// wantInactive fails unless introspection by id answers exactly
// {"active":false} for token.
func wantInactive(t *testing.T, h *harness, id, token string) {
	t.Helper()
	if got := h.introspect(id, token); len(got) != 1 || got["active"] != false {
		t.Fatalf("introspection %v, want exactly {\"active\":false}", got)
	}
}
