package rp

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/oidc"
	"latchkey/internal/testkit"
)

// TestApacheModAuthOpenIDCByIDTokenAlgorithm holds docs/gitea.md's advice
// on the ID-token algorithm to what Debian's mod_auth_openidc does with
// each: RS256 and ES256 sign the person in; EdDSA ID tokens it cannot
// verify, so the sign-in fails (its limitation, which the docs warn of).
// Should a later mod_auth_openidc verify EdDSA, this test fails and the
// warning can go.
func TestApacheModAuthOpenIDCByIDTokenAlgorithm(t *testing.T) {
	apache := requireApache(t)
	for _, c := range []struct {
		alg    string
		signIn bool
	}{{oidc.RS256, true}, {oidc.ES256, true}, {oidc.EdDSA, false}} {
		t.Run(c.alg, func(t *testing.T) {
			env := testkit.New(t, testkit.WithIDTokenAlg(c.alg))
			env.User("alice", "alice-password")
			port := freePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			id, secret := env.Client(admin.NewClient{Name: "Apache mod_auth_openidc",
				RedirectURIs: []string{base + "/protected/redirect_uri"}, Scopes: "openid profile email"})
			startApache(t, apache, apacheConfig{Port: port, Issuer: env.URL, ClientID: id, ClientSecret: secret,
				Passphrase: "test-only-" + secret})

			jar, _ := cookiejar.New(nil)
			onApache := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
				if !strings.HasPrefix(r.URL.String(), base) {
					return http.ErrUseLastResponse
				}
				return nil
			}}
			get := func(u string) (*http.Response, string) {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header.Set("Accept", "text/html") // as a browser: a redirect, not a 401
				resp, err := onApache.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp, string(b)
			}
			resp, _ := get(base + "/protected/claims")
			authorize := resp.Header.Get("Location")
			if !strings.HasPrefix(authorize, env.URL+"/") {
				t.Fatalf("the protected page: %s to %q, want Latchkey", resp.Status, authorize)
			}
			callback, err := env.Browser("alice", "alice-password").Authorize(authorize)
			if err != nil {
				t.Fatalf("sign-in at Latchkey: %v", err)
			}
			resp, body := get(callback.String())
			signedIn := resp.StatusCode == http.StatusOK && strings.Contains(body, "remote_user=alice\n")
			if !signedIn {
				t.Logf("%s: mod_auth_openidc answered %s: %s", c.alg, resp.Status, pageError(body))
			}
			if signedIn != c.signIn {
				t.Fatalf("%s ID tokens: signed in %v, want %v (%s):\n%.600s", c.alg, signedIn, c.signIn, resp.Status, body)
			}
		})
	}
}

// pageError is the error mod_auth_openidc's error page shows.
func pageError(body string) string {
	if _, rest, ok := strings.Cut(body, "<pre>"); ok {
		msg, _, _ := strings.Cut(rest, "</pre>")
		return msg
	}
	return body
}
