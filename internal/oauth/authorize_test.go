package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"latchkey/internal/store"
)

// authorizeCase is one authorization request (RFC 6749 §4.1.1). Exactly
// one outcome is set: page (an HTML page, never a redirect, while the
// client or redirect URI is not trusted); code with to and state (an error
// sent back to the trusted redirect URI to, echoing state); or accept
// (the request is valid, and accept checks what it was read as).
type authorizeCase struct {
	name   string
	query  string
	page   bool
	code   string
	to     string
	state  string
	accept func(t *testing.T, req *AuthRequest)
}

func esc(s string) string { return url.QueryEscape(s) }

const challengeS256 = "&code_challenge=" + rfcChallenge + "&code_challenge_method=S256"

var authorizeCases = []authorizeCase{
	// Not yet trusted: a page, whatever else is wrong.
	{name: "missing client_id shows a page", query: "response_type=code&redirect_uri=" + esc(appURI) + "&state=s1", page: true},
	{name: "unknown client_id shows a page", query: "response_type=code&client_id=no-such-client&redirect_uri=" + esc(appURI) + "&state=s1", page: true},
	{name: "unknown client_id shows a page even when response_type is wrong too", query: "response_type=token&client_id=no-such-client&redirect_uri=" + esc(appURI), page: true},
	{name: "suspended client shows a page", query: "response_type=code&client_id=susp&redirect_uri=" + esc(appURI) + "&state=s1", page: true},
	{name: "unregistered redirect_uri shows a page", query: "response_type=code&client_id=conf&redirect_uri=" + esc("https://evil.example.net/cb") + "&state=s1", page: true},
	{name: "unregistered redirect_uri shows a page even when response_type is wrong too", query: "response_type=token&client_id=conf&redirect_uri=" + esc("https://evil.example.net/cb"), page: true},
	{name: "redirect_uri of another client shows a page", query: "response_type=code&client_id=conf&redirect_uri=" + esc(otherURI), page: true},
	{name: "redirect_uri with a trailing slash shows a page", query: "response_type=code&client_id=conf&redirect_uri=" + esc(appURI+"/"), page: true},
	{name: "redirect_uri with an extra query shows a page", query: "response_type=code&client_id=conf&redirect_uri=" + esc(appURI+"?next=x"), page: true},
	{name: "redirect_uri with upper-case host shows a page", query: "response_type=code&client_id=conf&redirect_uri=" + esc("https://APP.example.com/cb"), page: true},
	{name: "redirect_uri with http instead of https shows a page", query: "response_type=code&client_id=conf&redirect_uri=" + esc("http://app.example.com/cb"), page: true},
	{name: "non-loopback redirect_uri with another port shows a page", query: "response_type=code&client_id=multi&redirect_uri=" + esc("https://app.example.com:9444/cb"), page: true},
	{name: "missing redirect_uri with several registered shows a page", query: "response_type=code&client_id=multi&state=s1", page: true},
	{name: "loopback redirect_uri with another path shows a page", query: "response_type=code&client_id=pub&redirect_uri=" + esc("http://127.0.0.1:5000/other") + challengeS256, page: true},
	{name: "localhost in place of a registered 127.0.0.1 shows a page", query: "response_type=code&client_id=pub&redirect_uri=" + esc("http://localhost:9999/callback") + challengeS256, page: true},
	{name: "[::1] in place of a registered 127.0.0.1 shows a page", query: "response_type=code&client_id=pub&redirect_uri=" + esc("http://[::1]:9999/callback") + challengeS256, page: true},
	{name: "loopback redirect_uri with https instead of http shows a page", query: "response_type=code&client_id=pub&redirect_uri=" + esc("https://127.0.0.1:9999/callback") + challengeS256, page: true},
	{name: "loopback redirect_uri with user info shows a page", query: "response_type=code&client_id=pub&redirect_uri=" + esc("http://evil.example.net@127.0.0.1:9999/callback") + challengeS256, page: true},

	// Trusted: an error redirect with state.
	{name: "response_type=token redirects unsupported_response_type", query: "response_type=token&client_id=conf&redirect_uri=" + esc(appURI) + "&state=s2",
		code: CodeUnsupportedResponseType, to: appURI, state: "s2"},
	{name: "response_type=code token redirects unsupported_response_type", query: "response_type=code+token&client_id=conf&redirect_uri=" + esc(appURI) + "&state=s2",
		code: CodeUnsupportedResponseType, to: appURI, state: "s2"},
	{name: "missing response_type redirects invalid_request", query: "client_id=conf&redirect_uri=" + esc(appURI) + "&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "client not registered for the code grant redirects unauthorized_client", query: "response_type=code&client_id=robot&redirect_uri=" + esc(ciURI) + "&state=s2",
		code: CodeUnauthorizedClient, to: ciURI, state: "s2"},
	{name: "unknown scope redirects invalid_scope", query: "response_type=code&client_id=conf&scope=REPO_READ+NO_SUCH_SCOPE&state=s2",
		code: CodeInvalidScope, to: appURI, state: "s2"},
	{name: "scope beyond the client's registration redirects invalid_scope", query: "response_type=code&client_id=conf&scope=REPO_ADMIN&state=s2",
		code: CodeInvalidScope, to: appURI, state: "s2"},
	{name: "public client without code_challenge redirects invalid_request", query: "response_type=code&client_id=pub&redirect_uri=" + esc(loopbackURI) + "&state=s2",
		code: CodeInvalidRequest, to: loopbackURI, state: "s2"},
	{name: "PKCE-required confidential client without code_challenge redirects invalid_request", query: "response_type=code&client_id=strict&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "code_challenge_method without code_challenge redirects invalid_request", query: "response_type=code&client_id=conf&code_challenge_method=S256&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "unsupported code_challenge_method redirects invalid_request", query: "response_type=code&client_id=conf&code_challenge=" + rfcChallenge + "&code_challenge_method=S512&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "S256 challenge that is not 43 base64url characters redirects invalid_request", query: "response_type=code&client_id=conf&code_challenge=" + rfcChallenge[:42] + "&code_challenge_method=S256&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "plain challenge of 42 characters redirects invalid_request", query: "response_type=code&client_id=conf&code_challenge=" + plainVerifier[:42] + "&code_challenge_method=plain&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "unknown prompt value redirects invalid_request", query: "response_type=code&client_id=conf&prompt=sometimes&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "prompt=none with login redirects invalid_request", query: "response_type=code&client_id=conf&prompt=none+login&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "negative max_age redirects invalid_request", query: "response_type=code&client_id=conf&max_age=-1&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "nonce over 512 characters redirects invalid_request", query: "response_type=code&client_id=conf&state=s2&nonce=" + strings.Repeat("n", 513),
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "state over 2048 characters redirects invalid_request without it", query: "response_type=code&client_id=conf&state=" + strings.Repeat("s", 2049),
		code: CodeInvalidRequest, to: appURI, state: ""},
	{name: "a request object redirects request_not_supported", query: "response_type=code&client_id=conf&scope=REPO_READ&request=eyJhbGciOiJub25lIn0.eyJzY29wZSI6IlJFUE9fQURNSU4ifQ.&state=s2",
		code: CodeRequestNotSupported, to: appURI, state: "s2"},
	{name: "a request_uri redirects request_uri_not_supported", query: "response_type=code&client_id=conf&request_uri=" + esc("https://app.example.com/req.jwt") + "&state=s2",
		code: CodeRequestURINotSupported, to: appURI, state: "s2"},
	{name: "a registration parameter redirects registration_not_supported", query: "response_type=code&client_id=conf&registration=" + esc(`{"logo_uri":"x"}`) + "&state=s2",
		code: CodeRegistrationNotSupported, to: appURI, state: "s2"},
	{name: "response_mode=form_post redirects invalid_request", query: "response_type=code&client_id=conf&response_mode=form_post&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "response_mode=fragment redirects invalid_request", query: "response_type=code&client_id=conf&response_mode=fragment&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "an unknown response_mode redirects invalid_request", query: "response_type=code&client_id=conf&response_mode=web_message&state=s2",
		code: CodeInvalidRequest, to: appURI, state: "s2"},
	{name: "a request object with an untrusted redirect_uri still shows a page", query: "response_type=code&client_id=conf&request=x.y.&redirect_uri=" + esc("https://evil.example.net/cb"), page: true},
	{name: "error goes to the one registered redirect_uri when the request omits it", query: "response_type=token&client_id=conf&state=s2",
		code: CodeUnsupportedResponseType, to: appURI, state: "s2"},
	{name: "error goes to the registered URI the request named, query included", query: "response_type=token&client_id=multi&redirect_uri=" + esc(tenantURI) + "&state=s2",
		code: CodeUnsupportedResponseType, to: tenantURI, state: "s2"},
	{name: "loopback error goes to the port the request named (RFC 8252 §7.3)", query: "response_type=code&client_id=pub&redirect_uri=" + esc("http://127.0.0.1:5123/callback") + "&state=s2",
		code: CodeInvalidRequest, to: "http://127.0.0.1:5123/callback", state: "s2"},

	// Accepted.
	{name: "confidential client without PKCE is accepted with the client's default scopes", query: "response_type=code&client_id=conf&state=s3",
		accept: func(t *testing.T, req *AuthRequest) {
			if req.Client.ID != "conf" || req.RedirectURI != appURI || req.RedirectURISent || req.State != "s3" ||
				req.Scopes.String() != "PUBLIC_REPOS" || req.CodeChallenge != "" || req.ChallengeMethod != "" || req.MaxAge >= 0 {
				t.Fatalf("request read as %+v", req)
			}
		}},
	{name: "loopback redirect_uri on another port is accepted and the code goes to that port",
		query: "response_type=code&client_id=pub&redirect_uri=" + esc("http://127.0.0.1:5123/callback") + challengeS256,
		accept: func(t *testing.T, req *AuthRequest) {
			if req.RedirectURI != "http://127.0.0.1:5123/callback" || !req.RedirectURISent {
				t.Fatalf("redirect URI %q (sent %v)", req.RedirectURI, req.RedirectURISent)
			}
		}},
	{name: "loopback redirect_uri without a port is accepted", query: "response_type=code&client_id=pub&redirect_uri=" + esc("http://127.0.0.1/callback") + challengeS256,
		accept: func(t *testing.T, req *AuthRequest) { wantRedirectURI(t, req, "http://127.0.0.1/callback") }},
	{name: "registered non-default port is matched exactly", query: "response_type=code&client_id=multi&redirect_uri=" + esc("https://app.example.com:9443/cb"),
		accept: func(t *testing.T, req *AuthRequest) { wantRedirectURI(t, req, "https://app.example.com:9443/cb") }},
	{name: "registered private-use scheme is matched exactly", query: "response_type=code&client_id=multi&redirect_uri=" + esc("com.example.app:/oauth"),
		accept: func(t *testing.T, req *AuthRequest) { wantRedirectURI(t, req, "com.example.app:/oauth") }},
	{name: "S256 challenge is kept with its method", query: "response_type=code&client_id=pub&redirect_uri=" + esc(loopbackURI) + challengeS256,
		accept: func(t *testing.T, req *AuthRequest) { wantChallenge(t, req, rfcChallenge, MethodS256) }},
	{name: "s256 spelling is read as S256 (Bitbucket clients)", query: "response_type=code&client_id=pub&code_challenge=" + rfcChallenge + "&code_challenge_method=s256",
		accept: func(t *testing.T, req *AuthRequest) { wantChallenge(t, req, rfcChallenge, MethodS256) }},
	{name: "sha256 spelling is read as S256 (Bitbucket's document)", query: "response_type=code&client_id=pub&code_challenge=" + rfcChallenge + "&code_challenge_method=sha256",
		accept: func(t *testing.T, req *AuthRequest) { wantChallenge(t, req, rfcChallenge, MethodS256) }},
	{name: "challenge without method is plain (RFC 7636 §4.3)", query: "response_type=code&client_id=pub&code_challenge=" + plainVerifier,
		accept: func(t *testing.T, req *AuthRequest) { wantChallenge(t, req, plainVerifier, MethodPlain) }},
	{name: "public client may use a plain challenge", query: "response_type=code&client_id=pub&code_challenge=" + plainVerifier + "&code_challenge_method=plain",
		accept: func(t *testing.T, req *AuthRequest) { wantChallenge(t, req, plainVerifier, MethodPlain) }},
	{name: "prompt=none alone is accepted and recorded for the pages to answer", query: "response_type=code&client_id=conf&prompt=none",
		accept: func(t *testing.T, req *AuthRequest) {
			if !req.HasPrompt(PromptNone) || len(req.Prompt) != 1 {
				t.Fatalf("prompt read as %v", req.Prompt)
			}
		}},
	{name: "scopes are read in canonical order with any letter case of Bitbucket keys", query: "response_type=code&client_id=conf&scope=openid+repo_read",
		accept: func(t *testing.T, req *AuthRequest) {
			if req.Scopes.String() != "REPO_READ openid" {
				t.Fatalf("scopes read as %q", req.Scopes)
			}
		}},
	{name: "response_mode=query is accepted", query: "response_type=code&client_id=conf&response_mode=query&state=s3",
		accept: func(t *testing.T, req *AuthRequest) { wantRedirectURI(t, req, appURI) }},
	{name: "max_age is read in seconds", query: "response_type=code&client_id=conf&max_age=300",
		accept: func(t *testing.T, req *AuthRequest) {
			if req.MaxAge != 5*time.Minute {
				t.Fatalf("max_age read as %v", req.MaxAge)
			}
		}},
}

func wantRedirectURI(t *testing.T, req *AuthRequest, uri string) {
	t.Helper()
	if req.RedirectURI != uri {
		t.Fatalf("redirect URI %q, want %q", req.RedirectURI, uri)
	}
}

func wantChallenge(t *testing.T, req *AuthRequest, challenge, method string) {
	t.Helper()
	if req.CodeChallenge != challenge || req.ChallengeMethod != method {
		t.Fatalf("challenge %q with method %q, want %q with %q", req.CodeChallenge, req.ChallengeMethod, challenge, method)
	}
}

// TestValidateAuthorize runs the table: pages are never redirects, and an
// error redirect goes to a trusted URI with the code, state and issuer.
func TestValidateAuthorize(t *testing.T) {
	h := newHarness(t)
	for _, c := range authorizeCases {
		t.Run(c.name, func(t *testing.T) {
			req, err := h.authorize(c.query)
			var pageErr *PageError
			var redirErr *RedirectError
			switch {
			case c.page:
				if !errors.As(err, &pageErr) || errors.As(err, &redirErr) || req != nil {
					t.Fatalf("got %v (%T), want a page", err, err)
				}
				if pageErr.Status != http.StatusBadRequest || pageErr.Message == "" {
					t.Fatalf("page %+v, want 400 with a message", pageErr)
				}
			case c.code != "":
				if !errors.As(err, &redirErr) || req != nil {
					t.Fatalf("got %v (%T), want an error redirect", err, err)
				}
				if redirErr.Err.Code != c.code || redirErr.Err.Status != http.StatusBadRequest || redirErr.RedirectURI != c.to || redirErr.State != c.state {
					t.Fatalf("error redirect %s to %q with state %q, want %s to %q with state %q",
						redirErr.Err.Code, redirErr.RedirectURI, redirErr.State, c.code, c.to, c.state)
				}
				wantErrorRedirect(t, h.p.ErrorRedirectURL(redirErr), c.to, c.code, c.state)
			default:
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				c.accept(t, req)
			}
		})
	}
}

// wantErrorRedirect checks an error redirect URL (RFC 6749 §4.1.2.1, RFC
// 9207): the trusted URI with its own query, plus error,
// error_description, iss and state (only when the request had one).
func wantErrorRedirect(t *testing.T, raw, to, code, state string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("error redirect %q: %v", raw, err)
	}
	q := u.Query()
	if q.Get("error") != code || q.Get("error_description") == "" || q.Get("iss") != testIssuer || q.Get("state") != state || q.Has("state") != (state != "") {
		t.Fatalf("error redirect %q, want error %s, a description, iss %s and state %q", raw, code, testIssuer, state)
	}
	wantTarget(t, raw, to, "error", "error_description", "iss", "state")
}

// wantTarget fails unless raw is the URI to with the response parameters
// added to its query (RFC 6749 §3.1.2 keeps the registered query).
func wantTarget(t *testing.T, raw, to string, added ...string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("redirect %q: %v", raw, err)
	}
	q := u.Query()
	for _, k := range added {
		q.Del(k)
	}
	u.RawQuery = q.Encode()
	base, _ := url.Parse(to)
	base.RawQuery = base.Query().Encode()
	if u.String() != base.String() {
		t.Fatalf("redirect %q leads to %q, want %q", raw, u, base)
	}
}

// TestIssueCodeRedirect states the authorization response (RFC 6749
// §4.1.2, RFC 9207): the trusted URI with its own query, plus code, state
// and iss.
func TestIssueCodeRedirect(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		name, query, to, state string
	}{
		{"code goes to the registered URI with state and iss", "response_type=code&client_id=conf&state=xyz", appURI, "xyz"},
		{"code keeps the registered query", "response_type=code&client_id=multi&redirect_uri=" + esc(tenantURI), tenantURI, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := h.authorize(c.query)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := h.p.IssueCode(context.Background(), req, h.alice.ID, h.clock.Now(), store.SignIn{})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(raw)
			q := u.Query()
			if !strings.HasPrefix(q.Get("code"), "lkc_") || q.Get("iss") != testIssuer || q.Get("state") != c.state || q.Has("state") != (c.state != "") {
				t.Fatalf("authorization response %q", raw)
			}
			wantTarget(t, raw, c.to, "code", "iss", "state")
		})
	}
}

// TestNeedsLoginAndConsent states when the pages must ask the person again:
// prompt=login and max_age force a sign-in, prompt=consent and scopes
// beyond the remembered consent force the consent page.
func TestNeedsLoginAndConsent(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	now := h.clock.Now()
	read := func(query string) *AuthRequest {
		t.Helper()
		req, err := h.authorize(query)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	plain := read("response_type=code&client_id=conf&scope=REPO_READ")
	for _, c := range []struct {
		name     string
		req      *AuthRequest
		signedIn bool
		authTime time.Time
		want     bool
	}{
		{"no session needs login", plain, false, time.Time{}, true},
		{"a session suffices", plain, true, now.Add(-24 * time.Hour), false},
		{"prompt=login needs login despite a session", read("response_type=code&client_id=conf&prompt=login"), true, now, true},
		{"a sign-in older than max_age needs login", read("response_type=code&client_id=conf&max_age=60"), true, now.Add(-61 * time.Second), true},
		{"a sign-in within max_age suffices", read("response_type=code&client_id=conf&max_age=60"), true, now.Add(-60 * time.Second), false},
		{"max_age=0 needs a sign-in at this very moment", read("response_type=code&client_id=conf&max_age=0"), true, now.Add(-time.Second), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.req.NeedsLogin(c.signedIn, c.authTime, now); got != c.want {
				t.Fatalf("NeedsLogin = %v, want %v", got, c.want)
			}
		})
	}

	needs := func(req *AuthRequest) bool {
		t.Helper()
		need, err := h.p.NeedsConsent(ctx, req, h.alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return need
	}
	if !needs(plain) {
		t.Fatal("a first request does not ask for consent")
	}
	if err := h.p.RememberConsent(ctx, plain, h.alice.ID); err != nil {
		t.Fatal(err)
	}
	if needs(plain) || needs(read("response_type=code&client_id=conf&scope=PUBLIC_REPOS")) {
		t.Fatal("a remembered consent that covers the request asks again")
	}
	if !needs(read("response_type=code&client_id=conf&scope=REPO_READ&prompt=consent")) {
		t.Fatal("prompt=consent does not ask again")
	}
	wider := read("response_type=code&client_id=conf&scope=openid")
	if !needs(wider) {
		t.Fatal("a scope beyond the remembered consent does not ask")
	}
	if err := h.p.RememberConsent(ctx, wider, h.alice.ID); err != nil {
		t.Fatal(err)
	}
	if needs(plain) || needs(wider) {
		t.Fatal("consents are not added up: approving openid forgot REPO_READ")
	}
}
