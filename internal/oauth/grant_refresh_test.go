package oauth

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"latchkey/internal/audit"
)

// refreshCase is one refresh request against a fresh grant of conf for
// alice with scope REPO_WRITE (RFC 6749 §6, RFC 9700 §4.14). before runs
// first and may use the grant up; request builds the token request; check
// runs after, with the grant and the answer's tokens (if any).
type refreshCase struct {
	name    string
	before  func(h *harness, g TokenResponse)
	request func(g TokenResponse) (url.Values, string)
	status  int
	code    string // empty: new tokens with scope
	scope   string
	check   func(t *testing.T, h *harness, g, next TokenResponse)
}

// refreshBy is a refresh request for the grant's refresh token by the
// fixture client id, narrowed to scopes unless empty.
func refreshBy(id, scopes string) func(g TokenResponse) (url.Values, string) {
	return func(g TokenResponse) (url.Values, string) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.RefreshToken}}
		if scopes != "" {
			form.Set("scope", scopes)
		}
		return form, basicOf(id)
	}
}

var refreshCases = []refreshCase{
	{name: "refresh rotates both tokens and the old ones stop working at once", request: refreshBy("conf", ""), scope: "REPO_WRITE",
		check: func(t *testing.T, h *harness, g, next TokenResponse) {
			if next.AccessToken == g.AccessToken || next.RefreshToken == "" || next.RefreshToken == g.RefreshToken {
				t.Fatal("refresh did not rotate both tokens")
			}
			if h.accessLive(g.AccessToken) || h.active(g.RefreshToken) {
				t.Error("the tokens of the previous generation still work")
			}
			if !h.accessLive(next.AccessToken) || !h.active(next.RefreshToken) {
				t.Error("the new tokens do not work")
			}
		}},
	{name: "refresh works after the access token expired", before: func(h *harness, _ TokenResponse) { h.clock.Advance(2 * time.Hour) },
		request: refreshBy("conf", ""), scope: "REPO_WRITE"},
	{name: "refresh one second before the refresh token expires works", before: func(h *harness, _ TokenResponse) { h.clock.Advance(DefaultRefreshTokenTTL - time.Second) },
		request: refreshBy("conf", ""), scope: "REPO_WRITE"},
	{name: "refresh token at its expiry is invalid_grant", before: func(h *harness, _ TokenResponse) { h.clock.Advance(DefaultRefreshTokenTTL) },
		request: refreshBy("conf", ""), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "rotated refresh token presented again is invalid_grant and audited",
		before:  func(h *harness, g TokenResponse) { wantTokens(h.t, h.refresh(g.RefreshToken, "")) },
		request: refreshBy("conf", ""), status: http.StatusBadRequest, code: CodeInvalidGrant,
		check: func(t *testing.T, h *harness, g, _ TokenResponse) {
			h.wantAudit(audit.RefreshReused, "conf")
		}},

	// Scope (RFC 6749 §6: never beyond what was granted).
	{name: "omitted scope keeps the current scope", request: refreshBy("conf", ""), scope: "REPO_WRITE"},
	{name: "scope may narrow", request: refreshBy("conf", "REPO_READ"), scope: "REPO_READ"},
	{name: "scope may narrow to several scopes the current one implies", request: refreshBy("conf", "PUBLIC_REPOS REPO_READ"), scope: "PUBLIC_REPOS REPO_READ"},
	{name: "the same scope again is allowed", request: refreshBy("conf", "REPO_WRITE"), scope: "REPO_WRITE"},
	{name: "scope widening is invalid_scope", request: refreshBy("conf", "REPO_ADMIN"), status: http.StatusBadRequest, code: CodeInvalidScope},
	{name: "adding a scope not granted is invalid_scope", request: refreshBy("conf", "REPO_WRITE openid"), status: http.StatusBadRequest, code: CodeInvalidScope},
	{name: "unknown scope is invalid_scope", request: refreshBy("conf", "REPO_READ NO_SUCH_SCOPE"), status: http.StatusBadRequest, code: CodeInvalidScope},
	{name: "a refused widening leaves the refresh token usable", before: func(h *harness, g TokenResponse) {
		wantError(h.t, h.refresh(g.RefreshToken, "REPO_ADMIN"), http.StatusBadRequest, CodeInvalidScope)
	}, request: refreshBy("conf", ""), scope: "REPO_WRITE"},

	// Bindings.
	{name: "refresh token of another client is invalid_grant", request: refreshBy("other", ""), status: http.StatusBadRequest, code: CodeInvalidGrant,
		check: func(t *testing.T, h *harness, g, _ TokenResponse) {
			if !h.active(g.RefreshToken) {
				t.Error("another client's attempt revoked or rotated the grant")
			}
		}},
	{name: "access token presented as a refresh token is invalid_grant", request: func(g TokenResponse) (url.Values, string) {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.AccessToken}}, basicOf("conf")
	}, status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "unknown refresh token is invalid_grant", request: func(TokenResponse) (url.Values, string) {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"lkr_no-such-token"}}, basicOf("conf")
	}, status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "missing refresh_token is invalid_request", request: func(TokenResponse) (url.Values, string) {
		return url.Values{"grant_type": {"refresh_token"}}, basicOf("conf")
	}, status: http.StatusBadRequest, code: CodeInvalidRequest},
	{name: "refresh token of a revoked grant is invalid_grant", before: func(h *harness, g TokenResponse) {
		if rec := h.post(h.p.RevokeHandler(), url.Values{"token": {g.AccessToken}}, basicOf("conf")); rec.Code != http.StatusOK {
			h.t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
		}
	}, request: refreshBy("conf", ""), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "refresh for a user disabled since is invalid_grant", before: func(h *harness, _ TokenResponse) { h.disable(h.alice) },
		request: refreshBy("conf", ""), status: http.StatusBadRequest, code: CodeInvalidGrant},
}

// TestRefreshTokenGrant runs each case on a grant of its own.
func TestRefreshTokenGrant(t *testing.T) {
	base := newHarness(t)
	for _, c := range refreshCases {
		t.Run(c.name, func(t *testing.T) {
			h := base.sub(t)
			g := h.grant(h.alice, "REPO_WRITE")
			if c.before != nil {
				c.before(h, g)
			}
			form, authorization := c.request(g)
			rec := h.token(form, authorization)
			var next TokenResponse
			if c.code != "" {
				wantError(t, rec, c.status, c.code)
			} else {
				next = wantTokens(t, rec)
				if next.Scope != c.scope || next.RefreshToken == "" {
					t.Fatalf("scope %q, refresh token %q; want scope %q and a refresh token", next.Scope, next.RefreshToken, c.scope)
				}
			}
			if c.check != nil {
				c.check(t, h, g, next)
			}
		})
	}
}

// TestRefreshReuseRevokesTheNewestTokens states RFC 9700 §4.14.2: when a
// rotated refresh token comes back, every token of its grant dies,
// including the newest generation that the legitimate client holds.
func TestRefreshReuseRevokesTheNewestTokens(t *testing.T) {
	h := newHarness(t)
	g := h.grant(h.alice, "REPO_READ")
	next := wantTokens(t, h.refresh(g.RefreshToken, ""))
	wantError(t, h.refresh(g.RefreshToken, ""), http.StatusBadRequest, CodeInvalidGrant)
	if h.accessLive(next.AccessToken) {
		t.Error("the newest access token still works after reuse")
	}
	wantError(t, h.refresh(next.RefreshToken, ""), http.StatusBadRequest, CodeInvalidGrant)
}

// TestRefreshNarrowingIsKept states that a narrowed grant stays narrow: the
// scope a refresh may ask for is that of the refresh token presented, not
// that of the first authorization. (This is stricter than RFC 6749 §6,
// which measures against the scope "originally granted", and is what the
// HTTP suite expects too.)
func TestRefreshNarrowingIsKept(t *testing.T) {
	h := newHarness(t)
	g := h.grant(h.alice, "REPO_WRITE")
	narrow := wantTokens(t, h.refresh(g.RefreshToken, "REPO_READ"))
	wantError(t, h.refresh(narrow.RefreshToken, "REPO_WRITE"), http.StatusBadRequest, CodeInvalidScope)
	again := wantTokens(t, h.refresh(narrow.RefreshToken, ""))
	if again.Scope != "REPO_READ" {
		t.Fatalf("refresh without scope after narrowing gave %q, want REPO_READ", again.Scope)
	}
}
