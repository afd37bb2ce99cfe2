package e2e

import (
	"testing"

	"golang.org/x/oauth2"
)

// TestUnsupportedAuthorizationFeaturesAreRefusedNotIgnored: request
// objects and response modes other than query are answered with OpenID
// Connect Core's error codes at the client's redirect URI, with state and
// iss, before anyone is asked to sign in or consent.
func TestUnsupportedAuthorizationFeaturesAreRefusedNotIgnored(t *testing.T) {
	f := newFixture(t)
	conf := f.config(dialects[1], f.confID, f.confSecret, "REPO_READ")
	for _, c := range []struct{ param, value, code string }{
		{"request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6IlJFUE9fV1JJVEUifQ.", "request_not_supported"},
		{"request_uri", "https://rp.example.com/request.jwt", "request_uri_not_supported"},
		{"response_mode", "form_post", "invalid_request"},
		{"response_mode", "fragment", "invalid_request"},
	} {
		t.Run(c.param+"="+c.value, func(t *testing.T) {
			b := f.env.Browser("alice", "alice-password")
			cb, err := b.Authorize(conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam(c.param, c.value)))
			if err != nil {
				t.Fatal(err)
			}
			q := cb.Query()
			if q.Get("error") != c.code || q.Get("state") != "st-1" || q.Get("iss") != f.env.URL || q.Has("code") || len(b.Pages) != 0 {
				t.Fatalf("%s=%s answered %s after %d pages, want error %s with state and iss before any page", c.param, c.value, cb, len(b.Pages), c.code)
			}
		})
	}
	// response_mode=query is what the server does anyway.
	f.authorize(t, f.env.Browser("alice", "alice-password"), conf, oauth2.SetAuthURLParam("response_mode", "query"))
}
