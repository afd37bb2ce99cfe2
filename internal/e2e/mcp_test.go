package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/resource"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// The MCP endpoint at /mcp, driven by the Go SDK's own client over real
// HTTP against a whole node, with tokens from the authorization-code flow
// in the scripted browser and repositories filled by git push.

// mcpFixture is a node with a private project PRJ holding the private
// repository PRJ/code (two branches, text, binary and large files), a
// public project OPEN with OPEN/docs, user alice who may read PRJ/code and
// user bob who may read nothing private.
type mcpFixture struct {
	*rsNode
	git   *rsGit
	first string // the first commit of PRJ/code's main
}

func newMCPFixture(t *testing.T, opts ...testkit.Option) *mcpFixture {
	t.Helper()
	f := &mcpFixture{rsNode: newRSNode(t, opts...), git: newGit(t)}
	f.env.User("alice", "alice-password")
	f.env.User("bob", "bob-password")
	f.env.Project("PRJ", false)
	code := f.env.Repo("PRJ", "code", false)
	f.env.Grant("alice", admin.Target{Repo: "PRJ/code"}, "REPO_READ")
	f.env.Project("OPEN", true)
	docs := f.env.Repo("OPEN", "docs", false)

	work := f.git.workTree("first commit")
	f.first = strings.TrimSpace(f.git.must(work, "rev-parse", "HEAD"))
	write := func(name string, content []byte) {
		t.Helper()
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cmd/tool/main.go", []byte("package main\n\nfunc main() {}\n"))
	write("docs/Guide.md", []byte("# Guide\n"))
	write("logo.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	write("big.txt", []byte(strings.Repeat("x", 1<<20+1)))
	f.git.must(work, "add", ".")
	f.git.must(work, "commit", "-q", "-m", "second commit\n\nwith a body")
	f.git.must(work, "push", "-q", f.env.Repos().Path(code), "HEAD:refs/heads/main")
	f.git.must(work, "checkout", "-q", "-b", "feature")
	write("feature.txt", []byte("a feature\n"))
	f.git.must(work, "add", ".")
	f.git.must(work, "commit", "-q", "-m", "feature commit")
	f.git.must(work, "push", "-q", f.env.Repos().Path(code), "HEAD:refs/heads/feature")
	f.git.must(f.git.workTree("public docs"), "push", "-q", f.env.Repos().Path(docs), "HEAD:refs/heads/main")
	return f
}

// browserToken runs the authorization-code flow with PKCE as user in the
// scripted browser (sign-in and consent) and exchanges the code, asking
// for the MCP endpoint's resource (RFC 8707) at both steps.
func (f *mcpFixture) browserToken(t *testing.T, user, password string, scopes ...string) string {
	t.Helper()
	conf := &oauth2.Config{ClientID: f.clientID, ClientSecret: f.secret, RedirectURL: redirectURI, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: f.env.URL + "/rest/oauth2/latest/authorize",
			TokenURL: f.env.URL + "/rest/oauth2/latest/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	mcp := oauth2.SetAuthURLParam("resource", resource.MCP(f.env.Server.Provider.Issuer()))
	cb, err := f.env.Browser(user, password).Authorize(conf.AuthCodeURL("mcp-state", oauth2.S256ChallengeOption(verifier), mcp))
	if err != nil {
		t.Fatalf("authorize %s: %v", user, err)
	}
	tok, err := conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier), mcp)
	if err != nil {
		t.Fatalf("exchange for %s: %v", user, err)
	}
	return tok.AccessToken
}

// bearerTransport adds the current token to every request; the token may
// change between requests of one session.
type bearerTransport struct{ token atomic.Value }

func (b *bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token.Load().(string))
	return http.DefaultTransport.RoundTrip(r)
}

// connect opens an MCP session with the Go SDK's client, sending token.
func (f *mcpFixture) connect(t *testing.T, token string) (*sdk.ClientSession, *bearerTransport) {
	t.Helper()
	bt := &bearerTransport{}
	bt.token.Store(token)
	client := sdk.NewClient(&sdk.Implementation{Name: "latchkey-e2e", Version: "1"}, nil)
	session, err := client.Connect(context.Background(), &sdk.StreamableClientTransport{
		Endpoint: f.env.URL + "/mcp", HTTPClient: &http.Client{Transport: bt}, MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { session.Close() })
	return session, bt
}

// call calls a tool and decodes its structured content into out (nil:
// not decoded); it fails the test on a protocol error or a tool error.
func call(t *testing.T, s *sdk.ClientSession, name string, args map[string]any, out any) string {
	t.Helper()
	res := callRaw(t, s, name, args)
	if res.IsError {
		t.Fatalf("%s %v: tool error: %s", name, args, text(res))
	}
	if out != nil {
		raw, err := json.Marshal(res.StructuredContent)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: structured content %s: %v", name, raw, err)
		}
	}
	return text(res)
}

func callRaw(t *testing.T, s *sdk.ClientSession, name string, args map[string]any) *sdk.CallToolResult {
	t.Helper()
	res, err := s.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return res
}

// toolError calls a tool that must answer with a tool error, and returns
// its text.
func toolError(t *testing.T, s *sdk.ClientSession, name string, args map[string]any) string {
	t.Helper()
	res := callRaw(t, s, name, args)
	if !res.IsError {
		t.Fatalf("%s %v succeeded, want a tool error: %s", name, args, text(res))
	}
	return text(res)
}

func text(res *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// user loads a user of the fixture.
func (f *mcpFixture) user(t *testing.T, name string) store.User {
	t.Helper()
	u, err := f.env.Store.GetUserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func onBothStores(t *testing.T, fn func(t *testing.T, opts ...testkit.Option)) {
	t.Run("sqlite", func(t *testing.T) { fn(t) })
	t.Run("postgres", func(t *testing.T) { fn(t, testkit.OnFreshPostgres(t)) })
}

func TestMCPRefusesRequestsWithoutALiveTokenAsRFC6750Says(t *testing.T) {
	f := newMCPFixture(t)
	init := map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "x", "version": "1"}}}
	for _, tc := range []struct{ name, method, token, wantError string }{
		{"no token, POST", http.MethodPost, "", ""},
		{"no token, GET", http.MethodGet, "", ""},
		{"unknown token", http.MethodPost, "lk_not-a-token", "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.method == http.MethodPost {
				body = init
			}
			resp := f.call(t, tc.method, "/mcp", tc.token, body)
			if resp.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", resp.status, resp.body)
			}
			ch := resp.header.Get("WWW-Authenticate")
			meta := `resource_metadata="` + f.env.URL + `/.well-known/oauth-protected-resource/mcp"`
			if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, meta) {
				t.Fatalf("WWW-Authenticate %q, want a Bearer challenge with %s", ch, meta)
			}
			if tc.token == "" && !strings.Contains(ch, `scope="read:repository"`) {
				t.Fatalf("WWW-Authenticate %q names no scope", ch)
			}
			if got := resp.json(t)["error"]; got != "invalid_token" {
				t.Fatalf("error %v, want invalid_token", got)
			}
			if tc.wantError != "" && !strings.Contains(resp.header.Get("WWW-Authenticate"), `error="`+tc.wantError+`"`) {
				t.Fatalf("challenge %q lacks error=%q", resp.header.Get("WWW-Authenticate"), tc.wantError)
			}
		})
	}
	t.Run("a token for the code-hosting resource", func(t *testing.T) {
		resp := f.call(t, http.MethodPost, "/mcp", f.token(t, f.user(t, "alice"), "REPO_READ"), init)
		if resp.status != http.StatusUnauthorized || resp.json(t)["error"] != "invalid_token" {
			t.Fatalf("status %d %s, want 401 invalid_token", resp.status, resp.body)
		}
	})
	t.Run("a Basic credential", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, f.env.URL+"/mcp", strings.NewReader("{}"))
		req.SetBasicAuth("alice", f.browserToken(t, "alice", "alice-password", "REPO_READ"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("Basic: status %d, challenge %q; want 401 with the Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("a token that cannot read repositories", func(t *testing.T) {
		for _, scopes := range [][]string{{"PUBLIC_REPOS"}, {"openid", "profile"}, {"read:user"}} {
			tok := f.browserToken(t, "alice", "alice-password", scopes...)
			resp := f.call(t, http.MethodPost, "/mcp", tok, init)
			if resp.status != http.StatusForbidden || resp.json(t)["error"] != "insufficient_scope" {
				t.Fatalf("%v: status %d %s, want 403 insufficient_scope", scopes, resp.status, resp.body)
			}
			if ch := resp.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, "read:repository") {
				t.Fatalf("%v: challenge %q", scopes, ch)
			}
		}
	})
}

func TestMCPToolsAnswerAsTheRESTAPIDecides(t *testing.T) {
	onBothStores(t, func(t *testing.T, opts ...testkit.Option) {
		f := newMCPFixture(t, opts...)
		alice, _ := f.connect(t, f.browserToken(t, "alice", "alice-password", "read:repository"))
		bob, _ := f.connect(t, f.browserToken(t, "bob", "bob-password", "REPO_READ"))

		t.Run("tools/list", func(t *testing.T) {
			res, err := alice.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range res.Tools {
				names = append(names, tool.Name)
				if tool.InputSchema == nil || tool.OutputSchema == nil || tool.Description == "" {
					t.Errorf("%s: no input or output schema or description", tool.Name)
				}
			}
			slices.Sort(names)
			want := []string{"list_branches", "list_commits", "list_projects", "list_repositories", "read_file", "search_files"}
			if !slices.Equal(names, want) {
				t.Fatalf("tools %v, want %v", names, want)
			}
		})

		t.Run("list_projects", func(t *testing.T) {
			var out struct {
				Projects []struct{ Key string }
				More     bool
			}
			txt := call(t, alice, "list_projects", nil, &out)
			if keys := projectKeys(out.Projects); !slices.Equal(keys, []string{"OPEN", "PRJ"}) || out.More {
				t.Fatalf("alice sees %v (more %v), want [OPEN PRJ]", keys, out.More)
			}
			if !strings.Contains(txt, "PRJ") {
				t.Fatalf("text rendering %q", txt)
			}
			call(t, bob, "list_projects", nil, &out)
			if keys := projectKeys(out.Projects); !slices.Equal(keys, []string{"OPEN"}) {
				t.Fatalf("bob sees %v, want [OPEN]", keys)
			}
			call(t, alice, "list_projects", map[string]any{"limit": 1}, &out)
			if keys := projectKeys(out.Projects); !slices.Equal(keys, []string{"OPEN"}) || !out.More {
				t.Fatalf("limit 1: %v more %v", keys, out.More)
			}
			call(t, alice, "list_projects", map[string]any{"limit": 1, "start": 1}, &out)
			if keys := projectKeys(out.Projects); !slices.Equal(keys, []string{"PRJ"}) || out.More {
				t.Fatalf("start 1: %v more %v", keys, out.More)
			}
			for _, args := range []map[string]any{{"limit": 501}, {"limit": -1}, {"start": -1}, {"limit": "ten"}} {
				toolError(t, alice, "list_projects", args)
			}
		})

		t.Run("list_repositories", func(t *testing.T) {
			var out struct{ Repositories []struct{ Repository string } }
			call(t, alice, "list_repositories", nil, &out)
			if got := repoNames(out.Repositories); !slices.Equal(got, []string{"OPEN/docs", "PRJ/code"}) {
				t.Fatalf("alice: %v", got)
			}
			call(t, bob, "list_repositories", nil, &out)
			if got := repoNames(out.Repositories); !slices.Equal(got, []string{"OPEN/docs"}) {
				t.Fatalf("bob: %v", got)
			}
			call(t, alice, "list_repositories", map[string]any{"project": "PRJ"}, &out)
			if got := repoNames(out.Repositories); !slices.Equal(got, []string{"PRJ/code"}) {
				t.Fatalf("alice in PRJ: %v", got)
			}
			hidden := toolError(t, bob, "list_repositories", map[string]any{"project": "PRJ"})
			missing := toolError(t, bob, "list_repositories", map[string]any{"project": "NOPE"})
			if hidden != strings.ReplaceAll(missing, "NOPE", "PRJ") || !strings.Contains(hidden, "does not exist") {
				t.Fatalf("hidden project %q, missing project %q: want the same words", hidden, missing)
			}
			toolError(t, alice, "list_repositories", map[string]any{"project": "PRJ/code"})
		})

		t.Run("list_branches", func(t *testing.T) {
			var out struct {
				DefaultBranch string `json:"default_branch"`
				Branches      []struct {
					Name, Commit string
					Default      bool
				}
			}
			txt := call(t, alice, "list_branches", map[string]any{"repository": "PRJ/code"}, &out)
			if out.DefaultBranch != "main" || len(out.Branches) != 2 || out.Branches[0].Name != "feature" ||
				out.Branches[1].Name != "main" || !out.Branches[1].Default || len(out.Branches[0].Commit) != 40 {
				t.Fatalf("branches %+v", out)
			}
			if !strings.Contains(txt, "main") || !strings.Contains(txt, "(default)") {
				t.Fatalf("text %q", txt)
			}
		})

		t.Run("list_commits", func(t *testing.T) {
			type commits struct {
				Commits []struct {
					SHA, Message string
					Parents      []string
					Author       struct{ Name, Email, Date string }
				}
				More bool
			}
			var out commits
			call(t, alice, "list_commits", map[string]any{"repository": "PRJ/code"}, &out)
			if len(out.Commits) != 2 || out.Commits[1].SHA != f.first || out.Commits[0].Message != "second commit\n\nwith a body\n" ||
				out.Commits[0].Author.Email != "test@example.com" || out.Commits[0].Parents[0] != f.first || out.More {
				t.Fatalf("main: %+v", out)
			}
			call(t, alice, "list_commits", map[string]any{"repository": "PRJ/code", "ref": "feature", "limit": 1}, &out)
			if len(out.Commits) != 1 || !strings.HasPrefix(out.Commits[0].Message, "feature commit") || !out.More {
				t.Fatalf("feature, limit 1: %+v", out)
			}
			call(t, alice, "list_commits", map[string]any{"repository": "PRJ/code", "ref": "feature", "start": 2}, &out)
			if len(out.Commits) != 1 || out.Commits[0].SHA != f.first {
				t.Fatalf("feature from 2: %+v", out)
			}
			call(t, alice, "list_commits", map[string]any{"repository": "PRJ/code", "path": "cmd"}, &out)
			if len(out.Commits) != 1 || !strings.HasPrefix(out.Commits[0].Message, "second commit") {
				t.Fatalf("path cmd: %+v", out)
			}
			call(t, alice, "list_commits", map[string]any{"repository": "PRJ/code", "ref": f.first[:8]}, &out)
			if len(out.Commits) != 1 {
				t.Fatalf("abbreviated SHA: %+v", out)
			}
			for _, args := range []map[string]any{
				{"repository": "PRJ/code", "limit": 101},
				{"repository": "PRJ/code", "ref": "no-such-branch"},
				{"repository": "PRJ/code", "ref": "main~1"},
				{"repository": "PRJ/code", "ref": "--all"},
				{"repository": "PRJ/code", "path": "../etc"},
				{"repository": "PRJ/code", "ref": "a\x00b"},
				{"repository": "PRJ"},
				{},
			} {
				toolError(t, alice, "list_commits", args)
			}
		})

		t.Run("read_file", func(t *testing.T) {
			var out struct {
				Commit, Path, Content string
				Size                  int64
			}
			txt := call(t, alice, "read_file", map[string]any{"repository": "PRJ/code", "path": "cmd/tool/main.go"}, &out)
			if out.Content != "package main\n\nfunc main() {}\n" || txt != out.Content || out.Size != int64(len(out.Content)) || len(out.Commit) != 40 {
				t.Fatalf("main.go: %+v, text %q", out, txt)
			}
			call(t, alice, "read_file", map[string]any{"repository": "PRJ/code", "ref": "feature", "path": "/feature.txt"}, &out)
			if out.Content != "a feature\n" || out.Path != "feature.txt" {
				t.Fatalf("feature.txt: %+v", out)
			}
			for args, want := range map[*map[string]any]string{
				{"repository": "PRJ/code", "path": "logo.png"}:                   "binary",
				{"repository": "PRJ/code", "path": "big.txt"}:                    "larger than the 1048576 bytes",
				{"repository": "PRJ/code", "path": "cmd"}:                        "not a file",
				{"repository": "PRJ/code", "path": "nothing.txt"}:                "does not exist",
				{"repository": "PRJ/code", "path": "feature.txt"}:                "does not exist",
				{"repository": "PRJ/code", "path": ""}:                           "path is empty",
				{"repository": "PRJ/code", "path": "README", "ref": "nope"}:      `ref "nope" does not exist`,
				{"repository": "PRJ/code/extra", "path": "README"}:               "PROJECT/slug",
				{"repository": "PRJ/code"}:                                       "path",
				{"repository": "PRJ/nothere", "path": "README"}:                  "Repository PRJ/nothere does not exist.",
				{"repository": "PRJ/code", "path": "README", "ref": "refs/../x"}: "not a valid name",
			} {
				if got := toolError(t, alice, "read_file", *args); !strings.Contains(got, want) {
					t.Errorf("read_file %v: %q, want it to say %q", *args, got, want)
				}
			}
		})

		t.Run("search_files", func(t *testing.T) {
			var out struct {
				Paths []string
				More  bool
			}
			for pattern, want := range map[string][]string{
				"*.go":          {"cmd/tool/main.go"},
				"guide":         {"docs/Guide.md"},
				"cmd/*/main.go": {"cmd/tool/main.go"},
				"*.txt":         {"big.txt"},
				"README":        {"README"},
				"nothing":       {},
			} {
				call(t, alice, "search_files", map[string]any{"repository": "PRJ/code", "pattern": pattern}, &out)
				if !slices.Equal(out.Paths, want) || out.More {
					t.Errorf("pattern %q: %v (more %v), want %v", pattern, out.Paths, out.More, want)
				}
			}
			call(t, alice, "search_files", map[string]any{"repository": "PRJ/code", "ref": "feature", "pattern": "*.txt", "limit": 1}, &out)
			if !slices.Equal(out.Paths, []string{"big.txt"}) || !out.More {
				t.Fatalf("feature *.txt limit 1: %+v", out)
			}
			for _, args := range []map[string]any{
				{"repository": "PRJ/code", "pattern": "["},
				{"repository": "PRJ/code", "pattern": ""},
				{"repository": "PRJ/code", "pattern": "*", "limit": 1001},
				{"repository": "PRJ/code"},
			} {
				toolError(t, alice, "search_files", args)
			}
		})

		t.Run("a private repository is to bob as one that does not exist", func(t *testing.T) {
			// Each tool with the arguments it takes, so that the answer is
			// the access decision's, not the argument validation's.
			extra := map[string]map[string]any{
				"list_branches": {}, "list_commits": {"path": "README"}, "read_file": {"path": "README"},
				"search_files": {"pattern": "READ"},
			}
			for _, tool := range []string{"list_branches", "list_commits", "read_file", "search_files"} {
				args := func(repo string) map[string]any {
					a := map[string]any{"repository": repo}
					maps.Copy(a, extra[tool])
					return a
				}
				hidden := toolError(t, bob, tool, args("PRJ/code"))
				missing := toolError(t, bob, tool, args("PRJ/nothere"))
				if hidden != strings.ReplaceAll(missing, "nothere", "code") || !strings.Contains(hidden, "does not exist") {
					t.Fatalf("%s: hidden %q, missing %q", tool, hidden, missing)
				}
			}
			var out struct{ Content string }
			call(t, bob, "read_file", map[string]any{"repository": "OPEN/docs", "path": "README"}, &out)
			if out.Content != "public docs\n" {
				t.Fatalf("public file %q", out.Content)
			}
		})

		t.Run("an unknown tool is a JSON-RPC error", func(t *testing.T) {
			_, err := alice.CallTool(context.Background(), &sdk.CallToolParams{Name: "delete_everything"})
			var rpc *jsonrpc.Error
			if !errors.As(err, &rpc) || rpc.Code != jsonrpc.CodeInvalidParams || !strings.Contains(rpc.Message, "delete_everything") {
				t.Fatalf("unknown tool: %v, want JSON-RPC error %d", err, jsonrpc.CodeInvalidParams)
			}
		})
	})
}

func projectKeys(ps []struct{ Key string }) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Key)
	}
	return out
}

func repoNames(rs []struct{ Repository string }) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Repository)
	}
	return out
}

func TestMCPDecidesOnEveryCallWithTheCallerOfThatRequest(t *testing.T) {
	onBothStores(t, func(t *testing.T, opts ...testkit.Option) {
		f := newMCPFixture(t, opts...)
		aliceToken := f.browserToken(t, "alice", "alice-password", "REPO_READ")
		bobToken := f.browserToken(t, "bob", "bob-password", "REPO_READ")
		session, bt := f.connect(t, aliceToken)
		readme := map[string]any{"repository": "PRJ/code", "path": "README"}
		var out struct{ Content string }
		call(t, session, "read_file", readme, &out)
		if out.Content != "first commit\n" {
			t.Fatalf("README %q", out.Content)
		}

		// The same client session, another token: the next call is bob's.
		bt.token.Store(bobToken)
		if got := toolError(t, session, "read_file", readme); !strings.Contains(got, "Repository PRJ/code does not exist.") {
			t.Fatalf("bob through alice's session: %q", got)
		}
		bt.token.Store(aliceToken)
		call(t, session, "read_file", readme, &out)

		// The permission taken away: the very next call is refused.
		f.env.Revoke("alice", admin.Target{Repo: "PRJ/code"}, "REPO_READ")
		if got := toolError(t, session, "read_file", readme); !strings.Contains(got, "Repository PRJ/code does not exist.") {
			t.Fatalf("after the revocation: %q", got)
		}
		var repos struct{ Repositories []struct{ Repository string } }
		call(t, session, "list_repositories", nil, &repos)
		if got := repoNames(repos.Repositories); !slices.Equal(got, []string{"OPEN/docs"}) {
			t.Fatalf("after the revocation alice lists %v", got)
		}
	})
}
