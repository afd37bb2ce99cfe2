package rp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// openIDClientDir holds package.json, the lock file and script.mjs; .ci/run
// runs `npm ci` there.
const openIDClientDir = "testdata/openid-client"

// requireOpenIDClient returns the node binary, with openid-client installed
// from the lock file, or skips the test.
func requireOpenIDClient(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not installed")
	}
	if _, err := os.Stat(filepath.Join(openIDClientDir, "node_modules", "openid-client", "package.json")); err == nil {
		return node
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing(t, "npm is not installed and %s/node_modules is missing", openIDClientDir)
	}
	// A fresh checkout: install the pinned version the way .ci/run does.
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = openIDClientDir
	if out, err := cmd.CombinedOutput(); err != nil {
		missing(t, "npm ci in %s failed: %v\n%s", openIDClientDir, err, out)
	}
	return node
}

// openIDClientResult is what script.mjs reports after a successful run.
type openIDClientResult struct {
	Issuer  string `json:"issuer"`
	IDToken struct {
		Sub               string `json:"sub"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
		Aud               any    `json:"aud"`
	} `json:"id_token"`
	Userinfo struct {
		Sub               string `json:"sub"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
	} `json:"userinfo"`
	RefreshedIDToken struct {
		Sub string `json:"sub"`
	} `json:"refreshed_id_token"`
	Introspection struct {
		Live     bool   `json:"live"`
		Rotated  bool   `json:"rotated"`
		Revoked  bool   `json:"revoked"`
		Username string `json:"username"`
	} `json:"introspection"`
	RefreshAfterRevocation string `json:"refresh_after_revocation"`
}

// TestOpenIDClientFromNPM runs panva's openid-client, an OpenID-certified
// relying party, against a real node: discovery, authorization code with
// PKCE (S256), state and nonce, the ID token checks the library makes
// (signature from the JWKS, iss, aud, nonce, and the RFC 9207 iss
// parameter), userinfo, refresh with a new ID token, introspection and
// revocation. The script plays the application; this test plays the user in
// the scripted browser and hands the callback URL back to the script.
func TestOpenIDClientFromNPM(t *testing.T) {
	node := requireOpenIDClient(t)
	env := testkit.New(t)
	env.User("alice", "alice-password")
	// Nothing listens there: the browser stops at the redirect and the
	// script reads the code from the URL.
	const redirectURI = "http://127.0.0.1:9/callback"
	id, secret := env.Client(admin.NewClient{Name: "openid-client", RedirectURIs: []string{redirectURI},
		Scopes: "openid profile email"})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "script.mjs")
	cmd.Dir = openIDClientDir
	cmd.Env = append(os.Environ(),
		"LATCHKEY_ISSUER="+env.URL,
		"LATCHKEY_CLIENT_ID="+id,
		"LATCHKEY_CLIENT_SECRET="+secret,
		"LATCHKEY_REDIRECT_URI="+redirectURI,
	)
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
	// next decodes the script's next line into v, or fails the test with
	// what the script said on stderr.
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
	callback, err := env.Browser("alice", "alice-password").Authorize(start.Authorize)
	if err != nil {
		t.Fatalf("the user could not authorize %s: %v", start.Authorize, err)
	}
	if _, err := fmt.Fprintln(stdin, callback.String()); err != nil {
		t.Fatal(err)
	}
	var report struct {
		Result openIDClientResult `json:"result"`
	}
	next(&report)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("openid-client: %v\n%s", err, stderr.String())
	}

	got := report.Result
	t.Logf("openid-client saw: %s", lines.Text())
	if got.Issuer != env.URL {
		t.Errorf("issuer %q, want %q", got.Issuer, env.URL)
	}
	if got.IDToken.Sub == "" || got.IDToken.PreferredUsername != "alice" || got.IDToken.Email != "alice@example.com" ||
		got.IDToken.Aud != id {
		t.Errorf("ID token claims: %+v", got.IDToken)
	}
	if got.Userinfo.Sub != got.IDToken.Sub || got.Userinfo.PreferredUsername != "alice" || got.Userinfo.Email != "alice@example.com" {
		t.Errorf("userinfo: %+v", got.Userinfo)
	}
	if got.RefreshedIDToken.Sub != got.IDToken.Sub {
		t.Errorf("refreshed ID token sub %q, want %q", got.RefreshedIDToken.Sub, got.IDToken.Sub)
	}
	if in := got.Introspection; !in.Live || in.Rotated || in.Revoked || in.Username != "alice" {
		t.Errorf("introspection: live %v (want true), rotated %v, revoked %v (want false), username %q",
			in.Live, in.Rotated, in.Revoked, in.Username)
	}
	if got.RefreshAfterRevocation != "invalid_grant" {
		t.Errorf("refresh with a revoked token: %q, want invalid_grant", got.RefreshAfterRevocation)
	}
}
