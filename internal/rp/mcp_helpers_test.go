package rp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"latchkey/internal/browser"
	"latchkey/internal/testkit"
)

// mcpClientDir holds package.json, the lock file and client.mjs, the
// official TypeScript MCP SDK as a client; .ci/run runs `npm ci` there.
const mcpClientDir = "testdata/mcp-client"

// requireMCPClient returns the node binary, with @modelcontextprotocol/sdk
// installed from the lock file, or skips the test (fails under CI=true).
func requireMCPClient(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not installed")
	}
	if _, err := os.Stat(filepath.Join(mcpClientDir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err == nil {
		return node
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing(t, "npm is not installed and %s/node_modules is missing", mcpClientDir)
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = mcpClientDir
	if out, err := cmd.CombinedOutput(); err != nil {
		missing(t, "npm ci in %s failed: %v\n%s", mcpClientDir, err, out)
	}
	return node
}

// lacking fails the test because a piece of issue 14 that the scenario
// needs is not there, naming the piece, so that a regression says what
// went missing rather than failing later on a symptom.
func lacking(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf("issue 14 piece missing: "+format, args...)
}

// mcpScript is a run of client.mjs: the test writes commands to its stdin
// and reads one JSON line per answer.
type mcpScript struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *testkit.SyncBuffer
}

// startMCPScript runs client.mjs with the given environment (NAME=value)
// added to the test's.
func startMCPScript(t *testing.T, node string, vars ...string) *mcpScript {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, node, "client.mjs")
	cmd.Dir = mcpClientDir
	cmd.Env = append(os.Environ(), vars...)
	s := &mcpScript{t: t, cmd: cmd, stderr: &testkit.SyncBuffer{}}
	cmd.Stderr = s.stderr
	var err error
	if s.stdin, err = cmd.StdinPipe(); err != nil {
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
		_, _ = io.WriteString(s.stdin, "quit\n")
		_ = s.stdin.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("client.mjs stderr:\n%s", s.stderr.String())
		}
	})
	s.lines = bufio.NewScanner(stdout)
	s.lines.Buffer(make([]byte, 1<<20), 1<<20)
	return s
}

// quit ends the script and waits for it, so that its callback port is
// free again.
func (s *mcpScript) quit() {
	s.t.Helper()
	s.send("quit")
	if err := s.cmd.Wait(); err != nil {
		s.t.Errorf("client.mjs: %v\n%s", err, s.stderr.String())
	}
}

// send writes one command.
func (s *mcpScript) send(cmd string) {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, cmd+"\n"); err != nil {
		s.t.Fatalf("client.mjs: write %q: %v\nstderr:\n%s", cmd, err, s.stderr.String())
	}
}

// line reads the script's next JSON line as a map of raw values.
func (s *mcpScript) line() map[string]json.RawMessage {
	s.t.Helper()
	if !s.lines.Scan() {
		err := s.cmd.Wait()
		s.t.Fatalf("client.mjs stopped early (%v):\n%s", err, s.stderr.String())
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(s.lines.Bytes(), &m); err != nil {
		s.t.Fatalf("client.mjs printed %q: %v\nstderr:\n%s", s.lines.Text(), err, s.stderr.String())
	}
	return m
}

// expect reads the next line, which must carry key, into v.
func (s *mcpScript) expect(key string, v any) {
	s.t.Helper()
	m := s.line()
	raw, ok := m[key]
	if !ok {
		s.t.Fatalf("client.mjs printed %s, want a %q answer\nstderr:\n%s", s.lines.Text(), key, s.stderr.String())
	}
	if err := json.Unmarshal(raw, v); err != nil {
		s.t.Fatalf("client.mjs %q answer %s: %v", key, raw, err)
	}
}

// mcpConnected is the answer to connect.
type mcpConnected struct {
	Error    string   `json:"error"` // why the SDK could not connect
	Rounds   int      `json:"rounds"`
	ClientID string   `json:"client_id"`
	Tools    []string `json:"tools"`
}

// mcpCall is the answer to call.
type mcpCall struct {
	Result *struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		StructuredContent json.RawMessage `json:"structuredContent"`
		IsError           bool            `json:"isError"`
	} `json:"result"`
	Error        string `json:"error"`
	Unauthorized bool   `json:"unauthorized"`
	Reauthorize  string `json:"reauthorize"`
}

// text is everything the tool returned, as text, for substring checks.
func (c mcpCall) text() string {
	if c.Result == nil {
		return ""
	}
	var b strings.Builder
	for _, p := range c.Result.Content {
		b.WriteString(p.Text)
		b.WriteByte('\n')
	}
	b.Write(c.Result.StructuredContent)
	return b.String()
}

// mcpState is the answer to state.
type mcpState struct {
	ClientID     string `json:"client_id"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	TokenSaves   int    `json:"token_saves"`
	Wire         struct {
		Authorize []string `json:"authorize"`
		Token     []struct {
			URL       string `json:"url"`
			GrantType string `json:"grant_type"`
			Resource  string `json:"resource"`
		} `json:"token"`
		Register []struct {
			URL  string         `json:"url"`
			Body map[string]any `json:"body"`
		} `json:"register"`
		Challenges []struct {
			URL             string `json:"url"`
			WWWAuthenticate string `json:"www_authenticate"`
		} `json:"challenges"`
		Metadata []string `json:"metadata"`
	} `json:"wire"`
}

// state asks the script what it holds and what it sent.
func (s *mcpScript) state() mcpState {
	s.t.Helper()
	s.send("state")
	var st mcpState
	s.expect("state", &st)
	return st
}

// connect has the SDK connect; when it asks for the user, the person signs
// in and consents in Chromium and the browser lands on the script's
// callback.
func (s *mcpScript) connect(person *chromiumUser, redirectURI string) mcpConnected {
	s.t.Helper()
	s.send("connect")
	m := s.line()
	if raw, ok := m["authorize"]; ok {
		var u string
		_ = json.Unmarshal(raw, &u)
		person.authorize(u, redirectURI)
		m = s.line()
	}
	raw, ok := m["connected"]
	if !ok {
		s.t.Fatalf("client.mjs printed %s, want connected\nstderr:\n%s", s.lines.Text(), s.stderr.String())
	}
	var c mcpConnected
	if err := json.Unmarshal(raw, &c); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// call has the SDK call the tool once. A request to authorize again is
// returned in Reauthorize, not answered.
func (s *mcpScript) call() mcpCall {
	s.t.Helper()
	s.send("call")
	m := s.line()
	if _, ok := m["authorize"]; ok {
		m = s.line() // the call's answer names the same URL
	}
	raw, ok := m["call"]
	if !ok {
		s.t.Fatalf("client.mjs printed %s, want call\nstderr:\n%s", s.lines.Text(), s.stderr.String())
	}
	var c mcpCall
	if err := json.Unmarshal(raw, &c); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// chromiumUser is a person at a headless Chromium: one profile, so the
// Latchkey session cookie of the first sign-in stays.
type chromiumUser struct {
	t                  *testing.T
	ctx                context.Context
	log                *testkit.SyncBuffer
	username, password string
	// Consents holds the text of each consent page the person approved.
	Consents []string
}

// newChromiumUser starts Chromium for the test.
func newChromiumUser(t *testing.T, username, password string) *chromiumUser {
	t.Helper()
	chromium := browser.Require(t)
	profile := t.TempDir()
	log := &testkit.SyncBuffer{}
	ctx, stop := browser.Start(context.Background(), chromium, profile, 960, 720, log)
	// Registered after t.TempDir: the browser has exited before its
	// profile is removed.
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(ctx, 80*time.Second)
	t.Cleanup(cancel)
	return &chromiumUser{t: t, ctx: ctx, log: log, username: username, password: password}
}

// authorize opens the authorization URL and plays the person until the
// browser is at redirectURI: signs in if asked, approves if asked.
func (u *chromiumUser) authorize(start, redirectURI string) {
	u.t.Helper()
	fail := func(step string, err error) {
		u.t.Helper()
		loc, _ := chromedp.Run(u.ctx, chromedp.Location())
		body, _ := chromedp.Run(u.ctx, chromedp.Text(chromedp.CSS("body")))
		u.t.Fatalf("%s: %v\nbrowser at %s showing:\n%s\nchromium output:\n%s", step, err, loc, body, u.log.String())
	}
	if err := chromedp.Do(u.ctx, chromedp.Navigate(start)); err != nil {
		fail("open the authorization URL", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		loc, err := chromedp.Run(u.ctx, chromedp.Location())
		if err != nil {
			fail("read the location", err)
		}
		if strings.HasPrefix(loc, redirectURI) {
			return
		}
		what, err := chromedp.Run(u.ctx, chromedp.Evaluate[string](`document.querySelector('form[action="/login"] input[name="password"]') ? "login" :
			document.querySelector('button[name="decision"][value="approve"]') ? "consent" : ""`))
		if err != nil {
			time.Sleep(50 * time.Millisecond) // a navigation replaced the page
			continue
		}
		switch what {
		case "login":
			if err := chromedp.Do(u.ctx,
				chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), u.username),
				chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), u.password)); err != nil {
				fail("fill in the login form", err)
			}
			if _, err := chromedp.RunResponse(u.ctx, chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`))); err != nil {
				fail("sign in", err)
			}
		case "consent":
			text, err := chromedp.Run(u.ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
			if err != nil {
				fail("read the consent page", err)
			}
			u.Consents = append(u.Consents, text)
			if _, err := chromedp.RunResponse(u.ctx, chromedp.Click(chromedp.CSS(`button[name="decision"][value="approve"]`))); err != nil &&
				!errors.Is(err, context.Canceled) {
				// The callback answers the navigation; a failure here is
				// checked by the location on the next round.
				u.t.Logf("approve: %v", err)
			}
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
	fail("reach the callback "+redirectURI, errors.New("timed out"))
}

// bearerStatus presents token at url (GET) and returns the status and the
// error parameter of the Bearer challenge, if any.
func bearerStatus(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	challenge := resp.Header.Get("WWW-Authenticate")
	errParam := ""
	if i := strings.Index(challenge, `error="`); i >= 0 {
		rest := challenge[i+len(`error="`):]
		errParam, _, _ = strings.Cut(rest, `"`)
	}
	return resp.StatusCode, errParam
}

// getJSON fetches url and decodes a 200 answer into v; it returns the
// status.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

// mcpChallenge GETs an MCP endpoint with no token and returns the status
// and the WWW-Authenticate header.
func mcpChallenge(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

func describe(v any) string {
	b, _ := json.Marshal(v)
	return fmt.Sprintf("%s", b)
}
