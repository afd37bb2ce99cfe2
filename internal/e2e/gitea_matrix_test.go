package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"latchkey/internal/store"
)

// The Gitea dialect's routes have their own table in the matrix file,
// after the line "table gitea": the same scopes and user columns, one mark
// per route below. Each route is called with Gitea's "token" scheme.

// giteaRepoPath is the private repository of the matrix in Gitea's URLs.
const giteaRepoPath = "/api/v1/repos/PRJ/repo"

// giteaMatrixEndpoints are the marks of the Gitea table, in the file's
// order.
var giteaMatrixEndpoints = []matrixEndpoint{
	{'O', "GET organization", giteaGet("/api/v1/orgs/PRJ")},
	{'M', "GET organization member", giteaGet("/api/v1/orgs/PRJ/members/u-repo-read")},
	{'p', "GET organization permissions", giteaGet("/api/v1/users/u-repo-read/orgs/PRJ/permissions")},
	{'I', "GET repository by ID", func(m *matrix, t *testing.T, _ matrixCell, tok string) (bool, string) {
		return m.gitea(t, http.MethodGet, "/api/v1/repositories/"+strconv.FormatInt(m.repo(t).ID, 10), tok, nil)
	}},
	{'B', "GET branches", giteaGet(giteaRepoPath + "/branches")},
	{'b', "GET branch", giteaGet(giteaRepoPath + "/branches/main")},
	{'K', "GET commits", giteaGet(giteaRepoPath + "/commits")},
	{'k', "GET git commit", giteaGet(giteaRepoPath + "/git/commits/main")},
	{'T', "GET git tree", giteaGet(giteaRepoPath + "/git/trees/main?recursive=1")},
	{'F', "GET contents", giteaGet(giteaRepoPath + "/contents/README?ref=main")},
	{'D', "GET raw file", giteaGet(giteaRepoPath + "/raw/README?ref=main")},
	{'P', "GET pull requests", giteaGet(giteaRepoPath + "/pulls")},
	{'s', "GET statuses", giteaGet(giteaRepoPath + "/commits/main/statuses")},
	{'c', "GET combined status", giteaGet(giteaRepoPath + "/commits/main/status")},
	{'S', "POST status", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
		return m.gitea(t, http.MethodPost, giteaRepoPath+"/statuses/main", tok,
			map[string]any{"state": "success", "context": "matrix/" + c.id()})
	}},
	{'H', "GET hooks", giteaGet(giteaRepoPath + "/hooks")},
	{'h', "POST hook", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
		return m.gitea(t, http.MethodPost, giteaRepoPath+"/hooks", tok, map[string]any{
			"type": "gitea", "active": false, "config": map[string]string{"url": "https://ci.example/" + c.id(), "content_type": "json"}})
	}},
	{'E', "PATCH hook", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
		id := m.giteaHook(t, c)
		return m.gitea(t, http.MethodPatch, giteaRepoPath+"/hooks/"+strconv.FormatInt(id, 10), tok, map[string]any{"events": []string{"push"}})
	}},
	{'X', "DELETE hook", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
		id := m.giteaHook(t, c)
		return m.gitea(t, http.MethodDelete, giteaRepoPath+"/hooks/"+strconv.FormatInt(id, 10), tok, nil)
	}},
	{'Y', "GET hook deliveries", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
		id := m.giteaHook(t, c)
		return m.gitea(t, http.MethodGet, giteaRepoPath+"/hooks/"+strconv.FormatInt(id, 10)+"/deliveries", tok, nil)
	}},
}

func giteaGet(path string) func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
	return func(m *matrix, t *testing.T, _ matrixCell, tok string) (bool, string) {
		return m.gitea(t, http.MethodGet, path, tok, nil)
	}
}

// gitea calls a Gitea route with "Authorization: token …"; 2xx is
// allowed, 401/403/404 refused, anything else a broken cell.
func (m *matrix) gitea(t *testing.T, method, path, token string, body any) (bool, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, m.env.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	detail := fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return true, detail
	case slices.Contains([]int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound}, resp.StatusCode):
		return false, detail
	}
	return false, "UNEXPECTED STATUS " + detail
}

// giteaHook stores a Gitea hook on the matrix repository for one cell.
func (m *matrix) giteaHook(t *testing.T, c matrixCell) int64 {
	t.Helper()
	return m.storeHook(t, c, store.HookGitea)
}

// storeHook stores a hook of kind on the matrix repository for one cell.
func (m *matrix) storeHook(t *testing.T, c matrixCell, kind store.HookKind) int64 {
	t.Helper()
	repo := m.repo(t)
	now := time.Now()
	h, err := m.env.Store.CreateWebhook(t.Context(), store.Webhook{RepoID: repo.ID, Kind: kind,
		URL: "https://ci.example/" + c.id(), Events: []string{"push"}, Config: `{"content_type":"json"}`,
		CreatedAt: now, UpdatedAt: now})
	if err != nil {
		t.Fatalf("store a hook: %v", err)
	}
	return h.ID
}

// repo is the matrix repository's row.
func (m *matrix) repo(t *testing.T) store.Repo {
	t.Helper()
	repo, err := m.env.Store.GetRepo(t.Context(), "PRJ", "repo")
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// matrixTable reads table name of the matrix file (the lines after "table
// name", up to the next table): scope → user column → marks.
func matrixTable(t *testing.T, name string, marks int) (map[string]map[string]string, []string) {
	t.Helper()
	f, err := os.Open(matrixFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]map[string]string{}
	var scopes []string
	in := false
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 0 || strings.HasPrefix(fields[0], "#"):
			continue
		case fields[0] == "table":
			in = len(fields) == 2 && fields[1] == name
			continue
		case !in:
			continue
		case len(fields) != 1+len(matrixUsers):
			t.Fatalf("%s:%d: %d columns, want a scope and %d groups", matrixFile, line, len(fields), len(matrixUsers))
		case fields[0] == "scope":
			checkMatrixHeader(t, fields[1:])
			continue
		}
		row := map[string]string{}
		for i, u := range matrixUsers {
			if len(fields[1+i]) != marks || strings.Trim(fields[1+i], "+-") != "" {
				t.Fatalf("%s:%d: group %q must be %d marks of + and -", matrixFile, line, fields[1+i], marks)
			}
			row[u.column] = fields[1+i]
		}
		want[fields[0]] = row
		scopes = append(scopes, fields[0])
	}
	if len(scopes) == 0 {
		t.Fatalf("%s has no table %q", matrixFile, name)
	}
	return want, scopes
}

// TestGiteaPermissionMatrix checks the Gitea table of the matrix file the
// way TestPermissionMatrix checks the first: every scope against users of
// every permission level, on every route of the Gitea dialect that needs
// a repository or project permission.
func TestGiteaPermissionMatrix(t *testing.T) {
	want, scopes := matrixTable(t, "gitea", len(giteaMatrixEndpoints))
	newMatrix(t).checkTable(t, "table gitea", giteaMatrixEndpoints, want, scopes)
}
