package e2e

import (
	"net/http"
	"strings"
	"testing"

	"latchkey/internal/admin"
)

// TestGiteaAnswersBadRequestsInItsOwnWords sends the Gitea routes what a
// careless or hostile client might: every answer is a 4xx with Gitea's
// error body, never a 500.
func TestGiteaAnswersBadRequestsInItsOwnWords(t *testing.T) {
	f := newGiteaFixture(t)
	f.env.Repo("PRJ", "empty", false)
	f.env.Grant("alice", admin.Target{Repo: "PRJ/empty"}, "REPO_READ")
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"a NUL byte in a contents path", "GET", "/api/v1/repos/PRJ/code/contents/a%00b", nil, 400},
		{"invalid UTF-8 in a raw path", "GET", "/api/v1/repos/PRJ/code/raw/%ff?ref=main", nil, 400},
		{"ref given twice", "GET", "/api/v1/repos/PRJ/code/contents/README?ref=main&ref=feature/x", nil, 400},
		{"a missing file", "GET", "/api/v1/repos/PRJ/code/contents/nothing?ref=main", nil, 404},
		{"a ref that is git revision syntax", "GET", "/api/v1/repos/PRJ/code/contents/README?ref=main~1", nil, 404},
		{"a ref that looks like an option", "GET", "/api/v1/repos/PRJ/code/raw/README?ref=--output=x", nil, 404},
		{"a raw file on HEAD", "GET", "/api/v1/repos/PRJ/code/raw/HEAD/docs/guide.md", nil, 200},
		{"a raw file on a tag-less, branch-less path is on the default branch", "GET", "/api/v1/repos/PRJ/code/raw/docs/guide.md", nil, 200},
		{"a raw file at an abbreviated commit", "GET", "/api/v1/repos/PRJ/code/raw/{first7}/README", nil, 200},
		{"a directory as a raw file", "GET", "/api/v1/repos/PRJ/code/raw/docs?ref=main", nil, 404},
		{"a path climbing out of the tree is cleaned", "GET", "/api/v1/repos/PRJ/code/raw/..%2F..%2FREADME?ref=main", nil, 200},
		{"a missing commit", "GET", "/api/v1/repos/PRJ/code/git/commits/0123456789abcdef0123456789abcdef01234567", nil, 404},
		{"a missing branch in the history", "GET", "/api/v1/repos/PRJ/code/commits?sha=nope", nil, 404},
		{"a NUL byte in the history's path", "GET", "/api/v1/repos/PRJ/code/commits?path=a%00b", nil, 400},
		{"a NUL byte in the history's revision", "GET", "/api/v1/repos/PRJ/code/commits?sha=a%00b", nil, 404},
		{"a NUL byte in a branch name", "GET", "/api/v1/repos/PRJ/code/branches/a%00b", nil, 404},
		{"a NUL byte in a status ref", "GET", "/api/v1/repos/PRJ/code/commits/a%00b/status", nil, 404},
		{"the history of a file", "GET", "/api/v1/repos/PRJ/code/commits?path=docs/guide.md", nil, 200},
		{"a page that is no number", "GET", "/api/v1/repos/PRJ/code/branches?page=x", nil, 400},
		{"the history of an empty repository", "GET", "/api/v1/repos/PRJ/empty/commits", nil, 409},
		{"the branches of an empty repository", "GET", "/api/v1/repos/PRJ/empty/branches", nil, 200},
		{"the contents of an empty repository", "GET", "/api/v1/repos/PRJ/empty/contents", nil, 404},
		{"a raw file of an empty repository", "GET", "/api/v1/repos/PRJ/empty/raw/README", nil, 404},
		{"a tree of a missing commit", "GET", "/api/v1/repos/PRJ/code/git/trees/nope", nil, 404},
		{"a hook ID that is no number", "GET", "/api/v1/repos/PRJ/code/hooks/x", nil, 404},
		{"a repository ID that is no number", "GET", "/api/v1/repositories/x", nil, 404},
		{"a status body that is not JSON", "POST", "/api/v1/repos/PRJ/code/statuses/main", "state=success", 400},
		{"a status with a javascript: target", "POST", "/api/v1/repos/PRJ/code/statuses/main",
			map[string]string{"state": "success", "target_url": "javascript:alert(1)"}, 422},
		{"a status of the wrong type", "POST", "/api/v1/repos/PRJ/code/statuses/main", map[string]any{"state": 7}, 400},
		{"a hook with an authorization header", "POST", "/api/v1/repos/PRJ/code/hooks", map[string]any{"type": "gitea",
			"config": map[string]string{"url": "https://ci.example/", "content_type": "json"}, "authorization_header": "Bearer x"}, 422},
		{"a form hook", "POST", "/api/v1/repos/PRJ/code/hooks", map[string]any{"type": "gitea",
			"config": map[string]string{"url": "https://ci.example/", "content_type": "form"}}, 422},
		{"a hook with a file URL", "POST", "/api/v1/repos/PRJ/code/hooks", map[string]any{"type": "gitea",
			"config": map[string]string{"url": "file:///etc/passwd", "content_type": "json"}}, 422},
		{"a member of a hidden project", "GET", "/api/v1/orgs/NOPE/members/alice", nil, 404},
		{"a member who does not exist", "GET", "/api/v1/orgs/PRJ/members/nobody", nil, 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := strings.ReplaceAll(c.path, "{first7}", f.first[:7])
			resp := f.call(t, c.method, path, f.alice, c.body)
			if resp.status != c.status {
				t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, resp.status, c.status, resp.body)
			}
			if c.status >= 400 {
				body := resp.json(t)
				if msg, _ := body["message"].(string); msg == "" || body["url"] == nil || strings.Contains(msg, "gitrepo") {
					t.Fatalf("not Gitea's error body: %s", resp.body)
				}
			}
		})
	}
	// A body that is not JSON at all, as a form.
	req, _ := http.NewRequest(http.MethodPost, f.env.URL+"/api/v1/repos/PRJ/code/statuses/main", strings.NewReader("state=success"))
	req.Header.Set("Authorization", "token "+f.alice)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("a form body: %d", resp.StatusCode)
	}
}
