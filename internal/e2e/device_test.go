package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"latchkey/internal/admin"
	"latchkey/internal/oauth"
	"latchkey/internal/testkit"
)

const deviceGrants = "urn:ietf:params:oauth:grant-type:device_code refresh_token"

// deviceFixture is a node with alice (who may read PRIV) and a public
// device-capable client, as a command-line tool registers.
type deviceFixture struct {
	env  *testkit.Env
	id   string
	conf *oauth2.Config
}

func newDeviceFixture(t *testing.T) *deviceFixture {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	env.Project("PRIV", false)
	env.Repo("PRIV", "secret-repo", false)
	env.Grant("alice", admin.Target{Project: "PRIV"}, "PROJECT_READ")
	id, _ := env.Client(admin.NewClient{Name: "Terminal Tool", RedirectURIs: []string{"http://127.0.0.1/cb"},
		Public: true, GrantTypes: deviceGrants, Scopes: "REPO_READ openid profile"})
	conf := &oauth2.Config{ClientID: id, Scopes: []string{"REPO_READ"}, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: env.URL + "/login/device/code", TokenURL: env.URL + "/login/oauth/access_token",
		AuthStyle: oauth2.AuthStyleInParams,
	}}
	return &deviceFixture{env: env, id: id, conf: conf}
}

func TestDeviceGrantWithXOAuth2(t *testing.T) {
	f := newDeviceFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	da, err := f.conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	if da.VerificationURI != f.env.URL+"/login/device" || !strings.HasPrefix(da.VerificationURIComplete, da.VerificationURI+"?user_code=") {
		t.Fatalf("verification URIs: %q %q", da.VerificationURI, da.VerificationURIComplete)
	}
	if len(da.UserCode) != 9 || strings.ContainsAny(da.UserCode, "AEIOU01") {
		t.Fatalf("user code %q is not XXXX-XXXX of unambiguous letters", da.UserCode)
	}
	done := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond) // the tool is polling by now
		page, err := f.env.Browser("alice", "alice-password").Device(da.VerificationURIComplete)
		if err == nil && !strings.Contains(page, "Device connected") {
			err = errors.New("final page: " + page)
		}
		done <- err
	}()
	tok, err := f.conf.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("device access token: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("user side: %v", err)
	}
	status, _, body := apiGet(t, f.env.URL, "/rest/api/latest/projects/PRIV/repos", tok.AccessToken)
	if status != http.StatusOK || len(repoSlugs(body)) != 1 {
		t.Fatalf("API with the device token: %d %v", status, body)
	}
	// The device code is single use.
	status, body2 := postForm(t, f.env.URL+"/login/oauth/access_token", url.Values{
		"grant_type": {oauth.GrantDeviceCode}, "device_code": {da.DeviceCode}, "client_id": {f.id}})
	if status != http.StatusBadRequest || body2["error"] != "invalid_grant" {
		t.Fatalf("reused device code: %d %v", status, body2)
	}
	// The refresh token of a device grant works like any other.
	if _, err := f.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err != nil {
		t.Fatalf("refresh after device grant: %v", err)
	}
}

// startDevice asks for a device code over HTTP and returns the response.
func (f *deviceFixture) startDevice(t *testing.T) map[string]any {
	t.Helper()
	status, body := postForm(t, f.env.URL+"/login/device/code", url.Values{"client_id": {f.id}, "scope": {"REPO_READ"}})
	if status != http.StatusOK {
		t.Fatalf("device authorization: %d %v", status, body)
	}
	return body
}

func (f *deviceFixture) poll(t *testing.T, deviceCode string) (int, map[string]any) {
	t.Helper()
	return postForm(t, f.env.URL+"/rest/oauth2/latest/token", url.Values{
		"grant_type": {oauth.GrantDeviceCode}, "device_code": {deviceCode}, "client_id": {f.id}})
}

func TestDeviceGrantNegative(t *testing.T) {
	f := newDeviceFixture(t)
	t.Run("pending then slow_down when polling too fast", func(t *testing.T) {
		d := f.startDevice(t)
		code := d["device_code"].(string)
		if s, b := f.poll(t, code); s != http.StatusBadRequest || b["error"] != "authorization_pending" {
			t.Fatalf("first poll: %d %v", s, b)
		}
		if s, b := f.poll(t, code); s != http.StatusBadRequest || b["error"] != "slow_down" {
			t.Fatalf("immediate second poll: %d %v", s, b)
		}
		f.env.Clock.Advance(6 * time.Second) // the interval is now 10s
		if _, b := f.poll(t, code); b["error"] != "slow_down" {
			t.Fatalf("poll after 6s with a 10s interval: %v", b)
		}
		f.env.Clock.Advance(16 * time.Second)
		if _, b := f.poll(t, code); b["error"] != "authorization_pending" {
			t.Fatalf("poll after waiting: %v", b)
		}
	})
	t.Run("denied consent answers access_denied", func(t *testing.T) {
		d := f.startDevice(t)
		b := f.env.Browser("alice", "alice-password")
		b.Decision = "deny"
		page, err := b.Device(d["verification_uri_complete"].(string))
		if err != nil || !strings.Contains(page, "denied") {
			t.Fatalf("deny: %q %v", page, err)
		}
		if s, body := f.poll(t, d["device_code"].(string)); s != http.StatusBadRequest || body["error"] != "access_denied" {
			t.Fatalf("poll after deny: %d %v", s, body)
		}
	})
	t.Run("expired device code answers expired_token", func(t *testing.T) {
		d := f.startDevice(t)
		f.env.Clock.Advance(11 * time.Minute)
		if s, body := f.poll(t, d["device_code"].(string)); s != http.StatusBadRequest || body["error"] != "expired_token" {
			t.Fatalf("poll after expiry: %d %v", s, body)
		}
		b := f.env.Browser("alice", "alice-password")
		if _, err := b.Device(d["verification_uri_complete"].(string)); err == nil || !strings.Contains(err.Error(), "not valid or has expired") {
			t.Fatalf("entering an expired code: %v", err)
		}
	})
	t.Run("wrong user code is refused and guessing is throttled", func(t *testing.T) {
		b := f.env.Browser("alice", "alice-password")
		b.UserCode = "BBBB-BBBB"
		blockedAfter := 0
		for i := range 12 {
			_, err := b.Device(f.env.URL + "/login/device")
			if err != nil && strings.Contains(err.Error(), "Too many failed attempts") {
				blockedAfter = i
				break
			}
			if err == nil || !strings.Contains(err.Error(), "not valid") {
				t.Fatalf("wrong code attempt %d: %v", i, err)
			}
		}
		if blockedAfter == 0 {
			t.Fatal("guessing user codes was never throttled")
		}
		d := f.startDevice(t)
		b.UserCode = d["user_code"].(string) // even the right code waits now
		if _, err := b.Device(f.env.URL + "/login/device"); err == nil || !strings.Contains(err.Error(), "Too many failed attempts") {
			t.Fatalf("after 6 wrong codes: %v", err)
		}
	})
	t.Run("another client cannot poll the code", func(t *testing.T) {
		d := f.startDevice(t)
		otherID, _ := f.env.Client(admin.NewClient{Name: "Other", RedirectURIs: []string{"http://127.0.0.1/cb"}, Public: true, GrantTypes: deviceGrants})
		s, body := postForm(t, f.env.URL+"/login/oauth/access_token", url.Values{
			"grant_type": {oauth.GrantDeviceCode}, "device_code": {d["device_code"].(string)}, "client_id": {otherID}})
		if s != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("foreign poll: %d %v", s, body)
		}
	})
	t.Run("client not registered for the device grant", func(t *testing.T) {
		codeOnly, _ := f.env.Client(admin.NewClient{Name: "Web", RedirectURIs: []string{"http://127.0.0.1/cb"}, Public: true})
		s, body := postForm(t, f.env.URL+"/login/device/code", url.Values{"client_id": {codeOnly}})
		if s != http.StatusBadRequest || body["error"] != "unauthorized_client" {
			t.Fatalf("device authorization for a code-only client: %d %v", s, body)
		}
	})
}

func TestClientCredentialsActsAsServiceIdentity(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	env.Project("PRIV", false)
	env.Repo("PRIV", "secret-repo", false)
	env.Project("OTHER", false)
	env.Repo("OTHER", "hidden", false)
	env.Grant("alice", admin.Target{Project: "OTHER"}, "PROJECT_READ") // a user's permission never reaches the client
	id, secret := env.Client(admin.NewClient{Name: "CI Bot", RedirectURIs: []string{"https://ci.example.com/cb"},
		GrantTypes: "client_credentials", Scopes: "REPO_READ", DefaultScopes: "REPO_READ"})
	env.GrantClient(id, admin.Target{Repo: "PRIV/secret-repo"}, "REPO_READ")
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: env.URL + "/rest/oauth2/latest/token"}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	if tok.RefreshToken != "" {
		t.Fatal("client credentials issued a refresh token")
	}
	status, hdr, body := apiGet(t, env.URL, "/rest/api/latest/projects/PRIV/repos", tok.AccessToken)
	if status != http.StatusOK || len(repoSlugs(body)) != 1 || hdr.Get("X-AUSERNAME") != "client:"+id {
		t.Fatalf("service identity on its repo: %d %v %q", status, body, hdr.Get("X-AUSERNAME"))
	}
	if status, _, _ := apiGet(t, env.URL, "/rest/api/latest/projects/OTHER/repos", tok.AccessToken); status != http.StatusNotFound {
		t.Fatalf("service identity on a project only alice may read: %d", status)
	}
	// A public client, or one not registered for the grant, is refused.
	pub, _ := env.Client(admin.NewClient{Name: "CLI", RedirectURIs: []string{"http://127.0.0.1/cb"}, Public: true})
	s, b := postForm(t, env.URL+"/login/oauth/access_token", url.Values{"grant_type": {"client_credentials"}, "client_id": {pub}})
	if s != http.StatusBadRequest || b["error"] != "unauthorized_client" {
		t.Fatalf("public client: %d %v", s, b)
	}
	webID, webSecret := env.Client(admin.NewClient{Name: "Web", RedirectURIs: []string{"https://w.example.com/cb"}})
	s, b = postForm(t, env.URL+"/login/oauth/access_token", url.Values{"grant_type": {"client_credentials"}, "client_id": {webID}, "client_secret": {webSecret}})
	if s != http.StatusBadRequest || b["error"] != "unauthorized_client" {
		t.Fatalf("client not registered for client_credentials: %d %v", s, b)
	}
	// Scope beyond the registration is invalid_scope.
	cc.Scopes = []string{"REPO_WRITE"}
	if _, err := cc.Token(context.Background()); !isOAuthError(err, "invalid_scope") {
		t.Fatalf("client credentials beyond registered scopes: %v", err)
	}
}
