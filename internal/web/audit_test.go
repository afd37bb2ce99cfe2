package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// TestProtocolSideEventsAreAudited: the protocol core records a code
// presented twice, a rotated refresh token presented again, and a token
// revoked by its application (RFC 7009).
func TestProtocolSideEventsAreAudited(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	id, plain := env.Client(admin.NewClient{Name: "App", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ read:user"})
	conf := oauthConfig(env, id, plain)
	ctx := t.Context()

	c := code(t, env, conf, "alice")
	if _, err := conf.Exchange(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := conf.Exchange(ctx, c); err == nil {
		t.Fatal("a code was redeemed twice")
	}

	second := token(t, env, id, plain, "alice")
	stale := &oauth2.Token{RefreshToken: second.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
	if _, err := conf.TokenSource(ctx, stale).Token(); err != nil {
		t.Fatal(err)
	}
	if _, err := conf.TokenSource(ctx, stale).Token(); err == nil {
		t.Fatal("a rotated refresh token worked again")
	}

	third := token(t, env, id, plain, "alice")
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/login/oauth/revoke",
		strings.NewReader(url.Values{"token": {third.RefreshToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, plain)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %v %v", err, resp)
	}
	resp.Body.Close()

	seen := map[string]bool{}
	for _, e := range events(t, env.Store) {
		if e.ClientID == id {
			seen[string(e.Event)] = true
		}
		if e.Event == "token.revoked" && (e.Remote != "127.0.0.1" || e.UserID == 0) {
			t.Errorf("token.revoked event %+v, want the user and the remote address", e)
		}
	}
	for _, want := range []string{"code.reused", "refresh.reused", "token.revoked", "consent.granted"} {
		if !seen[want] {
			t.Errorf("no %s event for the client (saw %v)", want, seen)
		}
	}
}
