package rp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"latchkey/internal/admin"
	"latchkey/internal/secret"
	"latchkey/internal/server"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// mcpRemoteDir holds the package.json and lock file that pin mcp-remote,
// the stdio-to-remote MCP bridge that Claude Desktop, Cursor and Windsurf
// document for remote servers with OAuth; .ci/run runs `npm ci` there.
const (
	mcpRemoteDir     = "testdata/mcp-remote"
	mcpRemoteVersion = "0.15.1"
)

// latchkeyMCPTools are the tools Latchkey's /mcp serves (internal/mcp).
var latchkeyMCPTools = []string{"list_branches", "list_commits", "list_projects", "list_repositories", "read_file", "search_files"}

// requireMCPRemote returns the node binary, with mcp-remote installed from
// the lock file at the pinned version, or skips the test (fails under
// CI=true).
func requireMCPRemote(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not installed")
	}
	installed := func() bool {
		var pkg struct{ Version string }
		b, err := os.ReadFile(filepath.Join(mcpRemoteDir, "node_modules", "mcp-remote", "package.json"))
		return err == nil && json.Unmarshal(b, &pkg) == nil && pkg.Version == mcpRemoteVersion
	}
	if installed() {
		return node
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing(t, "npm is not installed and %s/node_modules lacks mcp-remote %s", mcpRemoteDir, mcpRemoteVersion)
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = mcpRemoteDir
	if out, err := cmd.CombinedOutput(); err != nil || !installed() {
		missing(t, "npm ci in %s failed: %v\n%s", mcpRemoteDir, err, out)
	}
	return node
}

// TestMCPRemoteAtLatchkey runs mcp-remote (pinned in testdata/mcp-remote)
// the way an agent host runs it from its configuration (`npx mcp-remote
// {issuer}/mcp`): as a child process whose stdin and stdout carry the MCP
// JSON-RPC of the agent, which the test speaks. mcp-remote discovers
// Latchkey from the 401 of /mcp and gets itself a client: by RFC 7591
// registration (--registration open; nothing set up by hand), by a client
// ID metadata document (--client-metadata-url, registration off), or, the
// way left when registration is off or needs an initial access token,
// which mcp-remote cannot present, a client an administrator registered
// (--static-oauth-client-info). It prints the authorization URL, which the
// test opens in headless Chromium to sign in and approve, and receives the
// code on its own loopback callback. The agent then lists the tools and
// calls list_repositories; a second mcp-remote process reuses the tokens
// the first stored, without the browser. A registered client that
// Latchkey's cleanup deleted is registered again.
func TestMCPRemoteAtLatchkey(t *testing.T) {
	t.Run("dynamic registration", func(t *testing.T) { runMCPRemote(t, "registered") })
	t.Run("client ID metadata document", func(t *testing.T) { runMCPRemote(t, "metadata") })
	t.Run("administrator-registered client", func(t *testing.T) { runMCPRemote(t, "admin") })
}

func runMCPRemote(t *testing.T, registration string) {
	node := requireMCPRemote(t)
	var docs *clientDocs
	var so server.Options
	// Registration is off (Latchkey's default) but in the dynamic
	// registration run: the document, or the administrator's client, is
	// the only way in.
	var opts []testkit.Option
	switch registration {
	case "registered":
		opts = dynamicRegistrationOptions()
	case "metadata":
		docs = newClientDocs(t)
		so, opts = docs.options()
	}
	w := newMCPWorld(t, so, opts...)
	env := w.env
	requireLatchkeyMCP(t, env)
	meta := authServerMetadata(t, env)
	mcpURL := env.URL + "/mcp"

	// The callback mcp-remote serves: its default host and path, on a
	// port the test chooses (mcp-remote's second argument).
	port := freePort(t)
	redirectURI := fmt.Sprintf("http://localhost:%d/oauth/callback", port)
	args := []string{mcpURL, fmt.Sprint(port)}
	var docURL, adminID string
	switch registration {
	case "admin":
		// What an administrator does when registration is off or needs
		// an initial access token, which mcp-remote cannot present: a
		// public client with mcp-remote's callback, whose ID the person
		// passes with --static-oauth-client-info.
		adminID, _ = env.Client(admin.NewClient{Name: "mcp-remote", RedirectURIs: []string{redirectURI}, Public: true,
			Scopes: "read:repository offline_access"})
		args = append(args, "--static-oauth-client-info", fmt.Sprintf(`{"client_id":%q}`, adminID))
	case "registered":
		if meta.RegistrationEndpoint == "" {
			lacking(t, "the authorization server metadata has no registration_endpoint (internal/register, with the policy open)")
		}
	case "metadata":
		if !meta.ClientIDMetadataDocSupported {
			lacking(t, "the authorization server metadata lacks client_id_metadata_document_supported: true (internal/clientmeta)")
		}
		docURL = docs.publish("mcp-remote", redirectURI)
		args = append(args, "--client-metadata-url", docURL)
	}

	configDir := t.TempDir()
	person := newChromiumUser(t, "alice", "alice-password")
	start := time.Now()

	r := startMCPRemote(t, node, configDir, args...)
	authURL := r.authorizationURL()
	person.authorize(authURL, redirectURI)
	// mcp-remote answers its callback once it has exchanged the code.
	if page := callbackPage(person); !strings.Contains(page, "Authorization successful") {
		t.Errorf("mcp-remote's callback page says %q, want \"Authorization successful\"", page)
	}
	tools, listed := r.agentSession()
	if len(person.Consents) != 1 {
		t.Fatalf("consent pages %d, want 1", len(person.Consents))
	}
	t.Logf("the consent page: %s", person.Consents[0])
	if unverified := strings.Contains(strings.ToLower(person.Consents[0]), "not verified by the administrator"); unverified != (registration != "admin") {
		t.Errorf("the consent page for a %s client says \"not verified by the administrator\": %v, want %v", registration, unverified, registration != "admin")
	}
	if !slices.Equal(tools, latchkeyMCPTools) {
		t.Errorf("tools/list through mcp-remote: %q, want %q", tools, latchkeyMCPTools)
	}
	checkListed(t, "list_repositories through mcp-remote", listed)

	// The client mcp-remote used, in the store.
	clientID := docURL
	if registration == "registered" {
		var info struct {
			ClientID string `json:"client_id"`
		}
		readMCPRemoteFile(t, configDir, "client_info.json", &info)
		clientID = info.ClientID
		if clientID == "" || strings.HasPrefix(clientID, "https://") {
			t.Errorf("mcp-remote's client_info.json names client_id %q; want one Latchkey assigned by registration", clientID)
		}
	}
	if registration == "admin" {
		clientID = adminID
	}
	wantOrigin := map[string]store.ClientOrigin{"registered": store.OriginRegistered, "metadata": store.OriginMetadata, "admin": store.OriginAdmin}[registration]
	c, err := env.Store.GetClient(context.Background(), clientID)
	if err != nil || c.Origin != wantOrigin || !slices.Contains(c.RedirectURIs, redirectURI) {
		t.Errorf("the client %q in the store: origin %q, redirect URIs %q (%v); want origin %q and %s", clientID, c.Origin, c.RedirectURIs, err, wantOrigin, redirectURI)
	}
	if registration == "metadata" && docs.fetches() == 0 {
		t.Error("Latchkey never fetched mcp-remote's client ID metadata document")
	}

	// The token mcp-remote holds is alice's, for this client, bound to
	// {issuer}/mcp (RFC 8707), and refused by the REST API.
	var tokens struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	readMCPRemoteFile(t, configDir, "tokens.json", &tokens)
	tok, fam, err := env.Store.GetToken(context.Background(), secret.TokenKey(tokens.AccessToken))
	if err != nil {
		t.Fatalf("the access token mcp-remote stored is not in Latchkey's store: %v", err)
	}
	want := []string{mcpURL}
	if !slices.Equal(fam.Resources, want) || !slices.Equal(tok.Resources, want) || fam.ClientID != clientID || fam.UserID != w.alice {
		t.Errorf("the stored family: resources %q, client %q, user %d; the token's resources %q; want %q, %q, %d", fam.Resources, fam.ClientID, fam.UserID, tok.Resources, want, clientID, w.alice)
	}
	if tokens.RefreshToken == "" {
		t.Error("mcp-remote holds no refresh token")
	}
	if status, e := bearerStatus(t, http.MethodGet, env.URL+"/rest/api/latest/projects/PRIV/repos/"+mcpVisibleRepo, tokens.AccessToken); status != http.StatusUnauthorized || e != "invalid_token" {
		t.Errorf("mcp-remote's token at the REST API: %d %q, want 401 invalid_token", status, e)
	}
	r.quit()

	// The agent host starts mcp-remote again: it uses the stored tokens,
	// asks nobody and registers nothing new.
	r2 := startMCPRemote(t, node, configDir, args...)
	_, again := r2.agentSession()
	checkListed(t, "list_repositories through a second mcp-remote", again)
	if strings.Contains(r2.stderr.String(), "Please authorize") || len(person.Consents) != 1 {
		t.Errorf("the second mcp-remote asked for authorization again:\n%s", r2.stderr.String())
	}
	r2.quit()
	if registration == "registered" {
		// Latchkey's cleanup deletes a self-registered client unused for
		// --registration-unused-after, and its grants with it. mcp-remote
		// then meets a refused token and an unknown client: it registers
		// again and asks the person again.
		if err := env.Store.DeleteClient(context.Background(), clientID); err != nil {
			t.Fatal(err)
		}
		r3 := startMCPRemote(t, node, configDir, args...)
		person.authorize(r3.authorizationURL(), redirectURI)
		_, l3 := r3.agentSession()
		checkListed(t, "list_repositories after the client was deleted", l3)
		var info struct {
			ClientID string `json:"client_id"`
		}
		readMCPRemoteFile(t, configDir, "client_info.json", &info)
		if c, err := env.Store.GetClient(context.Background(), info.ClientID); err != nil || info.ClientID == clientID || c.Origin != store.OriginRegistered || len(person.Consents) != 2 {
			t.Errorf("after its client was deleted mcp-remote uses client %q (origin %q, %v; the deleted one was %q) after %d consents; want a new registration and a second consent",
				info.ClientID, c.Origin, err, clientID, len(person.Consents))
		}
		r3.quit()
	}
	t.Logf("%s: mcp-remote %s signed in and listed through Latchkey's /mcp in %v", registration, mcpRemoteVersion, time.Since(start).Round(time.Millisecond))
}

// mcpRemote is a running mcp-remote: the test is the agent host at the
// other end of its stdin and stdout.
type mcpRemote struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *testkit.SyncBuffer
	nextID int
}

// startMCPRemote runs `node node_modules/.bin/mcp-remote args...` in
// mcpRemoteDir with its store in configDir (MCP_REMOTE_CONFIG_DIR, and
// HOME for anything else it writes). BROWSER=true makes xdg-open succeed
// without opening anything, so mcp-remote neither spawns a real browser
// nor falls back to others; it prints the authorization URL on stderr
// either way, and the test's Chromium plays the browser.
func startMCPRemote(t *testing.T, node, configDir string, args ...string) *mcpRemote {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join("node_modules", ".bin", "mcp-remote")}, args...)...)
	cmd.Dir = mcpRemoteDir
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "HOME", "MCP_REMOTE_CONFIG_DIR", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "MCP_REMOTE_CONFIG_DIR="+configDir, "HOME="+configDir, "BROWSER=true")
	r := &mcpRemote{t: t, cmd: cmd, stderr: &testkit.SyncBuffer{}}
	cmd.Stderr = r.stderr
	var err error
	if r.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = r.stop()
		}
		if t.Failed() {
			t.Logf("mcp-remote %s stderr:\n%s", strings.Join(args, " "), r.stderr.String())
		}
	})
	r.lines = bufio.NewScanner(stdout)
	r.lines.Buffer(make([]byte, 1<<20), 1<<20)
	return r
}

// authorizationURL waits for the URL mcp-remote prints for the person
// ("Please authorize this client by visiting:" and the URL on the next
// line) and for its callback server to listen, and returns the URL.
func (r *mcpRemote) authorizationURL() string {
	r.t.Helper()
	const marker = "Please authorize this client by visiting:\n"
	// When mcp-remote starts with tokens that turn out to be refused, it
	// prints the URL before its callback server listens: a person is
	// never that quick, but the test's browser is.
	const listening = "OAuth callback server running at"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out := r.stderr.String()
		if _, rest, ok := strings.Cut(out, marker); ok && strings.Contains(out, listening) {
			if u, _, ok := strings.Cut(rest, "\n"); ok {
				return strings.TrimSpace(u)
			}
		}
		if r.cmd.ProcessState != nil || strings.Contains(out, "Fatal error") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatal("mcp-remote printed no authorization URL")
	return ""
}

// rpc sends one JSON-RPC request (or, with notify, a notification) on
// mcp-remote's stdin and, for a request, returns the result of the
// response with its id, skipping the notifications and requests the
// server sends meanwhile. A JSON-RPC error fails the test.
func (r *mcpRemote) rpc(method string, params any, notify bool) json.RawMessage {
	r.t.Helper()
	msg := map[string]any{"jsonrpc": "2.0", "method": method}
	if params != nil {
		msg["params"] = params
	}
	if !notify {
		r.nextID++
		msg["id"] = r.nextID
	}
	b, err := json.Marshal(msg)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.stdin.Write(append(b, '\n')); err != nil {
		r.t.Fatalf("mcp-remote: write %s: %v", method, err)
	}
	if notify {
		return nil
	}
	for r.lines.Scan() {
		var resp struct {
			ID     *int            `json:"id"`
			Method string          `json:"method"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.lines.Bytes(), &resp); err != nil {
			r.t.Fatalf("mcp-remote wrote %q on stdout: %v", r.lines.Text(), err)
		}
		if resp.Method != "" || resp.ID == nil || *resp.ID != r.nextID {
			continue // a notification or a request of the server's
		}
		if resp.Error != nil {
			r.t.Fatalf("%s through mcp-remote: JSON-RPC error %d %s", method, resp.Error.Code, resp.Error.Message)
		}
		return resp.Result
	}
	err = r.cmd.Wait()
	r.t.Fatalf("mcp-remote closed its stdout before answering %s (%v)", method, err)
	return nil
}

// agentSession is what an agent host does first: initialize,
// notifications/initialized, tools/list, then one tools/call of
// list_repositories. It returns the tool names, sorted, and the call's
// result.
func (r *mcpRemote) agentSession() ([]string, mcpCall) {
	r.t.Helper()
	var init struct {
		ProtocolVersion string `json:"protocolVersion"`
		ServerInfo      struct {
			Name string `json:"name"`
		} `json:"serverInfo"`
	}
	raw := r.rpc("initialize", map[string]any{
		"protocolVersion": "2025-06-18",
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "latchkey-test-agent", "version": "1.0.0"},
	}, false)
	if err := json.Unmarshal(raw, &init); err != nil || init.ServerInfo.Name != "latchkey" {
		r.t.Fatalf("initialize through mcp-remote answered %s (%v), want Latchkey's server", raw, err)
	}
	r.rpc("notifications/initialized", nil, true)
	var list struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(r.rpc("tools/list", map[string]any{}, false), &list); err != nil {
		r.t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	var call mcpCall
	raw = r.rpc("tools/call", map[string]any{"name": mcpListTool, "arguments": map[string]any{}}, false)
	if err := json.Unmarshal(raw, &call.Result); err != nil {
		r.t.Fatalf("tools/call answered %s: %v", raw, err)
	}
	return names, call
}

// quit closes mcp-remote's stdin, as an agent host does when it stops a
// server, and waits for it to exit, so that its callback port is free.
func (r *mcpRemote) quit() {
	r.t.Helper()
	if err := r.stop(); err != nil {
		r.t.Errorf("mcp-remote: %v", err)
	}
}

// stop closes mcp-remote's stdin and waits for it to exit; one still
// running after 5 seconds (waiting for a callback that will not come) is
// killed.
func (r *mcpRemote) stop() error {
	_ = r.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
		return fmt.Errorf("did not exit when its stdin closed; killed")
	}
}

// callbackPage returns the text of the page the person's browser shows at
// the callback, waiting for it to load.
func callbackPage(person *chromiumUser) string {
	var text string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		text, err = chromedp.Run(person.ctx, chromedp.Text(chromedp.CSS("body")))
		if err == nil && strings.TrimSpace(text) != "" {
			break
		}
	}
	return strings.TrimSpace(text)
}

// readMCPRemoteFile decodes the one file of mcp-remote's store in
// configDir whose name ends in _name ({server hash}_name).
func readMCPRemoteFile(t *testing.T, configDir, name string, v any) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(configDir, "mcp-remote-v*", "*_"+name))
	if len(matches) != 1 {
		t.Fatalf("mcp-remote's store %s holds %d files named *_%s, want 1", configDir, len(matches), name)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", matches[0], err)
	}
}

// TestDocsMCPRemoteIsTheTestedOne: the mcp-remote that docs/agents.md's
// tested configuration names is the version testdata/mcp-remote pins and
// TestMCPRemoteAtLatchkey runs.
func TestDocsMCPRemoteIsTheTestedOne(t *testing.T) {
	doc, err := os.ReadFile("../../docs/agents.md")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile(filepath.Join(mcpRemoteDir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	if got := pkg.Dependencies["mcp-remote"]; got != mcpRemoteVersion {
		t.Errorf("%s/package.json pins mcp-remote %q, want exactly %s", mcpRemoteDir, got, mcpRemoteVersion)
	}
	_, section, _ := strings.Cut(string(doc), "## Tested configuration")
	section, _, _ = strings.Cut(section, "\n## ")
	if !strings.Contains(section, `"mcp-remote@`+mcpRemoteVersion+`", "https://code.example.com/mcp"`) {
		t.Errorf("docs/agents.md's tested configuration does not run mcp-remote@%s against https://code.example.com/mcp", mcpRemoteVersion)
	}
	for _, v := range regexp.MustCompile(`mcp-remote@([0-9][0-9.]*[0-9])`).FindAllStringSubmatch(section, -1) {
		if v[1] != mcpRemoteVersion {
			t.Errorf("docs/agents.md names mcp-remote@%s; the tested one is %s", v[1], mcpRemoteVersion)
		}
	}
}
