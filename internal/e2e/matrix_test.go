package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/store"
)

// matrixFile is the expected permission matrix, written once for people
// to read: one line per scope, one group of marks per user permission.
const matrixFile = "testdata/matrix.txt"

// matrixUsers are the column groups of the matrix: a user name and the
// permission that user holds.
var matrixUsers = []struct {
	column string
	target admin.Target
}{
	{"none", admin.Target{}},
	{"REPO_READ", admin.Target{Repo: "PRJ/repo"}},
	{"REPO_WRITE", admin.Target{Repo: "PRJ/repo"}},
	{"REPO_ADMIN", admin.Target{Repo: "PRJ/repo"}},
	{"PROJECT_ADMIN", admin.Target{Project: "PRJ"}},
	{"ADMIN", admin.Target{Global: true}},
	{"SYS_ADMIN", admin.Target{Global: true}},
}

// matrixEndpoint is one mark of a group: it runs one request with a token
// and reports whether it was allowed, and what happened, for messages.
type matrixEndpoint struct {
	mark byte
	name string
	run  func(m *matrix, t *testing.T, cell matrixCell, token string) (bool, string)
}

// matrixEndpoints are the marks of each group, in the file's order.
var matrixEndpoints = []matrixEndpoint{
	{'R', "GET repository", func(m *matrix, t *testing.T, _ matrixCell, tok string) (bool, string) {
		return m.rest(t, http.MethodGet, "/rest/api/latest/projects/PRJ/repos/repo", tok, nil)
	}},
	{'C', "git clone", (*matrix).clone},
	{'P', "git push", (*matrix).push},
	{'A', "PUT repository permissions", func(m *matrix, t *testing.T, _ matrixCell, tok string) (bool, string) {
		return m.rest(t, http.MethodPut, "/rest/api/latest/projects/PRJ/repos/repo/permissions/users?name=bystander&permission=REPO_READ", tok, nil)
	}},
	{'N', "POST repository in project", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
		return m.rest(t, http.MethodPost, "/rest/api/latest/projects/PRJ/repos", tok, map[string]any{"name": "new " + c.id()})
	}},
	{'U', "GET admin users", func(m *matrix, t *testing.T, _ matrixCell, tok string) (bool, string) {
		return m.rest(t, http.MethodGet, "/rest/api/latest/admin/users", tok, nil)
	}},
	{'S', "GET admin signing keys (SYSTEM_ADMIN)", func(m *matrix, t *testing.T, _ matrixCell, tok string) (bool, string) {
		return m.rest(t, http.MethodGet, "/rest/api/latest/admin/signing-keys", tok, nil)
	}},
	{'W', "PUT current user", func(m *matrix, t *testing.T, c matrixCell, tok string) (bool, string) {
		return m.rest(t, http.MethodPut, "/rest/api/latest/users", tok, map[string]any{"displayName": "Matrix " + c.user})
	}},
}

// matrixCell is one group of marks: a scope and a user column.
type matrixCell struct{ scope, user string }

// id names the cell in branch and repository names.
func (c matrixCell) id() string {
	return strings.NewReplacer(":", "-", "_", "-").Replace(strings.ToLower(c.scope + "-" + c.user))
}

// expectedMatrix reads the matrix file: scope → user column → marks.
func expectedMatrix(t *testing.T) (map[string]map[string]string, []string) {
	t.Helper()
	f, err := os.Open(matrixFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]map[string]string{}
	var scopes []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if fields[0] == "table" {
			break // the tables of further endpoints (matrixTable) follow
		}
		if len(fields) != 1+len(matrixUsers) {
			t.Fatalf("%s:%d: %d columns, want a scope and %d groups", matrixFile, line, len(fields), len(matrixUsers))
		}
		if fields[0] == "scope" {
			checkMatrixHeader(t, fields[1:])
			continue
		}
		row := map[string]string{}
		for i, u := range matrixUsers {
			if len(fields[1+i]) != len(matrixEndpoints) || strings.Trim(fields[1+i], "+-") != "" {
				t.Fatalf("%s:%d: group %q must be %d marks of + and -", matrixFile, line, fields[1+i], len(matrixEndpoints))
			}
			row[u.column] = fields[1+i]
		}
		want[fields[0]] = row
		scopes = append(scopes, fields[0])
	}
	return want, scopes
}

func checkMatrixHeader(t *testing.T, columns []string) {
	t.Helper()
	for i, u := range matrixUsers {
		if columns[i] != u.column {
			t.Fatalf("%s: column %d is %q, the test creates %q", matrixFile, i+1, columns[i], u.column)
		}
	}
}

// matrix is the node the matrix runs on.
type matrix struct {
	*rsNode
	git   *rsGit
	work  string // a working repository with a commit to push
	users map[string]store.User

	mu     sync.Mutex
	actual map[string]map[string][]byte
}

func newMatrix(t *testing.T) *matrix {
	m := &matrix{rsNode: newRSNode(t), git: newGit(t), users: map[string]store.User{},
		actual: map[string]map[string][]byte{}}
	m.env.Project("PRJ", false)
	repo := m.env.Repo("PRJ", "repo", false)
	m.env.User("bystander", "bystander-password")
	for _, u := range matrixUsers {
		name := "u-" + strings.ToLower(strings.ReplaceAll(u.column, "_", "-"))
		m.users[u.column] = m.env.User(name, name+"-password")
		if u.column != "none" {
			m.env.Grant(name, u.target, u.column)
		}
	}
	m.work = m.git.workTree("matrix seed")
	m.git.must(m.work, "push", "-q", m.env.Repos().Path(repo), "HEAD:refs/heads/main")
	return m
}

// rest calls the API; 2xx is allowed, 401/403/404 refused, anything else
// is a broken cell.
func (m *matrix) rest(t *testing.T, method, path, token string, body any) (bool, string) {
	resp := m.call(t, method, path, token, body)
	detail := fmt.Sprintf("%s %s: %d %s", method, path, resp.status, strings.TrimSpace(string(resp.body)))
	switch {
	case resp.status >= 200 && resp.status < 300:
		return true, detail
	case slices.Contains([]int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound}, resp.status):
		return false, detail
	}
	return false, "UNEXPECTED STATUS " + detail
}

func (m *matrix) clone(t *testing.T, _ matrixCell, token string) (bool, string) {
	dir := filepath.Join(t.TempDir(), "clone")
	out, err := m.git.run("", "clone", "-q", m.gitURL(token, "PRJ", "repo"), dir)
	return err == nil, "git clone: " + strings.TrimSpace(out)
}

func (m *matrix) push(_ *testing.T, c matrixCell, token string) (bool, string) {
	out, err := m.git.run(m.work, "push", "-q", m.gitURL(token, "PRJ", "repo"), "HEAD:refs/heads/"+c.id())
	return err == nil, "git push: " + strings.TrimSpace(out)
}

// record notes what the server did in one cell.
func (m *matrix) record(c matrixCell, marks []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.actual[c.scope] == nil {
		m.actual[c.scope] = map[string][]byte{}
	}
	m.actual[c.scope][c.user] = marks
}

// TestPermissionMatrix checks every scope of both vocabularies against
// users of every permission level, on one endpoint per level, against
// testdata/matrix.txt. A mismatch names the cell; the matrix the server
// actually answered is printed in the file's format at the end.
func TestPermissionMatrix(t *testing.T) {
	want, scopes := expectedMatrix(t)
	newMatrix(t).checkTable(t, "the first table", matrixEndpoints, want, scopes)
}

// checkTable checks every cell of a table of the matrix file (want, for
// the scopes in the file's order) against endpoints, one mark each, and
// prints the table the server answered when a cell is wrong.
func (m *matrix) checkTable(t *testing.T, table string, endpoints []matrixEndpoint, want map[string]map[string]string, scopes []string) {
	t.Run("cells", func(t *testing.T) {
		for _, s := range scopes {
			t.Run(s, func(t *testing.T) {
				t.Parallel()
				for _, u := range matrixUsers {
					m.checkCell(t, matrixCell{scope: s, user: u.column}, want[s][u.column], endpoints)
				}
			})
		}
	})
	if t.Failed() {
		t.Logf("the server answered this table (compare with %s, %s):\n%s", matrixFile, table, m.format(scopes))
	}
}

// checkCell mints a token for the cell and runs every endpoint with it.
func (m *matrix) checkCell(t *testing.T, c matrixCell, want string, endpoints []matrixEndpoint) {
	token := m.token(t, m.users[c.user], c.scope)
	marks := make([]byte, len(endpoints))
	for i, e := range endpoints {
		allowed, detail := e.run(m, t, c, token)
		marks[i] = '-'
		if allowed {
			marks[i] = '+'
		}
		if marks[i] != want[i] || strings.HasPrefix(detail, "UNEXPECTED") {
			t.Errorf("cell scope %s × user %s × %c %s: matrix says %s, server %s\n\t%s",
				c.scope, c.user, e.mark, e.name, verdictWord(want[i]), verdictWord(marks[i]), detail)
		}
	}
	m.record(c, marks)
}

func verdictWord(mark byte) string {
	if mark == '+' {
		return "allowed"
	}
	return "refused"
}

// format prints the actual matrix like the file.
func (m *matrix) format(scopes []string) string {
	var b strings.Builder
	line := func(first string, groups func(column string) string) {
		row := fmt.Sprintf("%-20s", first)
		for _, u := range matrixUsers {
			row += fmt.Sprintf("%-15s", groups(u.column))
		}
		b.WriteString(strings.TrimRight(row, " ") + "\n")
	}
	line("scope", func(column string) string { return column })
	for _, s := range scopes {
		line(s, func(column string) string { return string(m.actual[s][column]) })
	}
	return b.String()
}
