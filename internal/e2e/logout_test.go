package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/logout"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// logoutReceiver is a relying party's back-channel logout endpoint: it
// keeps every logout_token posted to it.
type logoutReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
	ctypes []string
}

func newLogoutReceiver(t *testing.T) *logoutReceiver {
	r := &logoutReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		r.mu.Lock()
		r.tokens = append(r.tokens, req.PostForm.Get("logout_token"))
		r.ctypes = append(r.ctypes, req.Header.Get("Content-Type"))
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the first n tokens, failing the test after 10 seconds.
func (r *logoutReceiver) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]string(nil), r.tokens...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d logout tokens arrived", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *logoutReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tokens)
}

// logoutFixture is a node whose back-channel logout may reach loopback
// receivers, a client registered for RP-initiated and back-channel
// logout, and alice signed in with a session that has a sid.
type logoutFixture struct {
	env      *testkit.Env
	recv     *logoutReceiver
	id       string
	conf     *oauth2.Config
	provider *gooidc.Provider
	browser  *testkit.Browser
	sess     store.Session
}

const postLogoutURI = "http://127.0.0.1:9999/signed-out"

func newLogoutFixture(t *testing.T, opts ...testkit.Option) *logoutFixture {
	t.Helper()
	opts = append(opts, func(c *config.Config) {
		c.BackchannelLogout.AllowedHosts = "127.0.0.1"
		c.BackchannelLogout.PollInterval = 50 * time.Millisecond
		c.BackchannelLogout.RetryBackoff = 50 * time.Millisecond
	})
	env := testkit.New(t, opts...)
	stop := env.Server.StartLogouts(context.Background())
	t.Cleanup(stop)
	recv := newLogoutReceiver(t)
	alice := env.User("alice", "alice-password")
	id, sec := env.Client(admin.NewClient{Name: "Wiki", RedirectURIs: []string{redirectURI}, Scopes: "openid profile",
		PostLogoutRedirectURIs: []string{postLogoutURI}, BackchannelLogoutURI: recv.srv.URL + "/bcl"})
	provider, err := gooidc.NewProvider(context.Background(), env.URL)
	if err != nil {
		t.Fatal(err)
	}
	f := &logoutFixture{env: env, recv: recv, id: id, provider: provider, browser: env.Browser("alice", "alice-password"),
		conf: &oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: redirectURI, Endpoint: provider.Endpoint(),
			Scopes: []string{gooidc.ScopeOpenID, "profile"}}}
	f.sess = f.signIn(t, alice)
	return f
}

// signIn gives the browser a session of user with a sid, as the sign-in
// page starts one.
func (f *logoutFixture) signIn(t *testing.T, u store.User) store.Session {
	t.Helper()
	value := secret.New(secret.SessionPrefix)
	now := f.env.Clock.Now()
	s := store.Session{ID: secret.Hash(value), UserID: u.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		SID: secret.NewID(), AMR: []string{"pwd"}, ACR: "urn:latchkey:acr:pwd"}
	if err := f.env.Store.CreateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(f.env.URL)
	f.browser.Client.Jar.SetCookies(base, []*http.Cookie{{Name: "latchkey_session", Value: value, Path: "/"}})
	return s
}

// idToken runs the code flow and returns the ID token.
func (f *logoutFixture) idToken(t *testing.T) string {
	t.Helper()
	v := oauth2.GenerateVerifier()
	cb, err := f.browser.Authorize(f.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v)))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	tok, err := f.conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no ID token")
	}
	return raw
}

// get sends the browser to path (a GET it does not follow) and returns
// the answer's status, Location and body.
func (f *logoutFixture) get(t *testing.T, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.env.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.browser.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// signedIn reports whether the browser's session still works.
func (f *logoutFixture) signedIn(t *testing.T) bool {
	t.Helper()
	_, err := f.env.Store.GetSession(context.Background(), f.sess.ID)
	return err == nil
}

// logoutClaims are what a relying party reads from a logout token.
type logoutClaims struct {
	Sub    string                    `json:"sub"`
	SID    string                    `json:"sid"`
	JTI    string                    `json:"jti"`
	Iat    int64                     `json:"iat"`
	Exp    int64                     `json:"exp"`
	Nonce  *string                   `json:"nonce"`
	Events map[string]map[string]any `json:"events"`
}

// checkLogoutToken verifies a logout token as a relying party does with
// go-oidc (signature with the published keys, iss, aud, exp) and go-jose
// (typ), and returns its claims.
func (f *logoutFixture) checkLogoutToken(t *testing.T, raw string) logoutClaims {
	t.Helper()
	v := f.provider.Verifier(&gooidc.Config{ClientID: f.id, Now: f.env.Clock.Now})
	tok, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("go-oidc rejected the logout token: %v", err)
	}
	parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if typ, _ := parsed.Headers[0].ExtraHeaders[jose.HeaderType].(string); typ != "logout+jwt" {
		t.Errorf("typ %q, want logout+jwt", typ)
	}
	var c logoutClaims
	if err := tok.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Events[logout.BackchannelEvent]; !ok || len(c.Events) != 1 {
		t.Errorf("events %v", c.Events)
	}
	if c.Nonce != nil {
		t.Error("a logout token carries a nonce")
	}
	if c.JTI == "" || c.Iat == 0 || c.Exp <= c.Iat || c.Exp-c.Iat > 300 {
		t.Errorf("jti %q iat %d exp %d", c.JTI, c.Iat, c.Exp)
	}
	return c
}

func endSessionPath(params url.Values) string { return "/login/oauth/logout?" + params.Encode() }

// TestRPInitiatedLogoutWithHintEndsTheSessionAndTellsTheClient: a relying
// party sends the browser to end_session_endpoint with its ID token as
// hint, its registered post-logout URI and a state: the session ends at
// once (the hint names it), the browser lands on the post-logout URI with
// the state, the session cookie no longer works, and the client's
// back-channel endpoint receives one logout token that go-oidc accepts,
// with the session's sub and sid.
func TestRPInitiatedLogoutWithHintEndsTheSessionAndTellsTheClient(t *testing.T) {
	f := newLogoutFixture(t)
	hint := f.idToken(t)
	doc := map[string]any{}
	if err := f.provider.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["end_session_endpoint"] != f.env.URL+"/login/oauth/logout" || doc["backchannel_logout_supported"] != true {
		t.Fatalf("discovery: end_session_endpoint %v, backchannel_logout_supported %v", doc["end_session_endpoint"], doc["backchannel_logout_supported"])
	}
	var idc struct {
		SID string `json:"sid"`
	}
	idt, err := f.provider.Verifier(&gooidc.Config{ClientID: f.id, Now: f.env.Clock.Now}).Verify(context.Background(), hint)
	if err != nil {
		t.Fatal(err)
	}
	_ = idt.Claims(&idc)
	if idc.SID != f.sess.SID {
		t.Errorf("the ID token's sid is %q, want the session's %q", idc.SID, f.sess.SID)
	}
	status, loc, body := f.get(t, endSessionPath(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {postLogoutURI},
		"state": {"s t&8"}, "ui_locales": {"fr"}}))
	if status != http.StatusFound || loc != postLogoutURI+"?state=s+t%268" {
		t.Fatalf("end session: %d to %q, want 302 to the post-logout URI with the state\n%s", status, loc, body)
	}
	if f.signedIn(t) {
		t.Fatal("the session is still there")
	}
	if status, _, _ := f.get(t, "/user/settings/applications"); status != http.StatusFound {
		t.Errorf("the account page answered %d to the old cookie, want a redirect to sign in", status)
	}
	tokens := f.recv.wait(t, 1)
	c := f.checkLogoutToken(t, tokens[0])
	if c.Sub != fmt.Sprint(f.sess.UserID) || c.SID != f.sess.SID {
		t.Errorf("logout token sub %q sid %q, want %d and %q", c.Sub, c.SID, f.sess.UserID, f.sess.SID)
	}
	if ct := f.recv.ctypes[0]; ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", ct)
	}
	time.Sleep(300 * time.Millisecond)
	if n := f.recv.count(); n != 1 {
		t.Errorf("%d logout tokens arrived, want 1", n)
	}
}

// TestRPInitiatedLogoutWithoutHintAsksFirst: without a hint the page asks;
// the session ends only when the person confirms (a CSRF-protected
// form), then the browser lands on the post-logout URI; the Bitbucket
// dialect's path does the same.
func TestRPInitiatedLogoutWithoutHintAsksFirst(t *testing.T) {
	f := newLogoutFixture(t)
	_ = f.idToken(t) // the session signs in to the client
	status, _, body := f.get(t, "/rest/oauth2/latest/logout?"+url.Values{"client_id": {f.id},
		"post_logout_redirect_uri": {postLogoutURI}, "state": {"xyz"}}.Encode())
	if status != http.StatusOK || !strings.Contains(body, "Wiki") || !strings.Contains(body, `name="csrf_token"`) {
		t.Fatalf("end session without hint: %d\n%s", status, body)
	}
	if !f.signedIn(t) {
		t.Fatal("the session ended before the person confirmed")
	}
	// A forged confirmation (no CSRF token) changes nothing.
	resp, _, err := f.browser.Post(confirmPath, url.Values{"client_id": {f.id}})
	if err != nil || resp.StatusCode != http.StatusForbidden || !f.signedIn(t) {
		t.Fatalf("confirmation without CSRF token: %v %v, signed in %v", resp.StatusCode, err, f.signedIn(t))
	}
	code, loc, _, err := f.browser.Submit(confirmPath, url.Values{"client_id": {f.id},
		"post_logout_redirect_uri": {postLogoutURI}, "state": {"xyz"}})
	if err != nil || code != http.StatusFound || loc != postLogoutURI+"?state=xyz" {
		t.Fatalf("confirm: %d %q %v", code, loc, err)
	}
	if f.signedIn(t) {
		t.Fatal("the session is still there after confirming")
	}
	c := f.checkLogoutToken(t, f.recv.wait(t, 1)[0])
	if c.SID != f.sess.SID {
		t.Errorf("sid %q, want %q", c.SID, f.sess.SID)
	}
}

const confirmPath = "/logout/confirm"

// TestRPInitiatedLogoutCrossSitePostAsks: a relying party's page posts
// the request (cross-site, so without the session cookie): it is not
// refused as a forged form, and asks rather than acting.
func TestRPInitiatedLogoutCrossSitePostAsks(t *testing.T) {
	f := newLogoutFixture(t)
	hint := f.idToken(t)
	req, _ := http.NewRequest(http.MethodPost, f.env.URL+"/login/oauth/logout", strings.NewReader(url.Values{
		"id_token_hint": {hint}, "post_logout_redirect_uri": {postLogoutURI}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://rp.example.com")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirects.Do(req) // no cookies: as a SameSite=Lax session cookie is not sent
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Nobody is signed in in that request: it goes straight on.
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != postLogoutURI {
		t.Fatalf("cross-site POST: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !f.signedIn(t) {
		t.Fatal("a cross-site POST without the cookie ended the session")
	}
	// The same POST with the browser's cookies (same site) ends it: the hint names it.
	resp2, _, err := f.browser.Post("/login/oauth/logout", url.Values{"id_token_hint": {hint}})
	if err != nil || resp2.StatusCode != http.StatusOK || f.signedIn(t) {
		t.Fatalf("same-site POST with hint: %v %v, signed in %v", resp2.StatusCode, err, f.signedIn(t))
	}
}

// TestRPInitiatedLogoutRefusals: no redirect, a page, and the session
// kept, for a post-logout URI the client did not register, a hint signed
// by another issuer's key, a hint of our key naming another issuer, a
// forged (altered) hint, a client_id that is not the hint's audience,
// and a redirect URI without any client.
func TestRPInitiatedLogoutRefusals(t *testing.T) {
	f := newLogoutFixture(t)
	hint := f.idToken(t)
	foreignKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: foreignKey}, nil)
	foreignHint, _ := jwt.Signed(foreign).Claims(jwt.Claims{Issuer: "https://other.example.com", Subject: "1",
		Audience: jwt.Audience{f.id}}).Serialize()
	own, _, err := f.env.Keys().Signer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	otherIss, _ := jwt.Signed(own).Claims(jwt.Claims{Issuer: "https://other.example.com", Subject: "1",
		Audience: jwt.Audience{f.id}}).Serialize()
	parts := strings.Split(hint, ".")
	forged := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]
	for name, params := range map[string]url.Values{
		"unregistered post-logout URI": {"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/elsewhere"}},
		"another issuer's key":         {"id_token_hint": {foreignHint}, "post_logout_redirect_uri": {postLogoutURI}},
		"another issuer named":         {"id_token_hint": {otherIss}, "post_logout_redirect_uri": {postLogoutURI}},
		"forged hint":                  {"id_token_hint": {forged}, "post_logout_redirect_uri": {postLogoutURI}},
		"client_id not the audience":   {"id_token_hint": {hint}, "client_id": {"someone-else"}},
		"redirect without a client":    {"post_logout_redirect_uri": {postLogoutURI}},
		"unknown client":               {"client_id": {"nobody"}, "post_logout_redirect_uri": {postLogoutURI}},
		"parameter twice":              {"id_token_hint": {hint, hint}},
	} {
		status, loc, _ := f.get(t, endSessionPath(params))
		if status != http.StatusBadRequest || loc != "" {
			t.Errorf("%s: %d to %q, want a 400 page", name, status, loc)
		}
	}
	if !f.signedIn(t) {
		t.Fatal("a refused request ended the session")
	}
	time.Sleep(200 * time.Millisecond)
	if n := f.recv.count(); n != 0 {
		t.Errorf("%d logout tokens sent for refused requests", n)
	}
}

// TestUserSignedOutTellsEveryClientOfEverySession: a user-wide event
// sends one token per (client, session), and keeps the session it is told
// to keep.
func TestUserSignedOutTellsEveryClientOfEverySession(t *testing.T) {
	f := newLogoutFixture(t)
	_ = f.idToken(t)
	first := f.sess
	u, _ := f.env.Store.GetUser(context.Background(), first.UserID)
	f.sess = f.signIn(t, u)
	_ = f.idToken(t)
	if err := f.env.Server.Logouts().UserSignedOut(context.Background(), u.ID, f.sess.SID); err != nil {
		t.Fatal(err)
	}
	c := f.checkLogoutToken(t, f.recv.wait(t, 1)[0])
	if c.SID != first.SID {
		t.Errorf("sid %q, want the other session's %q", c.SID, first.SID)
	}
	if err := f.env.Server.Logouts().UserSignedOut(context.Background(), u.ID, ""); err != nil {
		t.Fatal(err)
	}
	f.recv.wait(t, 3)
	time.Sleep(200 * time.Millisecond)
	if n := f.recv.count(); n != 3 {
		t.Errorf("%d tokens, want 3", n)
	}
}

// TestRPInitiatedLogoutAfterARealSignIn: the same as with a prepared
// session, through the sign-in page: the session it starts has a sid,
// which reaches the ID token, the end-session check and the logout token.
func TestRPInitiatedLogoutAfterARealSignIn(t *testing.T) {
	f := newLogoutFixture(t)
	f.browser = f.env.Browser("alice", "alice-password") // no session: the flow signs in
	hint := f.idToken(t)
	base, _ := url.Parse(f.env.URL)
	var value string
	for _, c := range f.browser.Client.Jar.Cookies(base) {
		if c.Name == "latchkey_session" {
			value = c.Value
		}
	}
	sess, err := f.env.Store.GetSession(context.Background(), secret.Hash(value))
	if err != nil || sess.SID == "" {
		t.Fatalf("the sign-in page's session: %+v %v", sess, err)
	}
	f.sess = sess
	status, loc, _ := f.get(t, endSessionPath(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {postLogoutURI}}))
	if status != http.StatusFound || loc != postLogoutURI || f.signedIn(t) {
		t.Fatalf("end session: %d to %q, signed in %v", status, loc, f.signedIn(t))
	}
	c := f.checkLogoutToken(t, f.recv.wait(t, 1)[0])
	if c.SID != sess.SID {
		t.Errorf("logout token sid %q, want the session's %q", c.SID, sess.SID)
	}
}

// TestSignOutAndAccountEventsTellTheClients: the sign-out button, and an
// administrator disabling a user, queue logout tokens that reach the
// client's back-channel URI (the hooks of the existing pages).
func TestSignOutAndAccountEventsTellTheClients(t *testing.T) {
	f := newLogoutFixture(t)
	f.idToken(t) // the client signed in through this session
	// The sign-out button: POST /logout with the page's CSRF token.
	token, err := f.browser.CSRF("/user/settings/account")
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := f.browser.Post("/logout", url.Values{"csrf_token": {token}})
	if err != nil || resp.StatusCode != http.StatusSeeOther || f.signedIn(t) {
		t.Fatalf("sign out: %v %v, signed in %v", resp, err, f.signedIn(t))
	}
	c := f.checkLogoutToken(t, f.recv.wait(t, 1)[0])
	if c.SID != f.sess.SID {
		t.Errorf("the sign-out's logout token has sid %q, want %q", c.SID, f.sess.SID)
	}
	// An administrator disables the user: a user-wide event.
	alice, err := f.env.Store.GetUserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	f.env.User("root", "root-password")
	f.env.Grant("root", admin.Target{Global: true}, "SYS_ADMIN")
	b := f.env.Browser("root", "root-password")
	if err := b.SignIn(); err != nil {
		t.Fatal(err)
	}
	path := "/admin/users/" + strconv.FormatInt(alice.ID, 10)
	tok, err := b.CSRF(path)
	if err != nil {
		t.Fatal(err)
	}
	r2, body, err := b.Post(path+"/disable", url.Values{"csrf_token": {tok}})
	if err != nil || r2.StatusCode >= 400 {
		t.Fatalf("disable: %v %v %s", r2, err, body)
	}
	if got := f.recv.wait(t, 2); len(got) < 2 {
		t.Fatalf("no logout token after the user was disabled")
	}
}
