package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/oauth"
)

// restrictedScope is a Gitea grant limited to public resources.
const restrictedScope = "public-only read:repository"

// privateRepoPath is alice's private repository (project PRIV of the
// fixture) in the Gitea API.
const privateRepoPath = "/api/v1/repos/PRIV/secret-repo"

// restrictedClient registers a confidential Gitea client with the given
// scopes and every grant type, and returns its oauth2 configuration asking
// for the scopes asked. A client registered with read:repository may ask
// for public-only read:repository too, so only the rule under test stops
// the restriction from being dropped.
func (f *fixture) restrictedClient(scopes string, asked ...string) *oauth2.Config {
	grants := strings.Join([]string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken,
		oauth.GrantClientCredentials, oauth.GrantDeviceCode}, " ")
	id, secret := f.env.Client(admin.NewClient{Name: "Gitea mirror", RedirectURIs: []string{redirectURI},
		Scopes: scopes, GrantTypes: grants})
	return f.config(dialects[1], id, secret, asked...)
}

func TestARefreshCannotDropPublicOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conf := f.restrictedClient("read:repository", restrictedScope)
	first, err := conf.Exchange(ctx, f.authorize(t, f.env.Browser("alice", "alice-password"), conf))
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := apiGet(t, f.env.URL, privateRepoPath, first.AccessToken); status != http.StatusNotFound {
		t.Fatalf("the restricted token reads a private repository: status %d", status)
	}
	refresh := func(scopes ...string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken},
			"client_id": {conf.ClientID}, "client_secret": {conf.ClientSecret}}
		if len(scopes) > 0 {
			form.Set("scope", strings.Join(scopes, " "))
		}
		return postForm(t, conf.Endpoint.TokenURL, form)
	}
	status, body := refresh("read:repository")
	if status != http.StatusBadRequest || body["error"] != "invalid_scope" {
		t.Fatalf("a refresh that drops public-only: %d %v, want 400 invalid_scope", status, body)
	}
	status, body = refresh()
	if status != http.StatusOK || body["scope"] != restrictedScope {
		t.Fatalf("a plain refresh after the refused one: %d %v, want the restricted scope", status, body)
	}
	if status, _, _ := apiGet(t, f.env.URL, privateRepoPath, body["access_token"].(string)); status != http.StatusNotFound {
		t.Fatalf("the refreshed token reads a private repository: status %d", status)
	}
}

func TestARememberedRestrictedConsentDoesNotCoverTheUnrestrictedRequest(t *testing.T) {
	f := newFixture(t)
	restricted := f.restrictedClient("read:repository", restrictedScope)
	b := f.env.Browser("alice", "alice-password")
	f.authorize(t, b, restricted)
	unrestricted := *restricted
	unrestricted.Scopes = []string{"read:repository"}

	cb, err := b.Authorize(unrestricted.AuthCodeURL("s1", oauth2.SetAuthURLParam("prompt", "none")))
	if err != nil || cb.Query().Get("error") != "consent_required" || cb.Query().Get("state") != "s1" {
		t.Fatalf("prompt=none for the unrestricted scope after a restricted consent: %v %v, want consent_required", cb, err)
	}
	before := len(b.Pages)
	f.authorize(t, b, &unrestricted)
	if len(b.Pages) != before+1 || !strings.Contains(b.Pages[before], `value="approve"`) {
		t.Fatalf("the unrestricted request after a restricted consent showed %d pages, want the consent page", len(b.Pages)-before)
	}
	// What the person approved last is remembered, and covers the
	// restricted request as well.
	before = len(b.Pages)
	f.authorize(t, b, &unrestricted)
	f.authorize(t, b, restricted)
	if len(b.Pages) != before {
		t.Fatalf("requests covered by the unrestricted consent showed %d consent pages", len(b.Pages)-before)
	}
}

func TestAClientRegisteredWithPublicOnlyCannotAskWithoutIt(t *testing.T) {
	f := newFixture(t)
	conf := f.restrictedClient(restrictedScope, "read:repository")

	cb, err := f.env.Browser("alice", "alice-password").Authorize(conf.AuthCodeURL("s1"))
	if q := cb.Query(); err != nil || q.Get("error") != "invalid_scope" || q.Get("state") != "s1" || q.Get("iss") != f.env.URL {
		t.Fatalf("authorization without public-only: %v %v, want invalid_scope", cb, err)
	}
	auth := url.Values{"client_id": {conf.ClientID}, "client_secret": {conf.ClientSecret}, "scope": {"read:repository"}}
	form := url.Values{"grant_type": {oauth.GrantClientCredentials}}
	for k, v := range auth {
		form[k] = v
	}
	if status, body := postForm(t, conf.Endpoint.TokenURL, form); status != http.StatusBadRequest || body["error"] != "invalid_scope" {
		t.Fatalf("client_credentials without public-only: %d %v, want 400 invalid_scope", status, body)
	}
	if status, body := postForm(t, f.env.URL+"/login/device/code", auth); status != http.StatusBadRequest || body["error"] != "invalid_scope" {
		t.Fatalf("device authorization without public-only: %d %v, want 400 invalid_scope", status, body)
	}
	// With the restriction, the same client is served.
	form.Set("scope", restrictedScope)
	if status, body := postForm(t, conf.Endpoint.TokenURL, form); status != http.StatusOK || body["scope"] != restrictedScope {
		t.Fatalf("client_credentials with public-only: %d %v", status, body)
	}
}
