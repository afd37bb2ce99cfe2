package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"latchkey/internal/testkit"
)

// TestEndSessionPostTooLargeSaysSo: a POST to the end_session endpoints
// whose form is over the 64 KiB limit is refused with 413 and a message
// that names the size, not the generic "could not be read".
func TestEndSessionPostTooLargeSaysSo(t *testing.T) {
	env := testkit.New(t)
	for _, path := range []string{"/login/oauth/logout", "/rest/oauth2/latest/logout"} {
		body := strings.Repeat("state=x&", 20000)
		resp, err := http.Post(env.URL+path, "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(page), "The sign-out request is too large.") {
			t.Errorf("POST %s with %d bytes: %d, want 413 saying the request is too large: %.400s", path, len(body), resp.StatusCode, page)
		}
	}
}
