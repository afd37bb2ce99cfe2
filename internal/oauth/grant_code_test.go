package oauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"latchkey/internal/audit"
)

// The verifier and S256 challenge of RFC 7636 appendix B, and a plain
// verifier (43 unreserved characters).
const (
	rfcVerifier   = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfcChallenge  = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	plainVerifier = "plain-verifier-of-forty-three-characters-xy"
)

// Authorization requests the code cases start from.
var (
	confAuthorize = "response_type=code&client_id=conf&redirect_uri=" + url.QueryEscape(appURI) + "&scope=REPO_READ"
	pubAuthorize  = "response_type=code&client_id=pub&redirect_uri=" + url.QueryEscape(loopbackURI) + "&scope=REPO_READ"
)

// codeCase is one redemption of a fresh code (RFC 6749 §4.1.3, RFC 7636
// §4.6). The code is issued to alice (or to user) for the authorization
// request authorize; before runs between issuing and redeeming; exchange is
// the token request, in which "{code}" stands for the code.
type codeCase struct {
	name          string
	authorize     string
	disabledUser  bool
	before        func(h *harness)
	exchange      url.Values
	authorization string
	status        int
	code          string // empty: tokens with scope and, if refresh, a refresh token
	scope         string
	refresh       bool
}

func codeExchange(redirectURI string, extra ...string) url.Values {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"{code}"}}
	if redirectURI != "" {
		form.Set("redirect_uri", redirectURI)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return form
}

var codeCases = []codeCase{
	// What the tokens carry.
	{name: "confidential client redeems its code with the same redirect_uri", authorize: confAuthorize,
		exchange: codeExchange(appURI), authorization: basicOf("conf"), scope: "REPO_READ", refresh: true},
	{name: "request without scope gets the client's default scopes", authorize: "response_type=code&client_id=conf",
		exchange: codeExchange(""), authorization: basicOf("conf"), scope: "PUBLIC_REPOS", refresh: true},
	{name: "scope sent with the token request is ignored: the tokens carry the code's scopes", authorize: confAuthorize,
		exchange: codeExchange(appURI, "scope", "REPO_WRITE"), authorization: basicOf("conf"), scope: "REPO_READ", refresh: true},
	{name: "client not registered for refresh_token gets no refresh token", authorize: "response_type=code&client_id=codeonly&scope=REPO_READ",
		exchange: codeExchange(""), authorization: basicOf("codeonly"), scope: "REPO_READ"},

	// Client binding.
	{name: "code of another client is invalid_grant", authorize: confAuthorize,
		exchange: codeExchange(otherURI), authorization: basicOf("other"), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "code of a confidential client redeemed by a public client is invalid_grant", authorize: confAuthorize,
		exchange: codeExchange(appURI, "client_id", "pub"), status: http.StatusBadRequest, code: CodeInvalidGrant},

	// Redirect URI binding.
	{name: "redirect_uri differing from the authorization request is invalid_grant", authorize: confAuthorize,
		exchange: codeExchange("https://app.example.com/other"), authorization: basicOf("conf"), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "redirect_uri omitted though the authorization request sent it is invalid_grant", authorize: confAuthorize,
		exchange: codeExchange(""), authorization: basicOf("conf"), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "redirect_uri omitted at both steps is accepted", authorize: "response_type=code&client_id=conf&scope=REPO_READ",
		exchange: codeExchange(""), authorization: basicOf("conf"), scope: "REPO_READ", refresh: true},
	{name: "redirect_uri sent only with the token request is accepted when it is where the code went",
		authorize: "response_type=code&client_id=conf&scope=REPO_READ", exchange: codeExchange(appURI), authorization: basicOf("conf"),
		scope: "REPO_READ", refresh: true},
	{name: "redirect_uri sent only with the token request and elsewhere is invalid_grant",
		authorize: "response_type=code&client_id=conf&scope=REPO_READ", exchange: codeExchange(otherURI), authorization: basicOf("conf"),
		status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "loopback code is redeemed with the port the authorization request used",
		authorize: "response_type=code&client_id=pub&redirect_uri=" + url.QueryEscape("http://127.0.0.1:5123/callback") + "&code_challenge=" + rfcChallenge + "&code_challenge_method=S256",
		exchange:  codeExchange("http://127.0.0.1:5123/callback", "client_id", "pub", "code_verifier", rfcVerifier), scope: "PUBLIC_REPOS", refresh: true},
	{name: "loopback code redeemed with the registered port instead of the used one is invalid_grant",
		authorize: "response_type=code&client_id=pub&redirect_uri=" + url.QueryEscape("http://127.0.0.1:5123/callback") + "&code_challenge=" + rfcChallenge + "&code_challenge_method=S256",
		exchange:  codeExchange(loopbackURI, "client_id", "pub", "code_verifier", rfcVerifier), status: http.StatusBadRequest, code: CodeInvalidGrant},

	// PKCE binding.
	{name: "S256 verifier that matches is accepted (RFC 7636 appendix B)", authorize: pubAuthorize + "&code_challenge=" + rfcChallenge + "&code_challenge_method=S256",
		exchange: codeExchange(loopbackURI, "client_id", "pub", "code_verifier", rfcVerifier), scope: "REPO_READ", refresh: true},
	{name: "missing code_verifier for a challenged code is invalid_grant", authorize: pubAuthorize + "&code_challenge=" + rfcChallenge + "&code_challenge_method=S256",
		exchange: codeExchange(loopbackURI, "client_id", "pub"), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "wrong code_verifier is invalid_grant", authorize: pubAuthorize + "&code_challenge=" + rfcChallenge + "&code_challenge_method=S256",
		exchange: codeExchange(loopbackURI, "client_id", "pub", "code_verifier", plainVerifier), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "the S256 challenge itself as code_verifier is invalid_grant", authorize: pubAuthorize + "&code_challenge=" + rfcChallenge + "&code_challenge_method=S256",
		exchange: codeExchange(loopbackURI, "client_id", "pub", "code_verifier", rfcChallenge), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "s256 spelling at authorization is verified as S256", authorize: pubAuthorize + "&code_challenge=" + rfcChallenge + "&code_challenge_method=s256",
		exchange: codeExchange(loopbackURI, "client_id", "pub", "code_verifier", rfcVerifier), scope: "REPO_READ", refresh: true},
	{name: "sha256 spelling at authorization is verified as S256", authorize: pubAuthorize + "&code_challenge=" + rfcChallenge + "&code_challenge_method=sha256",
		exchange: codeExchange(loopbackURI, "client_id", "pub", "code_verifier", rfcVerifier), scope: "REPO_READ", refresh: true},
	{name: "plain challenge is matched by the same verifier", authorize: pubAuthorize + "&code_challenge=" + plainVerifier + "&code_challenge_method=plain",
		exchange: codeExchange(loopbackURI, "client_id", "pub", "code_verifier", plainVerifier), scope: "REPO_READ", refresh: true},
	{name: "challenge without method is plain (RFC 7636 §4.3)", authorize: pubAuthorize + "&code_challenge=" + plainVerifier,
		exchange: codeExchange(loopbackURI, "client_id", "pub", "code_verifier", plainVerifier), scope: "REPO_READ", refresh: true},
	{name: "plain challenge with another verifier is invalid_grant", authorize: pubAuthorize + "&code_challenge=" + plainVerifier + "&code_challenge_method=plain",
		exchange: codeExchange(loopbackURI, "client_id", "pub", "code_verifier", rfcVerifier), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "code_verifier of 42 characters is invalid_grant even if it hashes right", authorize: pubAuthorize + "&code_challenge=" + S256Challenge(rfcVerifier[:42]) + "&code_challenge_method=S256",
		exchange: codeExchange(loopbackURI, "client_id", "pub", "code_verifier", rfcVerifier[:42]), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "code_verifier for a code issued without challenge is invalid_grant (PKCE downgrade)", authorize: confAuthorize,
		exchange: codeExchange(appURI, "code_verifier", rfcVerifier), authorization: basicOf("conf"), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "confidential client may use PKCE too", authorize: confAuthorize + "&code_challenge=" + rfcChallenge + "&code_challenge_method=S256",
		exchange: codeExchange(appURI, "code_verifier", rfcVerifier), authorization: basicOf("conf"), scope: "REPO_READ", refresh: true},
	{name: "confidential client's challenged code without verifier is invalid_grant", authorize: confAuthorize + "&code_challenge=" + rfcChallenge + "&code_challenge_method=S256",
		exchange: codeExchange(appURI), authorization: basicOf("conf"), status: http.StatusBadRequest, code: CodeInvalidGrant},

	// Lifetime, user and the code itself.
	{name: "code one second before its expiry is redeemed", authorize: confAuthorize, before: func(h *harness) { h.clock.Advance(DefaultCodeTTL - time.Second) },
		exchange: codeExchange(appURI), authorization: basicOf("conf"), scope: "REPO_READ", refresh: true},
	{name: "code at its expiry is invalid_grant", authorize: confAuthorize, before: func(h *harness) { h.clock.Advance(DefaultCodeTTL) },
		exchange: codeExchange(appURI), authorization: basicOf("conf"), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "code of a user disabled since is invalid_grant", authorize: confAuthorize, before: func(h *harness) { h.disable(h.alice) },
		exchange: codeExchange(appURI), authorization: basicOf("conf"), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "code issued to a disabled user is invalid_grant", authorize: confAuthorize, disabledUser: true,
		exchange: codeExchange(appURI), authorization: basicOf("conf"), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "unknown code is invalid_grant", authorize: confAuthorize,
		exchange: codeExchange(appURI, "code", "lkc_no-such-code"), authorization: basicOf("conf"), status: http.StatusBadRequest, code: CodeInvalidGrant},
	{name: "missing code is invalid_request", authorize: confAuthorize,
		exchange: url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {appURI}}, authorization: basicOf("conf"),
		status: http.StatusBadRequest, code: CodeInvalidRequest},
}

// TestAuthorizationCodeGrant redeems a fresh code per case.
func TestAuthorizationCodeGrant(t *testing.T) {
	base := newHarness(t)
	for _, c := range codeCases {
		t.Run(c.name, func(t *testing.T) {
			h := base.sub(t)
			user := h.alice
			if c.disabledUser {
				user = h.dora
			}
			code := h.code(user, c.authorize)
			if c.before != nil {
				c.before(h)
			}
			form := url.Values{}
			for k, v := range c.exchange {
				form[k] = slices.Clone(v)
			}
			if form.Get("code") == "{code}" {
				form.Set("code", code)
			}
			rec := h.token(form, c.authorization)
			if c.code != "" {
				wantError(t, rec, c.status, c.code)
				return
			}
			resp := wantTokens(t, rec)
			if resp.Scope != c.scope || (resp.RefreshToken != "") != c.refresh {
				t.Fatalf("scope %q, refresh token %q; want scope %q, refresh token: %v", resp.Scope, resp.RefreshToken, c.scope, c.refresh)
			}
			if !h.accessLive(resp.AccessToken) {
				t.Fatal("the issued access token is refused by the bearer check")
			}
		})
	}
}

// TestCodeReuseRevokesItsTokens states RFC 6749 §4.1.2 and RFC 9700
// §4.2.4: a second redemption fails and revokes every token issued from the
// first, and the reuse is audited.
func TestCodeReuseRevokesItsTokens(t *testing.T) {
	h := newHarness(t)
	code := h.code(h.alice, confAuthorize)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appURI}}
	first := wantTokens(t, h.token(form, basicOf("conf")))
	if !h.accessLive(first.AccessToken) || !h.active(first.RefreshToken) {
		t.Fatal("the first redemption's tokens are not live")
	}
	wantError(t, h.token(form, basicOf("conf")), http.StatusBadRequest, CodeInvalidGrant)
	if h.accessLive(first.AccessToken) {
		t.Error("the first redemption's access token still works after the code was reused")
	}
	if h.active(first.RefreshToken) {
		t.Error("the first redemption's refresh token is still active after the code was reused")
	}
	wantError(t, h.refresh(first.RefreshToken, ""), http.StatusBadRequest, CodeInvalidGrant)
	h.wantAudit(audit.CodeReused, "conf")
}

// TestRefusedCodeIsBurned states that a redemption refused for a broken
// binding still uses the code up (store.RedeemAuthCode): a thief who
// guesses wrong cannot retry, and neither can the client afterwards.
func TestRefusedCodeIsBurned(t *testing.T) {
	h := newHarness(t)
	code := h.code(h.alice, pubAuthorize+"&code_challenge="+rfcChallenge+"&code_challenge_method=S256")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {loopbackURI}, "client_id": {"pub"}}
	form.Set("code_verifier", plainVerifier)
	wantError(t, h.token(form, ""), http.StatusBadRequest, CodeInvalidGrant)
	form.Set("code_verifier", rfcVerifier)
	wantError(t, h.token(form, ""), http.StatusBadRequest, CodeInvalidGrant)
}

// TestTokenIsNotACode states that a refresh or access token presented as
// an authorization code is unknown: each kind of secret is looked up only
// where it belongs.
func TestTokenIsNotACode(t *testing.T) {
	h := newHarness(t)
	g := h.grant(h.alice, "REPO_READ")
	for name, tok := range map[string]string{"refresh token": g.RefreshToken, "access token": g.AccessToken} {
		t.Run(name+" presented as a code is invalid_grant", func(t *testing.T) {
			rec := h.token(url.Values{"grant_type": {"authorization_code"}, "code": {tok}, "redirect_uri": {appURI}}, basicOf("conf"))
			wantError(t, rec, http.StatusBadRequest, CodeInvalidGrant)
		})
	}
	if !h.accessLive(g.AccessToken) || !h.active(g.RefreshToken) {
		t.Fatal("presenting tokens as codes harmed the grant")
	}
}

// TestCodeGrantIDToken states that a code with openid gets an ID token
// bound to the code's nonce, user and sign-in time (OpenID Connect Core
// §3.1.3.3), and that a code without openid gets none.
func TestCodeGrantIDToken(t *testing.T) {
	h := newHarness(t)
	code := h.code(h.alice, "response_type=code&client_id=conf&scope=openid+REPO_READ&nonce=n-0S6_WzA2Mj")
	resp := wantTokens(t, h.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}}, basicOf("conf")))
	if resp.IDToken != "id-token-conf" || len(h.idTokens.requests) != 1 {
		t.Fatalf("id_token %q after %d requests, want one ID token", resp.IDToken, len(h.idTokens.requests))
	}
	got := h.idTokens.requests[0]
	want := IDTokenRequest{ClientID: "conf", UserID: h.alice.ID, Scopes: got.Scopes, AuthTime: h.clock.Now().Add(-time.Minute),
		Nonce: "n-0S6_WzA2Mj", AccessToken: resp.AccessToken}
	if got.Scopes.String() != "REPO_READ openid" || !got.AuthTime.Equal(want.AuthTime) {
		t.Fatalf("ID token request %+v, want scopes \"REPO_READ openid\" and auth time %v", got, want.AuthTime)
	}
	got.AuthTime = want.AuthTime
	if !equalIDTokenRequests(got, want) {
		t.Fatalf("ID token request %+v, want %+v", got, want)
	}

	t.Run("refresh issues an ID token without the nonce (OpenID Connect Core §12.2)", func(t *testing.T) {
		next := wantTokens(t, h.refresh(resp.RefreshToken, ""))
		last := h.idTokens.requests[len(h.idTokens.requests)-1]
		if next.IDToken == "" || last.Nonce != "" || last.UserID != h.alice.ID || last.AccessToken != next.AccessToken {
			t.Fatalf("refresh id_token %q from request %+v", next.IDToken, last)
		}
	})
	t.Run("code without openid gets no ID token", func(t *testing.T) {
		before := len(h.idTokens.requests)
		g := h.grant(h.alice, "REPO_READ")
		if g.IDToken != "" || len(h.idTokens.requests) != before {
			t.Fatalf("id_token %q for a grant without openid", g.IDToken)
		}
	})
}

func equalIDTokenRequests(a, b IDTokenRequest) bool {
	return a.ClientID == b.ClientID && a.UserID == b.UserID && a.Scopes.String() == b.Scopes.String() &&
		a.AuthTime.Equal(b.AuthTime) && a.Nonce == b.Nonce && a.AccessToken == b.AccessToken
}

// TestAnotherClientsReplayLeavesTheGrantAlone states the client binding
// of codes and refresh tokens, checked before reuse detection: another
// client that presents the victim's code or refresh token, unused, used or
// rotated, gets invalid_grant and changes nothing: the code is not burned,
// the victim's tokens keep working, and no reuse is recorded.
func TestAnotherClientsReplayLeavesTheGrantAlone(t *testing.T) {
	h := newHarness(t)
	code := h.code(h.alice, confAuthorize)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appURI}}
	wantError(t, h.token(form, basicOf("other")), http.StatusBadRequest, CodeInvalidGrant)
	victim := wantTokens(t, h.token(form, basicOf("conf"))) // the code was not burned
	stillWorks := func(what string, g TokenResponse) {
		t.Helper()
		if !h.accessLive(g.AccessToken) || !h.active(g.RefreshToken) {
			t.Fatalf("after %s, the victim's tokens no longer work", what)
		}
		if e := h.lastAudit(); e.Event == audit.CodeReused || e.Event == audit.RefreshReused {
			t.Fatalf("after %s, the audit trail records %q", what, e.Event)
		}
	}
	wantError(t, h.token(form, basicOf("other")), http.StatusBadRequest, CodeInvalidGrant)
	stillWorks("another client replayed the used code", victim)

	refreshBy := func(id, refresh string) *httptest.ResponseRecorder {
		return h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, basicOf(id))
	}
	wantError(t, refreshBy("other", victim.RefreshToken), http.StatusBadRequest, CodeInvalidGrant)
	stillWorks("another client presented the current refresh token", victim)
	next := wantTokens(t, refreshBy("conf", victim.RefreshToken))
	wantError(t, refreshBy("other", victim.RefreshToken), http.StatusBadRequest, CodeInvalidGrant)
	stillWorks("another client replayed the rotated refresh token", next)
	wantTokens(t, refreshBy("conf", next.RefreshToken))
}
