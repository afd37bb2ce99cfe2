package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// TestTrustedClientSkipsConsentButTheGrantIsRecorded: a confidential
// client an administrator trusts gets its code without a consent page;
// its grant is listed and revocable like any other; prompt=consent still
// asks; a public client cannot be trusted.
func TestTrustedClientSkipsConsentButTheGrantIsRecorded(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	id, secret := env.Client(admin.NewClient{Name: "Company portal", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ openid"})
	ctx := context.Background()
	if _, err := admin.SetClientTrusted(ctx, env.Store, id, true); err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirectURI, Scopes: []string{"REPO_READ"},
		Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/login/oauth/authorize", TokenURL: env.URL + "/login/oauth/access_token"}}
	b := env.Browser("alice", "alice-password")
	back, err := b.Authorize(conf.AuthCodeURL("s1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range b.Pages {
		if strings.Contains(page, `name="decision"`) {
			t.Fatal("a trusted client's user was shown the consent page")
		}
	}
	if _, err := conf.Exchange(ctx, back.Query().Get("code")); err != nil {
		t.Fatal(err)
	}
	fams, _, err := env.Store.ListFamiliesByUser(ctx, alice.ID, time.Now(), store.Page{})
	if err != nil || len(fams) != 1 || fams[0].Family.ClientID != id {
		t.Fatalf("the trusted client's grant is not listed: %v %v", fams, err)
	}
	// prompt=consent asks all the same.
	b2 := env.Browser("alice", "alice-password")
	if _, err := b2.Authorize(conf.AuthCodeURL("s2", oauth2.SetAuthURLParam("prompt", "consent"))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(b2.Pages, ""), `name="decision"`) {
		t.Error("prompt=consent did not show the consent page for a trusted client")
	}
	pub, _ := env.Client(admin.NewClient{Name: "CLI", RedirectURIs: []string{"http://127.0.0.1/cb"}, Public: true})
	if _, err := admin.SetClientTrusted(ctx, env.Store, pub, true); err == nil {
		t.Error("a public client was made trusted")
	}
}
