package rp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// TestOpenIDClientLogout: panva's openid-client signs in, then builds
// the end-session URL with client.buildEndSessionUrl (id_token_hint,
// post_logout_redirect_uri, state) from the discovered
// end_session_endpoint; the browser following it lands back on the
// registered post-logout URI with the state, and its Latchkey session
// has ended.
func TestOpenIDClientLogout(t *testing.T) {
	node := requireOpenIDClient(t)
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	const redirectURI = "http://127.0.0.1:9/callback"
	const postLogout = "http://127.0.0.1:9/signed-out"
	id, secret := env.Client(admin.NewClient{Name: "openid-client", RedirectURIs: []string{redirectURI},
		Scopes: "openid profile", PostLogoutRedirectURIs: []string{postLogout}})
	b, sess := signedInBrowser(t, env, alice)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "logout.mjs")
	cmd.Dir = openIDClientDir
	cmd.Env = append(os.Environ(), "LATCHKEY_ISSUER="+env.URL, "LATCHKEY_CLIENT_ID="+id, "LATCHKEY_CLIENT_SECRET="+secret,
		"LATCHKEY_REDIRECT_URI="+redirectURI, "LATCHKEY_POST_LOGOUT_URI="+postLogout)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	next := func(v any) {
		t.Helper()
		if !lines.Scan() {
			_ = cmd.Wait()
			t.Fatalf("openid-client stopped early (%v):\n%s", cmd.ProcessState, stderr.String())
		}
		if err := json.Unmarshal(lines.Bytes(), v); err != nil {
			t.Fatalf("openid-client printed %q: %v\nstderr:\n%s", lines.Text(), err, stderr.String())
		}
	}
	var start struct {
		Authorize string `json:"authorize"`
	}
	next(&start)
	cb, err := b.Authorize(start.Authorize)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	fmt.Fprintln(stdin, cb.String())
	stdin.Close()
	var end struct {
		EndSession string `json:"end_session"`
		SID        string `json:"sid"`
		State      string `json:"state"`
	}
	next(&end)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("openid-client: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(end.EndSession, env.URL+"/login/oauth/logout?") || end.SID != sess.SID {
		t.Fatalf("openid-client built %q (sid %q, session's %q)", end.EndSession, end.SID, sess.SID)
	}
	status, loc := step(t, b, end.EndSession)
	want := postLogout + "?" + url.Values{"state": {end.State}}.Encode()
	if status != http.StatusFound || loc != want {
		t.Fatalf("end_session_endpoint answered %d to %q, want the post-logout URI with state %q", status, loc, end.State)
	}
	if _, err := env.Store.GetSession(context.Background(), sess.ID); err == nil {
		t.Fatal("the Latchkey session is still there")
	}
}
