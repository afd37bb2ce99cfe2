package rp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// signedInBrowser is a testkit browser for env whose Latchkey session (of
// user, with a sid, as the sign-in page starts one) is already in its
// cookie jar, with room for the relying party's cookies too.
func signedInBrowser(t *testing.T, env *testkit.Env, user store.User) (*testkit.Browser, store.Session) {
	t.Helper()
	b := env.Browser(user.Username, "")
	jar, _ := cookiejar.New(nil)
	b.Client.Jar = jar
	value := secret.New(secret.SessionPrefix)
	now := env.Clock.Now()
	s := store.Session{ID: secret.Hash(value), UserID: user.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		SID: secret.NewID(), AMR: []string{"pwd"}, ACR: "urn:latchkey:acr:pwd"}
	if err := env.Store.CreateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(env.URL)
	jar.SetCookies(base, []*http.Cookie{{Name: "latchkey_session", Value: value, Path: "/"}})
	return b, s
}

// step sends one GET with the browser's cookies, as a browser (Accept
// text/html), following no redirect.
func step(t *testing.T, b *testkit.Browser, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// apacheSignIn signs the browser in to mod_auth_openidc: the protected
// page sends it to Latchkey, the browser (already signed in there)
// approves, and mod_auth_openidc redeems the code.
func apacheSignIn(t *testing.T, b *testkit.Browser, base string) {
	t.Helper()
	status, loc := step(t, b, base+"/protected/claims")
	if status != http.StatusFound {
		t.Fatalf("the protected page answered %d, want a redirect to Latchkey", status)
	}
	cb, err := b.Authorize(loc)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	status, loc = step(t, b, cb.String())
	if status != http.StatusFound || !strings.HasSuffix(loc, "/protected/claims") {
		t.Fatalf("mod_auth_openidc's callback answered %d to %q", status, loc)
	}
	if status, _ := step(t, b, base+"/protected/claims"); status != http.StatusOK {
		t.Fatalf("signed in to mod_auth_openidc, the page answers %d", status)
	}
}

// TestApacheModAuthOpenIDCLogout: mod_auth_openidc (Debian) signs out
// through Latchkey's end_session_endpoint: its logout URL
// (redirect_uri?logout=URL) sends the browser to the endpoint with the ID
// token as hint and its post-logout URI; Latchkey ends its own session
// without asking (the hint names it) and sends the browser on to the
// registered post-logout URI. Then back-channel: signed in again, the
// person signs out at Latchkey (its sign-out for all sessions), Latchkey
// posts a logout token to mod_auth_openidc's back-channel endpoint
// (redirect_uri?logout=backchannel), which verifies it and ends its own
// session: the protected page sends the browser to Latchkey again.
func TestApacheModAuthOpenIDCLogout(t *testing.T) {
	apache := requireApache(t)
	env := testkit.New(t, func(c *config.Config) {
		c.BackchannelLogout.AllowedHosts = "127.0.0.1"
		c.BackchannelLogout.PollInterval = 100 * time.Millisecond
	})
	t.Cleanup(env.Server.StartLogouts(context.Background()))
	alice := env.User("alice", "alice-password")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	bye := base + "/signed-out.html"
	id, sec := env.Client(admin.NewClient{Name: "Apache mod_auth_openidc",
		RedirectURIs: []string{base + "/protected/redirect_uri"}, Scopes: "openid profile email",
		PostLogoutRedirectURIs: []string{bye}, BackchannelLogoutURI: base + "/protected/redirect_uri?logout=backchannel"})
	startApache(t, apache, apacheConfig{Port: port, Issuer: env.URL, ClientID: id, ClientSecret: sec,
		Passphrase: "test-only-" + sec})

	// RP-initiated logout.
	b, sess := signedInBrowser(t, env, alice)
	apacheSignIn(t, b, base)
	status, loc := step(t, b, base+"/protected/redirect_uri?logout="+url.QueryEscape(bye))
	if status != http.StatusFound || !strings.HasPrefix(loc, env.URL+"/login/oauth/logout?") {
		t.Fatalf("mod_auth_openidc's logout answered %d to %q, want Latchkey's end_session_endpoint", status, loc)
	}
	end, _ := url.Parse(loc)
	if end.Query().Get("id_token_hint") == "" || end.Query().Get("post_logout_redirect_uri") != bye {
		t.Errorf("mod_auth_openidc's end-session request: %s", end.RawQuery)
	}
	status, loc = step(t, b, end.String())
	if status != http.StatusFound || !strings.HasPrefix(loc, bye) {
		t.Fatalf("Latchkey's end_session_endpoint answered %d to %q, want the post-logout URI", status, loc)
	}
	if _, err := env.Store.GetSession(context.Background(), sess.ID); err == nil {
		t.Fatal("Latchkey's session is still there")
	}
	if status, loc := step(t, b, base+"/protected/claims"); status != http.StatusFound || !strings.HasPrefix(loc, env.URL) {
		t.Fatalf("after logout the protected page answered %d to %q, want a redirect to Latchkey", status, loc)
	}

	// Back-channel logout.
	b, sess = signedInBrowser(t, env, alice)
	apacheSignIn(t, b, base)
	if err := env.Server.Logouts().SessionEnded(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, loc := step(t, b, base+"/protected/claims")
		if status == http.StatusFound && strings.HasPrefix(loc, env.URL) {
			break // mod_auth_openidc ended its session
		}
		if time.Now().After(deadline) {
			ds, _, _ := env.Store.ListLogouts(context.Background(), id, store.Page{Limit: 10})
			t.Fatalf("mod_auth_openidc still serves the page (%d) after the back-channel logout; deliveries: %+v", status, ds)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Two tokens went out, one per ended session (the first when the
	// RP-initiated logout ended Latchkey's session), each accepted once.
	ds, _, err := env.Store.ListLogouts(context.Background(), id, store.Page{Limit: 10})
	if err != nil || len(ds) != 2 {
		t.Fatalf("deliveries %+v (%v), want two", ds, err)
	}
	for _, d := range ds {
		if d.State != store.DeliveryDelivered || d.ResponseStatus != http.StatusOK || d.Attempts != 1 {
			t.Errorf("delivery %+v, want delivered with 200 at the first attempt", d)
		}
	}
	if ds[0].SID != sess.SID {
		t.Errorf("the last token's sid is %q, want the session's %q", ds[0].SID, sess.SID)
	}
}
