package web

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext feeds arbitrary post-login destinations to the open-redirect
// guard: whatever it keeps must stay on this server when a browser
// resolves it against the server's URL.
func FuzzSafeNext(f *testing.F) {
	for _, seed := range []string{"/", "/login/oauth/authorize?x=1", "//evil.example", "/\\evil.example", "https://evil.example", "/%2F%2Fevil", "\t//evil", "/a\r\nLocation: x"} {
		f.Add(seed)
	}
	base, _ := url.Parse("https://code.example.com/login")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !strings.HasPrefix(got, "/") {
			t.Fatalf("safeNext(%q) = %q", next, got)
		}
		u, err := url.Parse(got)
		if err != nil {
			return // http.Redirect would refuse it; it cannot leave the host either
		}
		if resolved := base.ResolveReference(u); resolved.Host != base.Host || resolved.Scheme != base.Scheme {
			t.Fatalf("safeNext(%q) = %q leaves the server for %s", next, got, resolved)
		}
	})
}
