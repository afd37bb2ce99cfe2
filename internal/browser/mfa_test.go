package browser

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/mfa"
	"latchkey/internal/testkit"
)

// totpNow is the authenticator app: the code of secret at the node's time.
func totpNow(t *testing.T, env *testkit.Env, secret string) string {
	t.Helper()
	c, err := mfa.Code(secret, mfa.Step(env.Clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolOnPage reads the key off the enrolment page the tab shows (its QR
// code must be an inline PNG), confirms it with the current code and
// returns the key and the recovery codes the next page shows.
func enrolOnPage(t *testing.T, b *tab, env *testkit.Env) (string, []string) {
	t.Helper()
	if src := evaluate[string](t, b, `document.querySelector(".qr img").src`); !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Fatalf("the QR code is %.60q, want an inline PNG", src)
	}
	if w := evaluate[float64](t, b, `document.querySelector(".qr img").naturalWidth`); w < 100 {
		t.Fatalf("the QR code image did not load (width %v)", w)
	}
	secret := b.text("#totp-secret")
	b.fill("#code", totpNow(t, env, secret))
	b.click(`#enrol-form button[type="submit"]`)
	b.wantText("recovery codes page", "Save these codes now")
	codes := regexp.MustCompile(`[a-z2-7]{5}-[a-z2-7]{5}`).FindAllString(b.text("ul.recovery-codes"), -1)
	if len(codes) != mfa.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown", len(codes))
	}
	return secret, codes
}

// TestTOTPEnrolmentSignInRecoveryAndReplay: a user adds an authenticator
// app on the security page (QR code and key, confirmed by a code), then
// signs in with password and code; the same code a second time is
// refused; a recovery code signs in once. Every page passes the audit.
func TestTOTPEnrolmentSignInRecoveryAndReplay(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	b := newTab(t, env)
	b.open("/login")
	b.signIn("alice", "alice-password")
	b.open("/user/settings/account")
	b.click(`a[href="/user/settings/security"]`)
	auditPage(t, b, 1100, "/user/settings/security")
	b.click(`a[href="/user/settings/security/totp"]`)
	auditPage(t, b, 1100, "/user/settings/security/totp")
	auditPage360(t, b, "/user/settings/security/totp")
	secret, codes := enrolOnPage(t, b, env)
	auditPage(t, b, 1100, "recovery codes")
	auditPage360(t, b, "recovery codes")
	b.click(`a.button`)
	b.wantText("security page", "Authenticator app", "10 unused recovery codes")
	auditPage(t, b, 1100, "/user/settings/security with a factor")
	auditPage360(t, b, "/user/settings/security with a factor")

	// Sign out; the password alone now leads to the factor page.
	b.click(`form[action="/logout"] button`)
	env.Clock.Advance(mfa.Period)
	b.open("/login")
	b.signIn("alice", "alice-password")
	if !strings.Contains(b.location(), "/login/factor") {
		b.fail("after the password", nil)
	}
	auditPage(t, b, 1100, "/login/factor")
	auditPage360(t, b, "/login/factor")
	used := totpNow(t, env, secret)
	b.fill("#code", used)
	b.click(`form[action="/login/factor"] button[type="submit"]`)
	b.wantText("signed in", "alice")
	if strings.Contains(b.location(), "/login") {
		b.fail("the code did not sign in", nil)
	}

	// The same code again, in a new sign-in in the same step: refused.
	b.click(`form[action="/logout"] button`)
	b.open("/login")
	b.signIn("alice", "alice-password")
	b.fill("#code", used)
	b.click(`form[action="/login/factor"] button[type="submit"]`)
	b.wantText("a replayed code", "used already")

	// A recovery code instead.
	b.fill("#recovery_code", codes[2])
	b.click(`form[action="/login/factor"] button.secondary`)
	if strings.Contains(b.location(), "/login") {
		b.fail("the recovery code did not sign in", nil)
	}
	b.open("/user/settings/security")
	b.wantText("one code spent", "9 unused recovery codes")
}

// auditPage360 audits the page the tab shows on a phone-sized screen.
func auditPage360(t *testing.T, b *tab, what string) {
	t.Helper()
	setWidth(t, b, 360)
	defer setWidth(t, b, 1100)
	auditPage(t, b, 360, what)
}

// TestPolicyLeadsToEnrolmentAndTheAuthorizationEndpointWaits: with
// --require-second-factor everyone, a user without a factor who starts an
// authorization is led from the password to enrolment; before they
// enrol, the authorization endpoint sends them back to the second step
// and issues nothing; after it, the flow ends at the application.
func TestPolicyLeadsToEnrolmentAndTheAuthorizationEndpointWaits(t *testing.T) {
	env := testkit.New(t, func(c *config.Config) { c.RequireSecondFactor = "everyone" })
	alice := env.User("alice", "alice-password")
	cb := newCallback(t)
	clientID, secretValue := env.Client(admin.NewClient{Name: "Editor", RedirectURIs: []string{cb.URI()},
		Scopes: "REPO_READ read:user openid", OwnerUserID: alice.ID})
	conf := oauthConfig(env, clientID, secretValue, cb.URI(), "REPO_READ", "openid")
	b := newTab(t, env)
	start := conf.AuthCodeURL("st-1")
	b.open(start)
	b.signIn("alice", "alice-password")
	if !strings.Contains(b.location(), "/login/enrol") {
		b.fail("after the password", nil)
	}
	b.wantText("enrolment", "needs a second factor")
	auditPage(t, b, 1100, "/login/enrol")
	// Past the password only: the endpoint (either dialect's path) leads
	// back to the second step, never to the application.
	for _, u := range []string{start, strings.Replace(start, "/login/oauth/authorize", "/rest/oauth2/latest/authorize", 1)} {
		b.open(u)
		if loc := b.location(); strings.HasPrefix(loc, cb.URI()) || !strings.Contains(loc, "/login/enrol") {
			b.fail("the authorization endpoint past the password", nil)
		}
	}
	enrolOnPage(t, b, env)
	b.click(`a.button`)
	b.wantText("consent page", "Authorize")
	b.click(`button[name="decision"][value="approve"]`)
	codeFrom(t, b.location(), "st-1")
}

// TestStepUpThroughACRValues: a user signed in with a password alone is
// asked for their code when an application asks for acr_values
// urn:latchkey:acr:mfa, and comes back to the request; the ID token says
// what the sign-in was.
func TestStepUpThroughACRValues(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	cb := newCallback(t)
	clientID, secretValue := env.Client(admin.NewClient{Name: "Deploys", RedirectURIs: []string{cb.URI()},
		Scopes: "REPO_READ read:user openid", OwnerUserID: alice.ID})
	conf := oauthConfig(env, clientID, secretValue, cb.URI(), "REPO_READ", "openid")
	b := newTab(t, env)
	b.open("/login")
	b.signIn("alice", "alice-password")
	// An authenticator app added since (the session is a password one).
	kek, err := env.Config.LoadKeyEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	f, err := mfa.New(env.Store, kek, env.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := mfa.NewEnrolment("Latchkey", "alice")
	if _, err := f.AddTOTP(context.Background(), alice.ID, "phone", e.Secret, totpNow(t, env, e.Secret)); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(mfa.Period)

	b.open(conf.AuthCodeURL("st-2", oauth2.SetAuthURLParam("acr_values", "urn:latchkey:acr:mfa")))
	if !strings.Contains(b.location(), "/login/factor") {
		b.fail("acr_values on a password session", nil)
	}
	b.fill("#code", totpNow(t, env, e.Secret))
	b.click(`form[action="/login/factor"] button[type="submit"]`)
	b.wantText("consent page after the step-up", "Authorize")
	b.click(`button[name="decision"][value="approve"]`)
	code := codeFrom(t, b.location(), "st-2")
	tok, err := conf.Exchange(context.WithoutCancel(t.Context()), code)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idToken, ok := tok.Extra("id_token").(string)
	parts := strings.Split(idToken, ".")
	if !ok || len(parts) != 3 {
		t.Fatal("no ID token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.ACR != "urn:latchkey:acr:mfa" || !slices.Equal(claims.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("ID token acr %q amr %v, want the mfa class and [pwd otp mfa]", claims.ACR, claims.AMR)
	}
}

// setWidth sets the tab's viewport width.
func setWidth(t *testing.T, b *tab, width int64) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, 800)); err != nil {
		t.Fatalf("set the viewport: %v", err)
	}
}
