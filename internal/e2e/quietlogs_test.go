package e2e

import (
	"net/http"
	"strings"
	"testing"

	"latchkey/internal/testkit"
)

// TestCallersFaultsAreNotLoggedAsErrors: requests without a credential,
// with a foreign or malformed one, or with a token that is not valid, are
// the caller's fault: each is answered (401 or 400) and logged as an
// ordinary request, never at ERROR, on the REST API of both dialects, on
// userinfo and on git.
func TestCallersFaultsAreNotLoggedAsErrors(t *testing.T) {
	var logs testkit.SyncBuffer
	env := testkit.NewWithLog(t, &logs)
	env.Project("PRJ", false)
	env.Repo("PRJ", "app", false)
	// What the node said while starting (a test node runs on 127.0.0.1,
	// where passkeys are off, and says so) is not a caller's doing.
	started := len(logs.String())
	paths := []string{"/api/v1/user", "/rest/api/latest/projects/PRJ/repos", "/login/oauth/userinfo",
		"/scm/prj/app.git/info/refs?service=git-upload-pack"}
	headers := []string{"", "Digest username=x", "Bearer", "Bearer not-a-token", "Basic !!!", "token lka_nothing"}
	for _, p := range paths {
		for _, h := range headers {
			req, _ := http.NewRequest(http.MethodGet, env.URL+p, nil)
			if h != "" {
				req.Header.Set("Authorization", h)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Errorf("GET %s with %q: %s", p, h, resp.Status)
			}
		}
	}
	for line := range strings.Lines(logs.String()[started:]) {
		if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
			t.Errorf("a caller's fault was logged as a server's: %s", line)
		}
	}
}
