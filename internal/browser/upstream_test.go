package browser

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/identity"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
	"latchkey/internal/upstream"
)

// upstreamFixture is a node with an upstream OpenID Connect provider (npm
// oidc-provider, a certified implementation nobody here wrote) configured
// as the identity source "keycloak".
type upstreamFixture struct {
	env    *testkit.Env
	op     *testkit.OIDCProvider
	src    store.IdentitySource
	svc    *identity.Service
	client *oauth2.Config // a Latchkey client
}

// upstreamAccounts are the provider's people.
var upstreamAccounts = []testkit.UpstreamAccount{
	{Login: "carol", Password: "carol-upstream", Sub: "sub-carol", AMR: []string{"pwd"}, Claims: map[string]any{
		"preferred_username": "carol", "name": "Carol Shaw", "email": "carol@example.org", "email_verified": true,
		"groups": []string{"developers"}}},
	{Login: "mallory", Password: "mallory-upstream", Sub: "sub-mallory", Claims: map[string]any{
		"preferred_username": "mallory", "email": "alice@example.com", "email_verified": true}},
	{Login: "una", Password: "una-upstream", Sub: "sub-una", Claims: map[string]any{
		"preferred_username": "una", "email": "una@example.org", "email_verified": false}},
	{Login: "alice-up", Password: "alice-upstream", Sub: "sub-alice", Claims: map[string]any{
		"preferred_username": "alice-up", "email": "alice@example.com", "email_verified": true}},
	{Login: "dave", Password: "dave-upstream", Sub: "sub-dave", AMR: []string{"pwd", "otp"}, Claims: map[string]any{
		"preferred_username": "dave", "email": "dave@example.org", "email_verified": true, "groups": []string{"admins"}}},
	{Login: "erin", Password: "erin-upstream", Sub: "sub-erin", AMR: []string{"pwd"}, Claims: map[string]any{
		"preferred_username": "erin", "email": "erin@example.org", "email_verified": true, "groups": []string{"admins"}}},
}

func newUpstreamFixture(t *testing.T) *upstreamFixture {
	t.Helper()
	env := testkit.New(t, func(c *config.Config) {
		c.IdentityAllowedInternalHosts = "127.0.0.1"
		c.RequireSecondFactor = "admins"
	})
	env.User("alice", "alice-password")
	env.Project("PRJ", false)
	env.Repo("PRJ", "code", false)
	op := testkit.StartOIDCProvider(t, []testkit.UpstreamClient{{ClientID: "latchkey", ClientSecret: "upstream-secret",
		RedirectURIs: []string{env.URL + "/login/upstream/keycloak/callback"}}}, upstreamAccounts)
	svc := env.Server.Identity()
	var maps []identity.Mapping
	for _, m := range []string{"developers=PROJECT_WRITE:PRJ", "admins=SYS_ADMIN"} {
		mp, err := identity.ParseMapping(m)
		if err != nil {
			t.Fatal(err)
		}
		maps = append(maps, mp)
	}
	settings := identity.Settings{Mappings: maps, CreateUsers: true, TrustUpstreamMFA: true}.WithOIDC(upstream.Settings{
		Issuer: op.Issuer, ClientID: "latchkey", Scopes: []string{"openid", "profile", "email", "groups"}, GroupsClaim: "groups"})
	src, err := svc.Add(t.Context(), identity.NewSource{Name: "keycloak", DisplayName: "Keycloak", Kind: store.SourceOIDC,
		Settings: settings, Secret: "upstream-secret", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	cb := newCallback(t)
	id, secret := env.Client(admin.NewClient{Name: "Build server", RedirectURIs: []string{cb.URI()}, Scopes: "REPO_READ openid"})
	return &upstreamFixture{env: env, op: op, src: src, svc: svc,
		client: oauthConfig(env, id, secret, cb.URI(), "openid", "REPO_READ")}
}

// signInUpstream clicks "Sign in with Keycloak" on the login page and
// signs in at the provider's own login form.
func (f *upstreamFixture) signInUpstream(b *tab, login, password string) {
	b.t.Helper()
	b.open("/login")
	b.click(`a[href^="/login/upstream/keycloak"]`)
	if !strings.HasPrefix(b.location(), f.op.Issuer) {
		b.t.Fatalf("the button did not lead to the provider: %s", b.location())
	}
	b.fill(`input[name="login"]`, login)
	b.fill(`input[name="password"]`, password)
	b.click(`button[type="submit"]`)
}

// TestSignInWithAnUpstreamProvider: "Sign in with Keycloak" in headless
// Chromium creates the account from the provider's claims (a verified
// address only, groups to permissions), and a Latchkey client's OAuth
// flow then works as for anyone, with the Latchkey subject.
func TestSignInWithAnUpstreamProvider(t *testing.T) {
	f := newUpstreamFixture(t)
	ctx := t.Context()
	b := newTab(t, f.env)
	b.open("/login")
	b.wantText("login page", "Sign in with Keycloak")
	b.screenshot("login-upstream.png")
	f.signInUpstream(b, "carol", "carol-upstream")
	if loc := b.location(); loc != f.env.URL+"/" {
		b.fail("after the provider's sign-in", nil)
	}
	carol, err := f.env.Store.GetUserByUsername(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if carol.SourceID != f.src.ID || carol.Email != "carol@example.org" || !carol.EmailVerified ||
		carol.DisplayName != "Carol Shaw" || carol.PasswordHash != "" {
		t.Errorf("account from the provider: %+v", carol)
	}
	perms, _ := f.env.Store.ListPermissions(ctx, carol.ID)
	if len(perms) != 1 || perms[0].Name != "PROJECT_WRITE" {
		t.Errorf("carol's permissions from her groups: %+v", perms)
	}

	b.open("/user/settings/account")
	b.wantText("account page of an upstream account", "You sign in with your Keycloak account")

	// A Latchkey client's flow, as carol: consent, token, API, ID token.
	tok := authorizeAs(t, b, f.client)
	if status := apiStatus(t, f.env, tok.AccessToken); status != http.StatusOK {
		t.Errorf("carol's token at the API: %d", status)
	}
	claims := idTokenClaims(t, tok)
	if claims["sub"] != itoa(carol.ID) {
		t.Errorf("ID token subject %v is not carol's Latchkey subject", claims["sub"])
	}

	// The administrator disables the source: carol's session and tokens end.
	out, err := f.svc.SetEnabled(ctx, "keycloak", false)
	if err != nil {
		t.Fatal(err)
	}
	if out.Sessions < 1 || out.Families < 1 {
		t.Errorf("disabling ended %+v", out)
	}
	if status := apiStatus(t, f.env, tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("carol's token after the source was disabled: %d", status)
	}
	b.open("/login")
	if strings.Contains(b.text("main"), "Sign in with Keycloak") {
		t.Error("a disabled source still has its button")
	}
}

// authorizeAs runs a Latchkey client's code flow in the signed-in tab.
func authorizeAs(t *testing.T, b *tab, conf *oauth2.Config) *oauth2.Token {
	t.Helper()
	verifier, state := oauth2.GenerateVerifier(), "st-"+oauth2.GenerateVerifier()[:8]
	b.open(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	if !strings.HasPrefix(b.location(), conf.RedirectURL) {
		b.wantText("consent page", "Build server")
		b.click(`button[name="decision"][value="approve"]`)
	}
	code := codeFrom(t, b.location(), state)
	tok, err := conf.Exchange(context.WithoutCancel(t.Context()), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	return tok
}

// TestUpstreamSignInRefusesWhatItMust: a forged state, an answer without
// this browser's flow, a wrong nonce, an unverified address and a silent
// link by address are all refused; an explicit link by the signed-in
// owner works, and the upstream's amr satisfies the second-factor policy
// only when it says so.
func TestUpstreamSignInRefusesWhatItMust(t *testing.T) {
	f := newUpstreamFixture(t)
	ctx := t.Context()

	t.Run("forged state", func(t *testing.T) {
		rp := newRPBrowser(t, f)
		authURL := rp.start(t)
		code, _ := rp.provider(t, authURL, "carol", "carol-upstream")
		status, body := rp.get(t, f.env.URL+"/login/upstream/keycloak/callback?"+url.Values{
			"code": {code}, "state": {"forged-state"}}.Encode())
		if status != http.StatusBadRequest || !strings.Contains(body, "did not start here") {
			t.Errorf("forged state: %d %s", status, textOfPage(body))
		}
		// The real state after the failure is refused too: the flow is spent.
		if rp.signedIn(t) {
			t.Error("a forged state signed in")
		}
	})
	t.Run("another issuer (RFC 9207)", func(t *testing.T) {
		rp := newRPBrowser(t, f)
		code, state := rp.provider(t, rp.start(t), "carol", "carol-upstream")
		status, body := rp.get(t, f.env.URL+"/login/upstream/keycloak/callback?"+url.Values{
			"code": {code}, "state": {state}, "iss": {"https://idp.example.net"}}.Encode())
		if status != http.StatusBadRequest || !strings.Contains(body, "another identity provider") || rp.signedIn(t) {
			t.Errorf("an answer naming another issuer: %d %s", status, textOfPage(body))
		}
	})
	t.Run("no flow in this browser", func(t *testing.T) {
		rp := newRPBrowser(t, f)
		authURL := rp.start(t)
		code, state := rp.provider(t, authURL, "carol", "carol-upstream")
		other := newRPBrowser(t, f) // another browser: no cookie of this flow
		status, _ := other.get(t, f.env.URL+"/login/upstream/keycloak/callback?"+url.Values{
			"code": {code}, "state": {state}}.Encode())
		if status != http.StatusBadRequest || other.signedIn(t) {
			t.Errorf("an answer delivered to another browser: %d", status)
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		rp := newRPBrowser(t, f)
		authURL := rp.start(t)
		u, _ := url.Parse(authURL)
		q := u.Query()
		q.Set("nonce", "a-nonce-of-another-sign-in")
		u.RawQuery = q.Encode()
		code, state := rp.provider(t, u.String(), "carol", "carol-upstream")
		status, body := rp.get(t, f.env.URL+"/login/upstream/keycloak/callback?"+url.Values{
			"code": {code}, "state": {state}}.Encode())
		if status != http.StatusBadGateway || !strings.Contains(body, "could not be verified") || rp.signedIn(t) {
			t.Errorf("wrong nonce: %d %s", status, textOfPage(body))
		}
	})
	t.Run("unverified address", func(t *testing.T) {
		rp := newRPBrowser(t, f)
		rp.signIn(t, "una", "una-upstream")
		if !rp.signedIn(t) {
			t.Fatal("una did not sign in")
		}
		una, err := f.env.Store.GetUserByUsername(ctx, "una")
		if err != nil {
			t.Fatal(err)
		}
		if una.Email != "" || una.EmailVerified {
			t.Errorf("an address the provider did not verify was kept: %+v", una)
		}
	})
	t.Run("silent link by address", func(t *testing.T) {
		rp := newRPBrowser(t, f)
		status, body := rp.signIn(t, "mallory", "mallory-upstream")
		if status != http.StatusConflict || !strings.Contains(body, "never joined by their address") || rp.signedIn(t) {
			t.Errorf("a sign-in with alice's address: %d %s", status, textOfPage(body))
		}
		alice, _ := f.env.Store.GetUserByUsername(ctx, "alice")
		if links, _ := f.env.Store.ListUserIdentities(ctx, alice.ID); len(links) != 0 {
			t.Errorf("alice's account was linked silently: %+v", links)
		}
		if _, err := f.env.Store.GetUserByUsername(ctx, "mallory"); err == nil {
			t.Error("an account with alice's address was created")
		}
	})
	t.Run("explicit link", func(t *testing.T) {
		b := newTab(t, f.env)
		b.open("/login")
		b.signIn("alice", "alice-password")
		b.open("/user/settings/security")
		b.click(`form[action$="/identities/keycloak/link"] button`)
		b.fill(`input[name="login"]`, "alice-up")
		b.fill(`input[name="password"]`, "alice-upstream")
		b.click(`button[type="submit"]`)
		b.wantText("security page after the link", "The identity was linked")
		// A fresh browser signs in as alice through the provider.
		rp := newRPBrowser(t, f)
		rp.signIn(t, "alice-up", "alice-upstream")
		if who := rp.whoami(t); who != "alice" {
			t.Errorf("the linked identity signs in as %q", who)
		}
	})
	t.Run("upstream second factor", func(t *testing.T) {
		// dave's provider says pwd and otp: the admins policy is met.
		rp := newRPBrowser(t, f)
		status, body := rp.signIn(t, "dave", "dave-upstream")
		if !rp.signedIn(t) {
			t.Errorf("dave's multi-factor sign-in at the provider was not enough: %d %s", status, textOfPage(body))
		}
		// erin's says pwd only: she is led to add a factor of Latchkey's.
		rp = newRPBrowser(t, f)
		_, body = rp.signIn(t, "erin", "erin-upstream")
		if rp.signedIn(t) || !strings.Contains(body, "authenticator") {
			t.Errorf("erin signed in without a second factor: %s", textOfPage(body))
		}
	})
}

// rpBrowser is a browser played by a Go client with a cookie jar, for
// the answers a real browser cannot be made to send.
type rpBrowser struct {
	f  *upstreamFixture
	hc *http.Client
}

func newRPBrowser(t *testing.T, f *upstreamFixture) *rpBrowser {
	jar, _ := cookiejar.New(nil)
	callback := f.env.URL + "/login/upstream/keycloak/callback"
	return &rpBrowser{f: f, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), callback) {
				return http.ErrUseLastResponse // the test delivers the answer itself
			}
			return nil
		}}}
}

var opFormAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// start begins a sign-in at Latchkey and returns the provider URL it sends to.
func (rp *rpBrowser) start(t *testing.T) string {
	t.Helper()
	c := *rp.hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(rp.f.env.URL + "/login/upstream/keycloak")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, rp.f.op.Issuer) {
		t.Fatalf("start: %d %q", resp.StatusCode, loc)
	}
	return loc
}

// provider signs in at the provider and returns the code and state it
// sends back (not delivered).
func (rp *rpBrowser) provider(t *testing.T, authURL, login, password string) (code, state string) {
	t.Helper()
	resp, body := rp.fetch(t, http.MethodGet, authURL, nil)
	m := opFormAction.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no login form at the provider: %d %s", resp.StatusCode, body)
	}
	action := resp.Request.URL.ResolveReference(&url.URL{Path: m[1]}).String()
	resp, body = rp.fetch(t, http.MethodPost, action, url.Values{"login": {login}, "password": {password}})
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("the provider did not answer with a redirect: %d %s", resp.StatusCode, body)
	}
	return loc.Query().Get("code"), loc.Query().Get("state")
}

// signIn runs a whole sign-in and delivers the answer; it returns the
// status and page Latchkey ended on.
func (rp *rpBrowser) signIn(t *testing.T, login, password string) (int, string) {
	t.Helper()
	code, state := rp.provider(t, rp.start(t), login, password)
	return rp.get(t, rp.f.env.URL+"/login/upstream/keycloak/callback?"+url.Values{"code": {code}, "state": {state}}.Encode())
}

func (rp *rpBrowser) get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, body := rp.fetch(t, http.MethodGet, u, nil)
	return resp.StatusCode, body
}

func (rp *rpBrowser) fetch(t *testing.T, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = rp.hc.PostForm(u, form)
	} else {
		resp, err = rp.hc.Get(u)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// whoami is the user name the settings page shows ("" when signed out).
func (rp *rpBrowser) whoami(t *testing.T) string {
	t.Helper()
	c := *rp.hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(rp.f.env.URL + "/user/settings/account")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`Signed in as <strong>([^<]+)</strong>`).FindStringSubmatch(string(b))
	if m == nil {
		return "?"
	}
	return m[1]
}

func (rp *rpBrowser) signedIn(t *testing.T) bool { return rp.whoami(t) != "" }

// idTokenClaims reads the claims of the token response's ID token (its
// signature is the OpenID Connect tests' business).
func idTokenClaims(t *testing.T, tok *oauth2.Token) map[string]any {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("no ID token in the token response")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// textOfPage is a page's main text, for failure messages.
func textOfPage(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(body, " ")), " ")
}
