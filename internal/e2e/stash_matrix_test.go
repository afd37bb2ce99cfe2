package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"latchkey/internal/store"
)

// The Bitbucket CI routes' permission matrix: the table "bitbucket-ci" of
// testdata/matrix.txt, read and checked like the main table, on the same
// node (newMatrix) with the same users and scopes.

// bbMatrixTable names the table in the matrix file.
const bbMatrixTable = "bitbucket-ci"

// bbMatrixEndpoints are the marks of each group of the table, in order.
// sha is the commit the matrix pushed to PRJ/repo.
func bbMatrixEndpoints(sha string) []matrixEndpoint {
	const repo = "/rest/api/1.0/projects/PRJ/repos/repo"
	get := func(mark byte, name, path string) matrixEndpoint {
		return matrixEndpoint{mark, name, func(m *matrix, t *testing.T, _ matrixCell, tok string) (bool, string) {
			return m.rest(t, http.MethodGet, path, tok, nil)
		}}
	}
	return []matrixEndpoint{
		get('B', "GET branches", repo+"/branches"),
		get('F', "GET raw file", repo+"/raw/README?at=main"),
		get('K', "GET commits", repo+"/commits"),
		{'T', "POST build status (repository)", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
			return m.rest(t, http.MethodPost, repo+"/commits/"+sha+"/builds", tok,
				map[string]any{"key": c.id(), "state": "SUCCESSFUL", "url": "https://ci.example.com/" + c.id()})
		}},
		{'L', "POST build status (legacy)", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
			return m.rest(t, http.MethodPost, "/rest/build-status/1.0/commits/"+sha, tok,
				map[string]any{"key": c.id(), "state": "FAILED", "url": "https://ci.example.com/" + c.id()})
		}},
		{'H', "POST webhook", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
			return m.rest(t, http.MethodPost, repo+"/webhooks", tok, map[string]any{"name": c.id(),
				"url": "https://ci.example.com/hook", "events": []string{"repo:refs_changed"}})
		}},
		get('I', "GET whoami", "/plugins/servlet/applinks/whoami"),
		{'Y', "GET webhook's latest delivery", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
			id := m.storeHook(t, c, store.HookBitbucket)
			return m.rest(t, http.MethodGet, repo+"/webhooks/"+strconv.FormatInt(id, 10)+"/latest", tok, nil)
		}},
		get('C', "GET compare changes", repo+"/compare/changes?from=main"),
	}
}

// TestBitbucketCIPermissionMatrix checks the routes of the CI loop
// (branches, files, commits, build statuses, webhooks, whoami) for every
// scope and user permission against the table bitbucket-ci.
func TestBitbucketCIPermissionMatrix(t *testing.T) {
	m := newMatrix(t)
	endpoints := bbMatrixEndpoints(strings.TrimSpace(m.git.must(m.work, "rev-parse", "HEAD")))
	want, scopes := matrixTable(t, bbMatrixTable, len(endpoints))
	m.checkTable(t, "table "+bbMatrixTable, endpoints, want, scopes)
}
