package logout

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"latchkey/internal/oidc"
	"latchkey/internal/store"
	"latchkey/internal/store/sqlite"
)

const issuer = "https://latchkey.example"

// fixture is a Service on a fresh SQLite store with one client that
// registered a post-logout URI.
type fixture struct {
	svc  *Service
	st   store.Store
	keys *oidc.Keys
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "logout.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := oidc.NewKeys(st, make([]byte, 32), oidc.ES256, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.EnsureKey(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"rp", "other"} {
		if _, err := st.CreateClient(ctx, store.Client{ID: id, Name: "RP " + id, SecretHash: "x",
			RedirectURIs: []string{"https://" + id + ".example/cb"}, CreatedAt: time.Now(),
			PostLogoutRedirectURIs: []string{"https://" + id + ".example/bye", "https://" + id + ".example/bye?x=1"}}); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{svc: New(Config{Store: st, Keys: keys, Issuer: issuer}), st: st, keys: keys}
}

// hint signs an ID token with the fixture's key.
func (f *fixture) hint(t testing.TB, c map[string]any) string {
	t.Helper()
	s, _, err := f.keys.Signer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	expired := f.hint(t, map[string]any{"iss": issuer, "sub": "7", "aud": "rp", "sid": "s1", "exp": 1})
	twoAud := f.hint(t, map[string]any{"iss": issuer, "sub": "7", "aud": []string{"rp", "other"}})
	req, err := f.svc.Check(context.Background(), url.Values{"id_token_hint": {expired},
		"post_logout_redirect_uri": {"https://rp.example/bye?x=1"}, "state": {"a b"}})
	if err != nil {
		t.Fatalf("an expired hint of ours: %v", err)
	}
	if req.Client == nil || req.Client.ID != "rp" || req.HintSubject != "7" || req.HintSID != "s1" {
		t.Fatalf("request %+v", req)
	}
	if got := req.Destination(); got != "https://rp.example/bye?state=a+b&x=1" {
		t.Errorf("destination %q", got)
	}
	if !req.Matches(store.Session{UserID: 7, SID: "s1"}) || req.Matches(store.Session{UserID: 7, SID: "s2"}) ||
		req.Matches(store.Session{UserID: 8, SID: "s1"}) {
		t.Error("Matches does not compare user and sid")
	}
	// Two audiences: the client must say which it is.
	if _, err := f.svc.Check(context.Background(), url.Values{"id_token_hint": {twoAud},
		"post_logout_redirect_uri": {"https://rp.example/bye"}}); !isRefusal(err) {
		t.Errorf("two audiences without client_id: %v", err)
	}
	if req, err := f.svc.Check(context.Background(), url.Values{"id_token_hint": {twoAud}, "client_id": {"other"},
		"post_logout_redirect_uri": {"https://other.example/bye"}}); err != nil || req.Client.ID != "other" {
		t.Errorf("two audiences with client_id: %+v %v", req, err)
	}
	for name, form := range map[string]url.Values{
		"prefix of a registered URI": {"client_id": {"rp"}, "post_logout_redirect_uri": {"https://rp.example/by"}},
		"another client's URI":       {"client_id": {"rp"}, "post_logout_redirect_uri": {"https://other.example/bye"}},
		"no client":                  {"post_logout_redirect_uri": {"https://rp.example/bye"}},
		"garbage hint":               {"id_token_hint": {"a.b.c"}},
		"unsigned hint":              {"id_token_hint": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiI3In0."}},
		"hint of another issuer":     {"id_token_hint": {f.hint(t, map[string]any{"iss": "https://evil.example", "sub": "7", "aud": "rp"})}},
		"hint without sub":           {"id_token_hint": {f.hint(t, map[string]any{"iss": issuer, "aud": "rp"})}},
		"long parameter":             {"state": {strings.Repeat("s", maxParam+1)}},
		"repeated client_id":         {"client_id": {"rp", "other"}},
	} {
		if _, err := f.svc.Check(context.Background(), form); !isRefusal(err) {
			t.Errorf("%s: err %v, want a refusal", name, err)
		}
	}
	// Unknown parameters are ignored, repeated or long (RFC 6749 §3.1).
	if _, err := f.svc.Check(context.Background(), url.Values{"utm": {"1", "2"}, "ui_locales": {strings.Repeat("x", maxParam+1)}}); err != nil {
		t.Errorf("unknown parameters: %v", err)
	}
	// Nothing at all is a valid request: sign out, no redirect.
	if req, err := f.svc.Check(context.Background(), url.Values{}); err != nil || req.Destination() != "" || req.Client != nil {
		t.Errorf("empty request: %+v %v", req, err)
	}
}

func isRefusal(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

func TestCheckRegistrationURIs(t *testing.T) {
	for _, c := range []struct {
		uri      string
		insecure bool
		ok       bool
	}{
		{"https://rp.example/bye", false, true},
		{"http://127.0.0.1:8080/bye", false, true},
		{"http://rp.example/bye", false, false},
		{"http://rp.example/bye", true, true},
		{"https://rp.example/bye#x", false, false},
		{"com.example.app:/bye", false, true},
		{"javascript:alert(1)", false, false},
	} {
		if err := CheckPostLogoutURI(c.uri, c.insecure); (err == nil) != c.ok {
			t.Errorf("post-logout %q (insecure %v): %v", c.uri, c.insecure, err)
		}
	}
	for _, c := range []struct {
		uri      string
		insecure bool
		ok       bool
	}{
		{"https://rp.example/bcl", false, true},
		{"http://localhost:9/bcl", false, true},
		{"http://rp.example/bcl", false, false},
		{"http://rp.example/bcl", true, true},
		{"https://u:p@rp.example/bcl", false, false},
		{"https://rp.example/bcl#f", false, false},
		{"com.example.app:/bcl", false, false},
		{"/relative", false, false},
	} {
		if err := CheckBackchannelURI(c.uri, c.insecure); (err == nil) != c.ok {
			t.Errorf("back-channel %q (insecure %v): %v", c.uri, c.insecure, err)
		}
	}
}

func TestTokenClaims(t *testing.T) {
	f := newFixture(t)
	raw, err := f.svc.Token(context.Background(), store.LogoutDelivery{ClientID: "rp", Subject: "7", SID: "s1", JTI: "j"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if typ := tok.Headers[0].ExtraHeaders["typ"]; typ != "logout+jwt" {
		t.Errorf("typ %v", typ)
	}
	var c map[string]any
	if err := f.keys.VerifyOwn(context.Background(), raw, &c); err != nil {
		t.Fatal(err)
	}
	if c["iss"] != issuer || c["aud"] != "rp" || c["sub"] != "7" || c["sid"] != "s1" || c["jti"] != "j" || c["nonce"] != nil {
		t.Errorf("claims %v", c)
	}
	ev, _ := c["events"].(map[string]any)
	if _, ok := ev[BackchannelEvent]; !ok || len(ev) != 1 {
		t.Errorf("events %v", c["events"])
	}
	if c["exp"].(float64)-c["iat"].(float64) != DefaultTokenTTL.Seconds() {
		t.Errorf("iat %v exp %v", c["iat"], c["exp"])
	}
}

// FuzzCheck feeds arbitrary end-session parameters to Check: it must
// answer with a request or an *Error, never panic, and never accept a
// post-logout URI the client did not register.
func FuzzCheck(f *testing.F) {
	fx := newFixture(f)
	good := fx.hint(f, map[string]any{"iss": issuer, "sub": "7", "aud": "rp", "sid": "s1"})
	f.Add(good, "rp", "https://rp.example/bye", "st")
	f.Add("a.b.c", "", "https://rp.example/bye", "")
	f.Add(good[:len(good)-3], "other", "https://other.example/bye?x=1", "x")
	f.Add("eyJhbGciOiJub25lIn0.e30.", "rp", "javascript:x", "")
	f.Add("", "r\x00p\xff", "https://rp.example/bye", "\x00")
	f.Fuzz(func(t *testing.T, hint, clientID, uri, state string) {
		form := url.Values{}
		for k, v := range map[string]string{"id_token_hint": hint, "client_id": clientID, "post_logout_redirect_uri": uri, "state": state} {
			if v != "" {
				form.Set(k, v)
			}
		}
		req, err := fx.svc.Check(context.Background(), form)
		if err != nil {
			if !isRefusal(err) {
				t.Fatalf("Check: %v (not a refusal)", err)
			}
			return
		}
		if uri != "" {
			if req.Client == nil || !contains(req.Client.PostLogoutRedirectURIs, uri) || req.RedirectURI != uri {
				t.Fatalf("accepted %q for %+v", uri, req.Client)
			}
			d, err := url.Parse(req.Destination())
			if err != nil || d.Scheme != "https" || !strings.HasSuffix(d.Host, ".example") {
				t.Fatalf("destination %q", req.Destination())
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
