package browser

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// TestRegisterApplicationAndUseItThenRegenerateAndRevoke is the life of an
// application as its developer and its user see it, in Chromium: register
// it on the page, copy the secret from the page, sign in and approve in the
// same browser, get tokens with x/oauth2, regenerate the secret (the old
// one is refused at once), and revoke the authorization on the page (its
// tokens are refused at once).
func TestRegisterApplicationAndUseItThenRegenerateAndRevoke(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	cb := newCallback(t)
	b := newTab(t, env)
	ctx := t.Context()

	b.open("/user/settings/applications")
	if loc := b.location(); !strings.HasPrefix(loc, env.URL+"/login?") {
		t.Fatalf("the applications page of a signed-out user went to %s, want the login page", loc)
	}
	b.screenshot("login.png")
	b.signIn("alice", "alice-password")
	b.wantText("applications page", "Your applications", "Register a new application")

	clientID, secret := registerOnPage(t, b, "Deploy Bot", cb.URI())
	conf := oauthConfig(env, clientID, secret, cb.URI(), "REPO_READ", "read:user")
	tok := authorizeInBrowser(t, b, conf, true)
	if s := apiStatus(t, env, tok.AccessToken); s != http.StatusOK {
		t.Fatalf("API with the new token: %d, want 200", s)
	}

	b.open("/user/settings/applications")
	b.wantText("applications page after the flow", "Applications you authorized", "Deploy Bot", "REPO_READ")
	if last := b.text(`table:has(caption) tbody tr:has(form[action$="/` + clientID + `/revoke"]) td[data-label="Last used"]`); last == "never" {
		t.Errorf("the authorization was used by the API call but shows last used %q", last)
	}
	b.screenshot("applications.png")

	// Regenerate: the old secret is refused at once, the new one works.
	b.open("/user/settings/applications/" + clientID)
	b.click(`form[action$="/secret"] button`)
	b.wantText("regenerated secret page", "has a new client secret", "Copy the secret now")
	newSecret := b.value("#client_secret")
	if !strings.HasPrefix(newSecret, "lks_") || newSecret == secret {
		t.Fatalf("regenerated secret %q (old %q)", newSecret, secret)
	}
	if _, err := refresh(ctx, conf, tok.RefreshToken); errorCode(err) != "invalid_client" {
		t.Fatalf("refresh with the old secret: %v, want invalid_client", err)
	}
	conf.ClientSecret = newSecret
	tok, err := refresh(ctx, conf, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh with the new secret: %v", err)
	}

	// Revoke on the page: every token of the authorization dies at once.
	b.open("/user/settings/applications")
	b.click(`form[action="/user/settings/authorizations/` + clientID + `/revoke"] button`)
	b.wantText("after revoking", "Access was revoked", "No application may act for you")
	if s := apiStatus(t, env, tok.AccessToken); s != http.StatusUnauthorized {
		t.Errorf("API with a token of the revoked authorization: %d, want 401", s)
	}
	if _, err := refresh(ctx, conf, tok.RefreshToken); errorCode(err) != "invalid_grant" {
		t.Errorf("refresh after revocation: %v, want invalid_grant", err)
	}
	// The consent is forgotten too: the application must ask again.
	authorizeInBrowser(t, b, conf, true)
}

// registerOnPage fills in the registration form and returns the client ID
// and secret copied from the page that follows.
func registerOnPage(t *testing.T, b *tab, name, redirectURI string) (string, string) {
	t.Helper()
	b.fill("#name", name)
	b.fill("#redirect_uris", redirectURI)
	b.tick(`input[value="read:user"]`) // tick one more scope, from the Gitea vocabulary
	resp := b.click(`form[action="/user/settings/applications"] button[type="submit"]`)
	if resp.Status != http.StatusOK {
		b.fail("register", nil)
	}
	b.wantText("credentials page", name+" is registered", "Copy the secret now")
	clientID, secret := b.value("#client_id"), b.value("#client_secret")
	if clientID == "" || !strings.HasPrefix(secret, "lks_") {
		t.Fatalf("credentials on the page: client ID %q, secret %q", clientID, secret)
	}
	// Shown once: the application's own page has no secret.
	b.open("/user/settings/applications/" + clientID)
	if strings.Contains(b.text("body"), secret) {
		t.Fatal("the application's page shows the secret again")
	}
	return clientID, secret
}

// authorizeInBrowser runs the authorization code flow with PKCE: the tab
// (already signed in) answers the consent page, the code is read from the
// URL the browser lands on, and x/oauth2 exchanges it.
func authorizeInBrowser(t *testing.T, b *tab, conf *oauth2.Config, wantConsent bool) *oauth2.Token {
	t.Helper()
	verifier, state := oauth2.GenerateVerifier(), "st-"+oauth2.GenerateVerifier()[:8]
	b.open(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	if wantConsent {
		b.wantText("consent page", "Authorize", "wants to access your account", "alice",
			"View the projects and repositories you can view")
		b.screenshot("consent.png")
		b.click(`button[name="decision"][value="approve"]`)
	}
	code := codeFrom(t, b.location(), state)
	tok, err := conf.Exchange(context.WithoutCancel(t.Context()), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	return tok
}

// TestAdminSuspendsApplicationAndItsTokensStop: an administrator suspends
// a user's application on the admin page; its tokens are refused at once,
// and the audit log shows who did it.
func TestAdminSuspendsApplicationAndItsTokensStop(t *testing.T) {
	env := testkit.New(t)
	env.User("root", "root-password")
	env.Grant("root", admin.Target{Global: true}, "SYS_ADMIN")
	alice := env.User("alice", "alice-password")
	cb := newCallback(t)
	clientID, secret := env.Client(admin.NewClient{Name: "Build Bot", RedirectURIs: []string{cb.URI()},
		Scopes: "REPO_READ read:user", OwnerUserID: alice.ID})
	conf := oauthConfig(env, clientID, secret, cb.URI(), "REPO_READ", "read:user")
	tok := tokenOverHTTP(t, env, conf, "alice", "alice-password")
	if s := apiStatus(t, env, tok.AccessToken); s != http.StatusOK {
		t.Fatalf("API before suspension: %d", s)
	}

	b := newTab(t, env)
	b.open("/admin")
	b.signIn("root", "root-password")
	b.wantText("admin applications page", "All applications", "Build Bot", "alice")
	b.screenshot("admin.png")
	b.click(`form[action="/admin/applications/` + clientID + `/suspend"] button`)
	b.wantText("after suspending", "The application was suspended")
	if s := apiStatus(t, env, tok.AccessToken); s != http.StatusUnauthorized {
		t.Errorf("API after suspension: %d, want 401", s)
	}
	if _, err := refresh(t.Context(), conf, tok.RefreshToken); err == nil {
		t.Error("refresh after suspension succeeded")
	}

	b.click(`a[href="/admin/audit"]`)
	b.wantText("audit log", "client.suspended", "root", clientID, "login")

	// Reinstating does not revive the revoked tokens.
	b.open("/admin/applications")
	b.click(`form[action="/admin/applications/` + clientID + `/reinstate"] button`)
	if s := apiStatus(t, env, tok.AccessToken); s != http.StatusUnauthorized {
		t.Errorf("API after reinstating: %d, want 401 (suspension revoked the token)", s)
	}
}

// tokenOverHTTP gets tokens with the scripted HTTP browser, for tests
// whose subject is not the flow itself.
func tokenOverHTTP(t *testing.T, env *testkit.Env, conf *oauth2.Config, username, password string) *oauth2.Token {
	t.Helper()
	verifier, state := oauth2.GenerateVerifier(), "st"
	loc, err := env.Browser(username, password).Authorize(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatalf("authorize over HTTP: %v", err)
	}
	tok, err := conf.Exchange(t.Context(), codeFrom(t, loc.String(), state), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}
