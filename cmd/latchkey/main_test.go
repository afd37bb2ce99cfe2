package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cli runs the command in-process and returns exit code, stdout and stderr.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %q: %v", s, err)
	}
	return m
}

func TestAdminCommandsJSON(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sub", "lk.db") // parent directory does not exist yet
	code, out, stderr := cli(t, "s3cret-password\n", "user", "create", "--db", db, "--username", "bob", "--email", "bob@example.com", "--password-stdin", "--json")
	if code != 0 {
		t.Fatalf("user create: %d %s", code, stderr)
	}
	if m := decode(t, out); m["username"] != "bob" || m["id"] == nil || m["password"] != nil {
		t.Fatalf("user create output: %v", m)
	}
	code, out, _ = cli(t, "", "client", "create", "--db", db, "--name", "CI", "--redirect-uri", "https://ci.example.com/cb",
		"--redirect-uri", "http://127.0.0.1/cb", "--scopes", "REPO_READ REPO_WRITE", "--default-scopes", "REPO_READ", "--json")
	m := decode(t, out)
	if code != 0 || m["client_id"] == "" || !strings.HasPrefix(fmt.Sprint(m["client_secret"]), "lks_") {
		t.Fatalf("client create: %d %v", code, m)
	}
	code, out, _ = cli(t, "", "client", "create", "--db", db, "--name", "CLI", "--redirect-uri", "com.example.app:/cb", "--public", "--json")
	if m := decode(t, out); code != 0 || m["client_secret"] != nil {
		t.Fatalf("public client create: %d %v", code, m)
	}
	steps := [][]string{
		{"project", "create", "--key", "PRJ", "--name", "Project"},
		{"repo", "create", "--project", "PRJ", "--slug", "code"},
		{"permission", "grant", "--user", "bob", "--repo", "PRJ/code", "--permission", "REPO_WRITE"},
		{"permission", "revoke", "--user", "bob", "--repo", "PRJ/code", "--permission", "REPO_WRITE"},
		{"permission", "grant", "--user", "bob", "--global", "--permission", "PROJECT_CREATE"},
		{"migrate"},
	}
	dataDir := t.TempDir()
	for _, s := range steps {
		code, out, stderr := cli(t, "", append(s, "--db", db, "--data-dir", dataDir, "--json")...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", s, code, stderr)
		}
		if m := decode(t, out); s[0] == "repo" {
			head := filepath.Join(dataDir, "repos", fmt.Sprint(m["id"])+".git", "HEAD")
			if _, err := os.Stat(head); err != nil {
				t.Fatalf("repo create made no bare git repository: %v", err)
			}
		}
	}
}

func TestAdminCommandErrorsExitNonZero(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lk.db")
	cli(t, "", "user", "create", "--db", db, "--username", "bob")
	cases := map[string][]string{
		"duplicate user":          {"user", "create", "--username", "BOB"},
		"bad user name":           {"user", "create", "--username", "../x"},
		"http redirect":           {"client", "create", "--name", "x", "--redirect-uri", "http://example.com/cb"},
		"fragment redirect":       {"client", "create", "--name", "x", "--redirect-uri", "https://example.com/cb#x"},
		"no redirect":             {"client", "create", "--name", "x"},
		"unknown scope":           {"client", "create", "--name", "x", "--redirect-uri", "https://a.example/cb", "--scopes", "EVERYTHING"},
		"defaults beyond scopes":  {"client", "create", "--name", "x", "--redirect-uri", "https://a.example/cb", "--scopes", "REPO_READ", "--default-scopes", "REPO_WRITE"},
		"repo in missing project": {"repo", "create", "--project", "NOPE", "--slug", "x"},
		"permission wrong target": {"permission", "grant", "--user", "bob", "--global", "--permission", "REPO_READ"},
		"permission two targets":  {"permission", "grant", "--user", "bob", "--global", "--project", "X", "--permission", "ADMIN"},
		"unknown user":            {"permission", "grant", "--user", "nobody", "--global", "--permission", "ADMIN"},
		"revoke not held":         {"permission", "revoke", "--user", "bob", "--global", "--permission", "ADMIN"},
		"unknown flag":            {"user", "create", "--bogus"},
		"unknown command":         {"frobnicate"},
	}
	for name, args := range cases {
		code, out, stderr := cli(t, "", append(args, "--db", db)...)
		if code == 0 || out != "" || stderr == "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", name, code, out, stderr)
		}
	}
	// The skip setting allows plain http redirect URIs.
	code, _, stderr := cli(t, "", "client", "create", "--db", db, "--name", "dev", "--redirect-uri", "http://dev.example.com/cb", "--skip-redirect-url-https-requirement")
	if code != 0 {
		t.Fatalf("skip-redirect-url-https-requirement: %s", stderr)
	}
}

// buildBinary compiles latchkey once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "latchkey")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe starts `latchkey serve` and waits for /readyz.
func startServe(t *testing.T, bin, dataDir string, extra ...string) (*exec.Cmd, *testkit.SyncBuffer, string) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", dataDir, "--listen", addr, "--base-url", "http://" + addr}, extra...)...)
	stdout := &testkit.SyncBuffer{}
	cmd.Stdout = stdout
	cmd.Stderr = stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for range 100 {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, stdout, "http://" + addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not become ready; stdout: %s", stdout.String())
	return nil, nil, ""
}

func TestServeBootstrapsAdminOnceAndShutsDownOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	cmd, stdout, base := startServe(t, bin, dataDir)
	if !strings.Contains(stdout.String(), "user name: admin") || !strings.Contains(stdout.String(), "password:") {
		t.Fatalf("first start did not print the admin password: %q", stdout.String())
	}
	// The CLI works against the same database while the server runs.
	out, err := exec.Command(bin, "project", "create", "--data-dir", dataDir, "--key", "LIVE", "--json").Output()
	if err != nil || !strings.Contains(string(out), `"key":"LIVE"`) {
		t.Fatalf("CLI while serving: %v %s", err, out)
	}
	resp, err := http.Get(base + "/rest/api/latest/projects")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: %v", err)
	}
	_, stdout2, _ := startServe(t, bin, dataDir)
	if strings.Contains(stdout2.String(), "password") {
		t.Fatalf("second start printed a password again: %q", stdout2.String())
	}
}

func TestServeWarnsLoudlyWithSkipSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	_, out, _ := startServe(t, bin, t.TempDir(), "--base-url", "http://auth.example.com",
		"--skip-base-url-https-requirement", "--skip-redirect-url-https-requirement")
	for _, want := range []string{"WARNING: INSECURE: the base URL", "WARNING: INSECURE: plain-http redirect URIs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("start-up output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestServeRefusesInsecureBaseURL(t *testing.T) {
	dataDir := t.TempDir()
	code, _, stderr := cli(t, "", "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--base-url", "http://auth.example.com")
	if code == 0 || !strings.Contains(stderr, "https") {
		t.Fatalf("plain http non-loopback base URL: exit %d %s", code, stderr)
	}
}

// TestQuickStartWithRelativeDataDir runs the server the way the README's
// quick start does, with the default relative data directory, and clones a
// public repository created with the command line over git.
func TestQuickStartWithRelativeDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is required in CI")
		}
		t.Skip("git is not installed")
	}
	bin := buildBinary(t)
	t.Chdir(t.TempDir()) // the server and the commands run here, with ./data
	_, _, base := startServe(t, bin, "data")
	for _, args := range [][]string{
		{"project", "create", "--key", "DEMO", "--name", "Demo", "--public"},
		{"repo", "create", "--project", "DEMO", "--slug", "hello"},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	cmd := exec.Command(git, "ls-remote", base+"/scm/demo/hello.git")
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git ls-remote of a public repository: %v\n%s", err, out)
	}
}

// runJSON runs a command against database db with --json, fails the test
// unless it exits 0, and returns its decoded output.
func runJSON(t *testing.T, db string, args ...string) map[string]any {
	t.Helper()
	code, out, stderr := cli(t, "", append(args, "--db", db, "--json")...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr)
	}
	return decode(t, out)
}

func TestOperatorCommandsForUsersClientsAndTokens(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lk.db")
	runJSON(t, db, "user", "create", "--username", "carol")
	id := runJSON(t, db, "client", "create", "--name", "CI", "--redirect-uri", "https://ci.example.com/cb")["client_id"].(string)

	// A grant of carol's, written as the token endpoint would.
	st, err := backend.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := st.GetUserByUsername(t.Context(), "carol")
	_, err = st.CreateFamily(t.Context(), store.Issue{
		Family: store.TokenFamily{ClientID: id, UserID: u.ID, Scopes: []string{"REPO_READ"}},
		Tokens: []store.Token{{Hash: strings.Repeat("ab", 32), Kind: store.AccessToken, ExpiresAt: time.Now().Add(time.Hour)}},
	}, time.Now())
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	if users := runJSON(t, db, "user", "list")["users"].([]any); len(users) != 1 {
		t.Fatalf("user list: %v", users)
	}
	if clients := runJSON(t, db, "client", "list")["clients"].([]any); len(clients) != 1 || strings.Contains(fmt.Sprint(clients), "lks_") {
		t.Fatalf("client list: %v", clients)
	}
	if grants := runJSON(t, db, "tokens", "list", "--user", "carol")["grants"].([]any); len(grants) != 1 {
		t.Fatalf("tokens list: %v", grants)
	}
	if out := runJSON(t, db, "tokens", "revoke", "--user", "carol"); out["revoked"] != float64(1) {
		t.Fatalf("tokens revoke: %v", out)
	}
	if grants := runJSON(t, db, "tokens", "list", "--user", "carol")["grants"].([]any); len(grants) != 0 {
		t.Fatalf("grants after revoke: %v", grants)
	}
	if out := runJSON(t, db, "user", "disable", "--username", "carol"); out["disabled"] != true {
		t.Fatalf("user disable: %v", out)
	}
	runJSON(t, db, "user", "enable", "--username", "carol")
	if out := runJSON(t, db, "client", "suspend", "--client-id", id); out["suspended"] != true {
		t.Fatalf("client suspend: %v", out)
	}
	runJSON(t, db, "client", "reinstate", "--client-id", id)
	runJSON(t, db, "client", "delete", "--client-id", id)
	if code, _, _ := cli(t, "", "client", "delete", "--client-id", id, "--db", db); code == 0 {
		t.Fatal("deleting a deleted client succeeded")
	}
}

// TestLogsCarryNoSecrets runs a whole flow against a real serve process,
// Bitbucket-style with the client secret in the query string, and checks
// that its JSON logs hold none of the secrets that went through it.
func TestLogsCarryNoSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dataDir := t.TempDir()
	_, logs, base := startServe(t, bin, dataDir, "--log-level", "debug")
	run := func(stdin string, args ...string) map[string]any {
		cmd := exec.Command(bin, append(args, "--data-dir", dataDir, "--json")...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return decode(t, string(out))
	}
	const password = "correct-horse-battery"
	run(password+"\n", "user", "create", "--username", "dana", "--password-stdin")
	client := run("", "client", "create", "--name", "CI", "--redirect-uri", "http://127.0.0.1:9/cb")
	id, secretValue := client["client_id"].(string), client["client_secret"].(string)

	cb, err := testkit.RemoteBrowser(base, "dana", password).Authorize(base + "/rest/oauth2/latest/authorize?" +
		url.Values{"client_id": {id}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "response_type": {"code"}, "state": {"s"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	code := cb.Query().Get("code")
	q := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:9/cb"},
		"client_id": {id}, "client_secret": {secretValue}}
	resp, err := http.Post(base+"/rest/oauth2/latest/token?"+q.Encode(), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("no token: %v", tok)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/user", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	time.Sleep(100 * time.Millisecond) // let the last log lines land
	for name, s := range map[string]string{"password": password, "client secret": secretValue, "code": code,
		"access token": access, "refresh token": fmt.Sprint(tok["refresh_token"])} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the logs contain the %s", name)
		}
	}
	if !strings.Contains(logs.String(), `"path":"/rest/oauth2/latest/token"`) {
		t.Fatal("the request log lines are missing, so the check above proves nothing")
	}
}

func TestClientDeviceGrantSwitchesTheDeviceGrantOffAndOn(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lk.db")
	code, out, stderr := cli(t, "", "client", "create", "--db", db, "--name", "Tool", "--redirect-uri", "http://127.0.0.1/cb",
		"--public", "--grant-types", "authorization_code urn:ietf:params:oauth:grant-type:device_code", "--json")
	if code != 0 {
		t.Fatalf("client create: %d %s", code, stderr)
	}
	id := fmt.Sprint(decode(t, out)["client_id"])
	code, out, stderr = cli(t, "", "client", "device-grant", "--db", db, "--client-id", id, "--off", "--json")
	if m := decode(t, out); code != 0 || m["device_grant"] != false || fmt.Sprint(m["grant_types"]) != "[authorization_code]" {
		t.Fatalf("device-grant --off: %d %v %s", code, m, stderr)
	}
	code, out, _ = cli(t, "", "client", "device-grant", "--db", db, "--client-id", id, "--on", "--json")
	if m := decode(t, out); code != 0 || m["device_grant"] != true || fmt.Sprint(m["grant_types"]) != "[authorization_code urn:ietf:params:oauth:grant-type:device_code]" {
		t.Fatalf("device-grant --on: %d %v", code, m)
	}
	if code, _, _ := cli(t, "", "client", "device-grant", "--db", db, "--client-id", id); code == 0 {
		t.Fatalf("device-grant without --on or --off succeeded")
	}
}

// TestUsageNamesEveryFlag: the overview that `latchkey --help` prints
// names every flag of its own of every command, so that no option is
// found only by reading the source.
func TestUsageNamesEveryFlag(t *testing.T) {
	for name, cmd := range commands() {
		if cmd.flags == nil || name == "serve" {
			continue
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		cmd.flags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(usage, "--"+f.Name) {
				t.Errorf("latchkey --help does not mention --%s of %q", f.Name, name)
			}
		})
	}
}
