package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"latchkey/internal/testkit"
)

// screenshotDir is where the screenshots the README shows are written.
const screenshotDir = "../../docs/img"

// tab is one Chromium tab on a node. JavaScript is off, as the pages must
// work without it; only the test itself evaluates scripts (through the
// DevTools protocol, which the setting does not affect).
type tab struct {
	t   *testing.T
	ctx context.Context
	env *testkit.Env
}

// newTab starts a fresh Chromium (a new profile: no cookies) for the node.
func newTab(t *testing.T, env *testkit.Env) *tab {
	t.Helper()
	execPath := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var output io.Writer
	if os.Getenv("LATCHKEY_TEST_LOG") != "" {
		output = os.Stderr
	}
	bctx, stop := Start(ctx, execPath, t.TempDir(), 1100, 850, output)
	t.Cleanup(func() {
		stop()
		cancel()
	})
	_, err := chromedp.Call(bctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &tab{t: t, ctx: bctx, env: env}
}

// fail stops the test with what the page says, to make failures readable.
func (b *tab) fail(what string, err error) {
	b.t.Helper()
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
	b.t.Fatalf("%s: %v\n  at %s\n  page: %s", what, err, loc, strings.Join(strings.Fields(body), " "))
}

// open loads a path of the node (or an absolute URL) and returns the
// final response, after redirects.
func (b *tab) open(path string) *network.Response {
	b.t.Helper()
	if strings.HasPrefix(path, "/") {
		path = b.env.URL + path
	}
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(path))
	if err != nil {
		b.fail("open "+path, err)
	}
	return resp
}

// fill types value into the empty field that sel finds, key by key.
func (b *tab) fill(sel, value string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS(sel), value)); err != nil {
		b.fail("fill "+sel, err)
	}
}

// click presses the button or link that sel finds and waits for the page
// it leads to.
func (b *tab) click(sel string) *network.Response {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.fail("click "+sel, err)
	}
	return resp
}

// tick clicks the checkbox or radio button that sel finds.
func (b *tab) tick(sel string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.fail("tick "+sel, err)
	}
}

// step bounds one action, so that a page that never comes fails the test
// quickly with what the tab shows.
func (b *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 20*time.Second)
}

// text is the visible text of what sel finds, with white space collapsed.
func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail("read "+sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// value is the value attribute of the field that sel finds, as the server
// sent it.
func (b *tab) value(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS(sel), "value"))
	if err != nil || !v.Exists {
		b.fail("read the value of "+sel, err)
	}
	return v.Value
}

// location is the URL the tab shows.
func (b *tab) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.fail("read the location", err)
	}
	return loc
}

// wantText fails unless the main content contains every one of want.
func (b *tab) wantText(what string, want ...string) {
	b.t.Helper()
	body := b.text("main")
	for _, w := range want {
		if !strings.Contains(body, w) {
			b.t.Fatalf("%s: the page does not say %q:\n%s", what, w, body)
		}
	}
}

// signIn fills in the login form the tab shows and submits it.
func (b *tab) signIn(username, password string) *network.Response {
	b.t.Helper()
	b.fill("#username", username)
	b.fill("#password", password)
	return b.click(`form[action="/login"] button[type="submit"]`)
}

// screenshot saves the whole page into docs/img/name, for the README.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		b.t.Fatalf("screenshot directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name), png, 0o644); err != nil {
		b.t.Fatalf("write screenshot: %v", err)
	}
}

// callback is a stand-in for an application's redirect endpoint on a
// loopback address.
type callback struct {
	srv *httptest.Server
}

// newCallback starts the callback server; its redirect URI is URI().
func newCallback(t *testing.T) *callback {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!doctype html><title>Callback</title><main><p>The application got its answer.</p></main>")
	}))
	t.Cleanup(srv.Close)
	return &callback{srv: srv}
}

// URI is the redirect URI to register: http://127.0.0.1:PORT/cb.
func (c *callback) URI() string { return c.srv.URL + "/cb" }

// oauthConfig is an x/oauth2 client of the node's Gitea endpoints.
func oauthConfig(env *testkit.Env, clientID, secret, redirectURI string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/login/oauth/authorize",
			TokenURL: env.URL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// codeFrom reads the authorization response from the URL the browser was
// sent to, checking state.
func codeFrom(t *testing.T, loc, state string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("parse the callback URL %q: %v", loc, err)
	}
	q := u.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("authorization failed: %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("callback %s: want a code and state %q", loc, state)
	}
	return q.Get("code")
}

// apiStatus calls a protected API endpoint with an access token.
func apiStatus(t *testing.T, env *testkit.Env, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/api/v1/user", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("API call: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// refresh runs the refresh grant with x/oauth2.
func refresh(ctx context.Context, conf *oauth2.Config, refreshToken string) (*oauth2.Token, error) {
	return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// errorCode is the RFC 6749 error code of a failed token request.
func errorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return fmt.Sprint(err)
}

// csrfPattern finds a form's CSRF token in a page.
var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrfToken returns the first CSRF token of a page.
func csrfToken(t *testing.T, body string) string {
	t.Helper()
	m := csrfPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page: %.300s", body)
	}
	return m[1]
}

// httpSignIn signs a scripted (plain HTTP) browser in through the login form.
func httpSignIn(t *testing.T, b *testkit.Browser, username, password string) {
	t.Helper()
	_, page, err := b.Get("/login")
	if err != nil {
		t.Fatalf("GET /login: %v", err)
	}
	resp, _, err := b.Post("/login", url.Values{"csrf_token": {csrfToken(t, page)},
		"username": {username}, "password": {password}, "next": {"/"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s over HTTP: %v, status %v", username, err, resp.Status)
	}
}
