package browser

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
	"latchkey/internal/web"
)

// Security keys and passkeys in a real Chromium, with the DevTools
// protocol's virtual authenticator standing in for the hardware: the
// pages' script (static/webauthn.js) calls navigator.credentials, Chromium
// asks the virtual authenticator, and Latchkey verifies what comes back.
// JavaScript is on in these tabs: the WebAuthn buttons need it.

// onLocalhost gives the node a base URL with a host name: browsers refuse
// an IP address as a WebAuthn relying party ID.
func onLocalhost(c *config.Config) {
	c.BaseURL = strings.Replace(c.BaseURL, "127.0.0.1", "localhost", 1)
}

// passkeyTab is a tab with JavaScript on and one virtual authenticator.
type passkeyTab struct {
	*tab
	base string
	auth webauthn.AuthenticatorID
}

// newPasskeyTab starts a fresh Chromium on the node with a virtual
// authenticator: a platform passkey store (resident keys, verifies its
// user) when passkey is true, else a USB security key that keeps no
// resident keys and verifies nobody.
func newPasskeyTab(t *testing.T, env *testkit.Env, passkey bool) *passkeyTab {
	t.Helper()
	execPath := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var output io.Writer
	if os.Getenv("LATCHKEY_TEST_LOG") != "" {
		output = os.Stderr
	}
	bctx, stop := Start(ctx, execPath, t.TempDir(), 1100, 850, output)
	t.Cleanup(func() {
		stop()
		cancel()
	})
	opts := &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
		Transport: webauthn.AuthenticatorTransportUsb, AutomaticPresenceSimulation: true,
	}
	if passkey {
		opts.Transport, opts.HasResidentKey, opts.HasUserVerification, opts.IsUserVerified =
			webauthn.AuthenticatorTransportInternal, true, true, true
	}
	if _, err := chromedp.Call(bctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("enable WebAuthn emulation: %v", err)
	}
	res, err := chromedp.Call(bctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: opts})
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}
	return &passkeyTab{tab: &tab{t: t, ctx: bctx, env: env}, base: strings.TrimRight(env.Config.BaseURL, "/"),
		auth: res.AuthenticatorID}
}

// goTo opens a path of the node by its host name.
func (p *passkeyTab) goTo(path string) { p.open(p.base + path) }

// press clicks a WebAuthn button and waits until the script has led the
// page to the path want (a prefix of the path and query).
func (p *passkeyTab) press(sel, want string) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel))); err != nil {
		p.fail("press "+sel, err)
	}
	for {
		if strings.HasPrefix(p.location(), p.base+want) {
			if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
				p.fail("load "+want, err)
			}
			return
		}
		select {
		case <-ctx.Done():
			status, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("main")))
			p.t.Fatalf("pressing %s did not lead to %s; at %s: %s", sel, want, p.location(), strings.Join(strings.Fields(status), " "))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// session is the tab's Latchkey session in the store, nil if none.
func (p *passkeyTab) session() *store.Session {
	p.t.Helper()
	cookies, err := chromedp.Call(p.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.base}})
	if err != nil {
		p.fail("read cookies", err)
	}
	for _, c := range cookies.Cookies {
		if c.Name == "latchkey_session" && c.Value != "" {
			s, err := p.env.Store.GetSession(context.Background(), secret.Hash(c.Value))
			if err != nil {
				return nil
			}
			return &s
		}
	}
	return nil
}

// credentials counts the virtual authenticator's credentials, and its
// resident (discoverable) ones.
func (p *passkeyTab) credentials() (all, resident int) {
	p.t.Helper()
	res, err := chromedp.Call(p.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: p.auth})
	if err != nil {
		p.fail("read the authenticator's credentials", err)
	}
	creds := res.Credentials
	for _, c := range creds {
		if c.IsResidentCredential {
			resident++
		}
	}
	return len(creds), resident
}

// audit runs the pages' accessibility audit (pageAudit) on what the tab
// shows, with the WebAuthn boxes visible, on a desktop and a phone.
func (p *passkeyTab) audit(what string) {
	p.t.Helper()
	for _, width := range []int64{360, 1100} {
		if err := chromedp.Do(p.ctx, chromedp.EmulateViewport(width, 800)); err != nil {
			p.t.Fatalf("set the viewport: %v", err)
		}
		auditPage(p.t, p.tab, width, what)
	}
}

// idTokenClaims approves the consent page the tab shows, exchanges the
// code and returns the ID token's acr and amr.
func (p *passkeyTab) idTokenClaims(conf *oauth2.Config, state string) (string, []string) {
	p.t.Helper()
	p.wantText("consent page", "Authorize")
	p.click(`button[name="decision"][value="approve"]`)
	tok, err := conf.Exchange(context.WithoutCancel(p.t.Context()), codeFrom(p.t, p.location(), state))
	if err != nil {
		p.t.Fatalf("exchange: %v", err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		p.t.Fatal("no ID token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		p.t.Fatal(err)
	}
	var claims struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		p.t.Fatal(err)
	}
	return claims.ACR, claims.AMR
}

// client registers an application of user with an OpenID Connect scope and
// returns its configuration, with the authorization endpoint on the host
// name the tab uses.
func (p *passkeyTab) client(user store.User) *oauth2.Config {
	p.t.Helper()
	cb := newCallback(p.t)
	clientID, secretValue := p.env.Client(admin.NewClient{Name: "Deploys", RedirectURIs: []string{cb.URI()},
		Scopes: "REPO_READ read:user openid", OwnerUserID: user.ID})
	conf := oauthConfig(p.env, clientID, secretValue, cb.URI(), "REPO_READ", "openid")
	conf.Endpoint.AuthURL = p.base + "/login/oauth/authorize"
	return conf
}

func (p *passkeyTab) signOut() {
	p.t.Helper()
	p.click(`form.signout button[type="submit"]`)
	if p.session() != nil {
		p.t.Fatal("still signed in after signing out")
	}
}

func TestPasskeyEnrolThenSignInWithoutPassword(t *testing.T) {
	env := testkit.New(t, onLocalhost)
	alice := env.User("alice", "alice-password")
	p := newPasskeyTab(t, env, true)
	conf := p.client(alice)

	p.goTo("/login")
	p.signIn("alice", "alice-password")
	p.goTo("/user/settings/security")
	p.audit("/user/settings/security")
	p.fill("#webauthn-name", "Laptop")
	p.fill("#webauthn-password", "alice-password")
	p.press("#webauthn-add", "/user/settings/security?done=key_added")
	p.wantText("security page after adding", "The security key or passkey was added", "Laptop")
	if all, resident := p.credentials(); all != 1 || resident != 1 {
		t.Fatalf("the authenticator holds %d credentials, %d resident; want one passkey", all, resident)
	}
	if s := p.session(); s == nil || !slices.Equal(s.AMR, []string{"pwd"}) {
		t.Fatalf("the password session = %+v", s)
	}
	p.signOut()

	// No user name, no password: the passkey alone.
	p.goTo("/login?next=/user/settings/account")
	p.audit("/login")
	p.press("#passkey-signin", "/user/settings/account")
	if got := p.text("header.site"); !strings.Contains(got, "Signed in as alice") {
		t.Fatalf("after the passkey sign-in the header says %q", got)
	}
	s := p.session()
	if s == nil || !slices.Equal(s.AMR, []string{"hwk", "user", "mfa"}) || s.ACR != "urn:latchkey:acr:mfa" {
		t.Fatalf("the passkey session = %+v", s)
	}
	// An application asking for a second factor gets it without a step-up.
	p.open(conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("acr_values", "urn:latchkey:acr:mfa")))
	if acr, amr := p.idTokenClaims(conf, "st-1"); acr != "urn:latchkey:acr:mfa" || !slices.Equal(amr, []string{"hwk", "user", "mfa"}) {
		t.Fatalf("ID token acr %q amr %v", acr, amr)
	}
}

func TestSecurityKeyAsTheSecondFactor(t *testing.T) {
	env := testkit.New(t, onLocalhost)
	bob := env.User("bob", "bob-password")
	p := newPasskeyTab(t, env, false)
	conf := p.client(bob)

	p.goTo("/login")
	p.signIn("bob", "bob-password")
	p.goTo("/user/settings/security")
	p.fill("#webauthn-password", "bob-password")
	p.press("#webauthn-add", "/user/settings/security?done=key_added")
	p.wantText("security page after adding", "Security key")

	// The session is still a password one: an application asking for a
	// second factor makes bob step up with the key.
	p.open(conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("acr_values", "urn:latchkey:acr:mfa")))
	if !strings.Contains(p.location(), "/login/factor") {
		p.fail("acr_values on a password session", nil)
	}
	p.press("#webauthn-factor", web.ConsentPath)
	if acr, amr := p.idTokenClaims(conf, "st-1"); acr != "urn:latchkey:acr:mfa" || !slices.Equal(amr, []string{"pwd", "hwk", "mfa"}) {
		t.Fatalf("ID token after the step-up: acr %q amr %v", acr, amr)
	}
	p.goTo("/")
	p.signOut()

	p.goTo("/login?next=/user/settings/account")
	p.signIn("bob", "bob-password")
	if loc := p.location(); !strings.Contains(loc, "/login/factor") {
		t.Fatalf("after the password the tab is at %s, not the factor page", loc)
	}
	if p.session() != nil {
		t.Fatal("a session started before the second factor")
	}
	p.audit("/login/factor")
	p.press("#webauthn-factor", "/user/settings/account")
	s := p.session()
	if s == nil || !slices.Equal(s.AMR, []string{"pwd", "hwk", "mfa"}) || s.ACR != "urn:latchkey:acr:mfa" {
		t.Fatalf("the session after the security key = %+v", s)
	}

	// The key is no passkey: the password-less button finds nothing on it.
	p.signOut()
	p.goTo("/login")
	ctx, cancel := p.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#passkey-signin")), chromedp.WaitVisible(chromedp.CSS("[data-webauthn-status]"))); err != nil {
		p.fail("press the passkey button", err)
	}
	if p.session() != nil {
		t.Fatal("a security key without a resident credential signed in alone")
	}
}
