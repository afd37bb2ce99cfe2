package testkit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// UpstreamAccount is a person known to the upstream OpenID Provider that
// StartOIDCProvider runs.
type UpstreamAccount struct {
	// Login and Password are what the provider's login form takes.
	Login, Password string
	// Sub is the subject identifier (the ID token's and userinfo's sub).
	Sub string
	// Claims are the account's claims, given for the scopes that map to
	// them: profile (name, preferred_username, given_name, family_name),
	// email (email, email_verified) and groups (groups). Any JSON value
	// goes, so a test may send email_verified as the string "true".
	Claims map[string]any
	// AMR is put in the ID token's amr claim; nil leaves it out.
	AMR []string
	// ACR is put in the ID token's acr claim; "" leaves it out.
	ACR string
	// UserinfoOnly names claims (of Claims) that only the userinfo
	// endpoint returns, not the ID token, to exercise a relying party's
	// merge of the two. By default every claim is in both.
	UserinfoOnly []string
}

// UpstreamClient is a confidential client registered at the provider. It
// authenticates with client_secret_basic or client_secret_post, uses the
// code flow only, and must send PKCE (S256).
type UpstreamClient struct {
	ClientID, ClientSecret string
	RedirectURIs           []string
}

// OIDCProvider is a running upstream OpenID Provider: npm oidc-provider
// (pinned in testdata/oidc-provider/package-lock.json) under node.
//
// Its login interaction is a page of its own at /interaction/{uid}: a
// form (form[method=post]) with input[name=login],
// input[name=password][type=password] and button[type=submit]; a wrong
// login or password shows the form again with p.error. Consent is granted
// without a page. The claims of the granted scopes are both in the ID token
// (conformIdTokenClaims is false) and in userinfo (/me), except an
// account's UserinfoOnly claims.
type OIDCProvider struct {
	// Issuer is http://127.0.0.1:PORT (no trailing slash).
	Issuer string
}

// oidcProviderDir is testdata/oidc-provider beside this file, so that any
// package's tests can start the provider whatever their working directory.
func oidcProviderDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "oidc-provider")
}

// missingTool skips the test because a program it needs is not installed,
// or fails it under CI=true, where .ci/run installs everything.
func missingTool(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: this test must run; .ci/run installs what it needs)", msg)
	}
	t.Skipf("skipping: %s", msg)
}

// StartOIDCProvider starts an upstream OpenID Provider with the given
// clients and accounts on a free port of 127.0.0.1 and stops it when the
// test ends. Its signing key and cookie keys are new at every start. The
// test is skipped (failed under CI=true) without node or without
// `npm ci` having been run in internal/testkit/testdata/oidc-provider.
// The provider's stderr goes to the test log if the test fails.
func StartOIDCProvider(t testing.TB, clients []UpstreamClient, accounts []UpstreamAccount) *OIDCProvider {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node is not installed")
	}
	dir := oidcProviderDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		missingTool(t, "oidc-provider is not installed: run `npm ci` in %s", dir)
	}
	cfg, err := json.Marshal(oidcProviderConfig(clients, accounts))
	if err != nil {
		t.Fatalf("testkit: oidc-provider configuration: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OIDC_PROVIDER_CONFIG="+string(cfg))
	stderr := &SyncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatalf("testkit: oidc-provider stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("testkit: start oidc-provider: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("oidc-provider stderr:\n%s", stderr.String())
		}
	})

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var line struct {
				Ready  bool   `json:"ready"`
				Issuer string `json:"issuer"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Ready {
				ready <- line.Issuer
				_, _ = io.Copy(io.Discard, stdout) // never let a full pipe block it
				break
			}
		}
		close(ready)
	}()
	select {
	case issuer, ok := <-ready:
		if !ok || issuer == "" {
			t.Fatalf("testkit: oidc-provider exited before it was ready:\n%s", stderr.String())
		}
		return &OIDCProvider{Issuer: issuer}
	case <-time.After(30 * time.Second):
		t.Fatalf("testkit: oidc-provider not ready after 30s:\n%s", stderr.String())
	}
	return nil
}

// oidcProviderConfig is the JSON that server.mjs reads from
// OIDC_PROVIDER_CONFIG.
func oidcProviderConfig(clients []UpstreamClient, accounts []UpstreamAccount) map[string]any {
	type client struct {
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	type account struct {
		Login        string         `json:"login"`
		Password     string         `json:"password"`
		Sub          string         `json:"sub"`
		Claims       map[string]any `json:"claims"`
		AMR          []string       `json:"amr,omitempty"`
		ACR          string         `json:"acr,omitempty"`
		UserinfoOnly []string       `json:"userinfo_only,omitempty"`
	}
	cs := make([]client, 0, len(clients))
	for _, c := range clients {
		cs = append(cs, client{c.ClientID, c.ClientSecret, c.RedirectURIs})
	}
	as := make([]account, 0, len(accounts))
	for _, a := range accounts {
		as = append(as, account{a.Login, a.Password, a.Sub, a.Claims, a.AMR, a.ACR, a.UserinfoOnly})
	}
	return map[string]any{"clients": cs, "accounts": as}
}
