package rp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"latchkey/internal/browser"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// apacheModules is where Debian's apache2 and libapache2-mod-auth-openidc
// put their modules.
const apacheModules = "/usr/lib/apache2/modules"

// screenshotDir receives the login and consent pages as the browser saw
// them, for the README.
const screenshotDir = "../../docs/img"

// apacheConf is a complete, minimal Apache configuration of its own (no
// /etc/apache2): one prefork server on loopback, a CGI script behind
// mod_auth_openidc, with Latchkey as the OpenID provider.
var apacheConf = template.Must(template.New("httpd.conf").Parse(`
ServerRoot "{{.Dir}}"
ServerName 127.0.0.1
Listen 127.0.0.1:{{.Port}}
PidFile "{{.Dir}}/httpd.pid"
DefaultRuntimeDir "{{.Dir}}/run"
ErrorLog "{{.Dir}}/error.log"
LogLevel warn auth_openidc:info
{{if .User}}User {{.User}}
Group {{.Group}}
{{end}}
LoadModule mpm_prefork_module {{.Modules}}/mod_mpm_prefork.so
LoadModule authn_core_module {{.Modules}}/mod_authn_core.so
LoadModule authz_core_module {{.Modules}}/mod_authz_core.so
LoadModule authz_user_module {{.Modules}}/mod_authz_user.so
LoadModule auth_openidc_module {{.Modules}}/mod_auth_openidc.so
LoadModule cgi_module {{.Modules}}/mod_cgi.so

StartServers 1
MinSpareServers 1
MaxSpareServers 2
MaxRequestWorkers 4

DocumentRoot "{{.Dir}}/htdocs"
<Directory />
  Require all denied
  AllowOverride None
</Directory>

OIDCProviderMetadataURL {{.Issuer}}/.well-known/openid-configuration
OIDCClientID {{.ClientID}}
OIDCClientSecret {{.ClientSecret}}
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCRedirectURI http://127.0.0.1:{{.Port}}/protected/redirect_uri
OIDCCryptoPassphrase {{.Passphrase}}
OIDCScope "openid profile email"
OIDCPKCEMethod S256
OIDCRemoteUserClaim preferred_username

<Directory "{{.Dir}}/htdocs/protected">
  AuthType openid-connect
  Require valid-user
  Options +ExecCGI
  SetHandler cgi-script
</Directory>
`))

// claimsCGI is the protected page: it shows what mod_auth_openidc passed to
// the application.
const claimsCGI = `#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
printf 'preferred_username=%s\n' "$OIDC_CLAIM_preferred_username"
printf 'email=%s\n' "$OIDC_CLAIM_email"
printf 'sub=%s\n' "$OIDC_CLAIM_sub"
printf 'remote_user=%s\n' "$REMOTE_USER"
`

// apacheConfig fills apacheConf.
type apacheConfig struct {
	Dir, Modules, User, Group string
	Port                      int
	Issuer                    string
	ClientID, ClientSecret    string
	Passphrase                string
}

// requireApache returns the apache2 binary, or skips the test when it or
// mod_auth_openidc is missing.
func requireApache(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("apache2")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/apache2"); statErr != nil {
			missing(t, "apache2 is not installed (Debian package apache2)")
		}
		bin = "/usr/sbin/apache2"
	}
	for _, mod := range []string{"mod_auth_openidc.so", "mod_mpm_prefork.so", "mod_cgi.so", "mod_authz_user.so"} {
		if _, err := os.Stat(filepath.Join(apacheModules, mod)); err != nil {
			missing(t, "%s/%s is missing (Debian packages apache2, libapache2-mod-auth-openidc)", apacheModules, mod)
		}
	}
	return bin
}

// startApache writes the configuration and the CGI script into a fresh
// directory, starts Apache in the foreground and waits until it accepts
// connections. Apache is stopped when the test ends.
func startApache(t *testing.T, bin string, cfg apacheConfig) {
	t.Helper()
	// Apache started as root serves as cfg.User, which must read the
	// directory: t.TempDir is private to root, so make one that is not.
	dir, err := os.MkdirTemp("", "latchkey-apache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Dir, cfg.Modules = dir, apacheModules
	if os.Geteuid() == 0 {
		cfg.User, cfg.Group = "nobody", "nogroup"
		if _, err := user.Lookup("www-data"); err == nil {
			cfg.User, cfg.Group = "www-data", "www-data"
		}
	}
	for _, d := range []string{"run", "htdocs/protected"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "htdocs/protected/claims"), []byte(claimsCGI), 0o755); err != nil {
		t.Fatal(err)
	}
	var conf bytes.Buffer
	if err := apacheConf.Execute(&conf, cfg); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-d", dir, "-f", confPath, "-DFOREGROUND")
	// Debian's apache2 reads APACHE_* variables (run user, log and lock
	// directories) meant for /etc/apache2; this configuration names all it
	// needs.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "APACHE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// Its own process group: the prefork parent signals its children with
	// killpg(getpgrp()), which would otherwise hit this test and its shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start apache2: %v", err)
	}
	// exited is closed when Apache has exited, with its status in waitErr.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	errorLog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return out.String() + string(b)
	}
	t.Cleanup(func() {
		// SIGTERM: stop at once, children included.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("apache2 output and error log:\n%s", errorLog())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", cfg.Port)
	for deadline := time.Now().Add(15 * time.Second); ; {
		select {
		case <-exited:
			t.Fatalf("apache2 exited at start-up (%v):\n%s", waitErr, errorLog())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("apache2 does not listen on %s:\n%s", addr, errorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestApacheModAuthOpenIDC puts Apache httpd with mod_auth_openidc, a
// relying party people deploy in front of web applications, in front of a
// CGI page, with Latchkey as its OpenID provider. A real headless Chromium
// opens the page, is sent to Latchkey's login page, signs in as alice,
// approves on the consent page and lands back on the page, which shows the
// claims mod_auth_openidc passed to it.
func TestApacheModAuthOpenIDC(t *testing.T) {
	apache := requireApache(t)
	chromium := browser.Require(t)

	env := testkit.New(t)
	env.User("alice", "alice-password")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	id, secret := env.Client(admin.NewClient{Name: "Apache mod_auth_openidc",
		RedirectURIs: []string{base + "/protected/redirect_uri"}, Scopes: "openid profile email"})
	startApache(t, apache, apacheConfig{Port: port, Issuer: env.URL, ClientID: id, ClientSecret: secret,
		Passphrase: "test-only-" + secret})

	profile := t.TempDir()
	var browserLog testkit.SyncBuffer
	ctx, stop := browser.Start(context.Background(), chromium, profile, 960, 720, &browserLog)
	// Registered after t.TempDir, so it runs first: the browser has exited
	// before its profile is removed.
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	fail := func(step string, err error) {
		t.Helper()
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nbrowser at %s showing:\n%s\nchromium output:\n%s", step, err, loc, body, browserLog.String())
	}

	// The protected page sends the browser to Latchkey's login page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/protected/claims"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`))); err != nil {
		fail("open the protected page", err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(loc, env.URL+"/login") {
		t.Fatalf("the protected page led to %s, want Latchkey's login page", loc)
	}
	screenshot(ctx, t, "login.png")

	// Sign in; the consent page follows.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "alice-password")); err != nil {
		fail("fill in the login form", err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`))); err != nil {
		fail("sign in", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`button[name="decision"][value="approve"]`))); err != nil {
		fail("reach the consent page", err)
	}
	consent, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil || !strings.Contains(consent, "Apache mod_auth_openidc") || !strings.Contains(consent, "alice") {
		fail("read the consent page", fmt.Errorf("it does not name the application and the user (%v)", err))
	}
	screenshot(ctx, t, "consent.png")

	// Approve: Latchkey redirects to mod_auth_openidc, which redeems the code
	// and sends the browser on to the page it first asked for.
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[name="decision"][value="approve"]`)))
	if err != nil {
		fail("approve", err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		fail("read the protected page", err)
	}
	if resp.Status != 200 || resp.URL != base+"/protected/claims" {
		fail("land on the protected page", fmt.Errorf("status %d at %s", resp.Status, resp.URL))
	}
	for _, want := range []string{"preferred_username=alice\n", "email=alice@example.com\n", "remote_user=alice\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("the protected page does not show %q:\n%s", want, body)
		}
	}
	t.Logf("the protected page after login:\n%s", body)

	// mod_auth_openidc's session cookie alone now opens the page, with no
	// detour to Latchkey; without it Apache sends the client to Latchkey.
	jar, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/protected/claims"}})
	if err != nil {
		fail("read the browser's cookies", err)
	}
	var cookies []*http.Cookie
	for _, c := range jar.Cookies {
		cookies = append(cookies, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	if status, loc, page := getOnce(t, base+"/protected/claims", cookies); status != http.StatusOK || !strings.Contains(page, "preferred_username=alice\n") {
		t.Errorf("with the browser's cookies: status %d, Location %q, page:\n%s", status, loc, page)
	}
	if status, loc, _ := getOnce(t, base+"/protected/claims", nil); status != http.StatusFound || !strings.HasPrefix(loc, env.URL+"/login/oauth/authorize?") {
		t.Errorf("without cookies: status %d, Location %q; want a redirect to Latchkey", status, loc)
	}
}

// getOnce sends one GET with the cookies, following no redirect, and returns
// the status, the Location header and the body.
func getOnce(t *testing.T, url string, cookies []*http.Cookie) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// As a browser: mod_auth_openidc answers 401, not a redirect to the
	// provider, to a client that does not accept HTML.
	req.Header.Set("Accept", "text/html")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// screenshot saves what the browser shows into docs/img/name.
func screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
