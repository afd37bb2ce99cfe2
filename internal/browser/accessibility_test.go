package browser

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/identity"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
	"latchkey/internal/upstream"
)

// pageAudit is run in each page (through DevTools; the pages themselves
// have no scripts) and lists what a person with a screen reader, a
// keyboard or a phone would trip over: no language, no main landmark, not
// exactly one h1, form fields without a label, buttons and links without a
// name, repeated ids, text below WCAG AA contrast (4.5:1) and a page
// wider than the screen.
const pageAudit = `(() => {
  const problems = [];
  const html = document.documentElement;
  if (html.lang !== "en") problems.push("html has no lang");
  if (document.querySelectorAll("main").length !== 1) problems.push("not exactly one main landmark");
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!el.labels || el.labels.length === 0) problems.push("field without a label: " + el.outerHTML.slice(0, 90));
  }
  for (const el of document.querySelectorAll("button, a[href], summary")) {
    if (!el.textContent.trim()) problems.push("control without a name: " + el.outerHTML.slice(0, 90));
  }
  const seen = new Set();
  for (const el of document.querySelectorAll("[id]")) {
    if (seen.has(el.id)) problems.push("repeated id " + el.id);
    seen.add(el.id);
  }
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = c => {
    const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c;
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el.getClientRects().length || el.closest(".visually-hidden, .skip")) continue;
    const fg = lum(rgb(getComputedStyle(el).color)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) problems.push("contrast " + ratio.toFixed(2) + ":1 for " + JSON.stringify(n.textContent.trim().slice(0, 40)));
  }
  if (html.scrollWidth > window.innerWidth + 1) problems.push("page is " + html.scrollWidth + "px wide on a " + window.innerWidth + "px screen");
  return problems;
})()`

// TestPagesAreAccessibleOnAPhoneAndByKeyboard opens every page on a
// desktop and on a 360-pixel phone screen and audits it, then signs in and
// skips to the content with the keyboard alone, checking that focus is
// visible.
func TestPagesAreAccessibleOnAPhoneAndByKeyboard(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	env.Grant("alice", admin.Target{Global: true}, "SYS_ADMIN")
	env.Project("PROJ", false)
	// An upstream provider: its button on the sign-in page, its row on
	// the security page and the sources pages.
	if _, err := env.Server.Identity().Add(t.Context(), identity.NewSource{Name: "keycloak", DisplayName: "Keycloak",
		Kind: store.SourceOIDC, Enabled: true, Secret: "s",
		Settings: identity.Settings{}.WithOIDC(upstream.Settings{Issuer: "https://idp.example.com", ClientID: "latchkey"})}); err != nil {
		t.Fatal(err)
	}
	env.Grant("alice", admin.Target{Project: "PROJ"}, "PROJECT_WRITE")
	cb := newCallback(t)
	clientID, secretValue := env.Client(admin.NewClient{Name: "Phone App", RedirectURIs: []string{cb.URI()},
		Scopes: "REPO_READ read:user openid", OwnerUserID: alice.ID})
	conf := oauthConfig(env, clientID, secretValue, cb.URI(), "REPO_READ", "openid")
	tokenOverHTTP(t, env, conf, "alice", "alice-password")

	b := newTab(t, env)
	b.open("/login")
	signInByKeyboard(t, b, "alice", "alice-password")
	skipToContentByKeyboard(t, b)

	pages := []string{
		"/", "/user/settings/applications", "/user/settings/applications/" + clientID, "/user/settings/account",
		conf.AuthCodeURL("st", oauth2.SetAuthURLParam("prompt", "consent")), "/login/device",
		"/admin/applications", "/admin/users", "/admin/users/" + itoa(alice.ID), "/admin/audit",
		"/user/settings/applications/no-such-app", "/user/settings/security",
		"/admin/sources", "/admin/sources/new?kind=ldap", "/admin/sources/new?kind=oidc", "/admin/sources/keycloak",
	}
	for _, width := range []int64{1100, 360} {
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, 800)); err != nil {
			t.Fatalf("set the viewport: %v", err)
		}
		for _, p := range pages {
			b.open(p)
			auditPage(t, b, width, p)
		}
		b.open("/")
		b.click(`form[action="/logout"] button`)
		b.open("/login")
		auditPage(t, b, width, "/login")
		b.signIn("alice", "alice-password")
	}
}

// auditPage runs pageAudit and reports each problem.
func auditPage(t *testing.T, b *tab, width int64, path string) {
	t.Helper()
	problems, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](pageAudit))
	if err != nil {
		b.fail("audit "+path, err)
	}
	for _, p := range problems {
		t.Errorf("%s at %dpx: %s", path, width, p)
	}
}

// signInByKeyboard types into the login form (whose user name field has
// the focus) and submits it with Enter.
func signInByKeyboard(t *testing.T, b *tab, username, password string) {
	t.Helper()
	// Chromium applies autofocus at a rendering update after the load, so
	// give it a moment.
	id := focused(t, b)
	for i := 0; i < 40 && id != "username"; i++ {
		time.Sleep(25 * time.Millisecond)
		id = focused(t, b)
	}
	if id != "username" {
		t.Fatalf("the login page starts with the focus on %q, want the user name field", id)
	}
	resp, err := chromedp.RunResponse(b.ctx, chromedp.KeyEvent(username), chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(password), chromedp.KeyEvent(kb.Enter))
	if err != nil || resp.Status != 200 || strings.Contains(resp.URL, "/login") {
		b.fail("sign in by keyboard", err)
	}
}

// skipToContentByKeyboard: on a page without autofocus, the first Tab
// lands on the skip link, its focus ring shows, and Enter moves the focus
// to the main content.
func skipToContentByKeyboard(t *testing.T, b *tab) {
	t.Helper()
	b.open("/user/settings/account")
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
		t.Fatalf("press Tab: %v", err)
	}
	if cls := evaluate[string](t, b, `document.activeElement.className`); cls != "skip" {
		t.Fatalf("the first Tab focuses %q, want the skip link", cls)
	}
	if outline := evaluate[string](t, b, `getComputedStyle(document.activeElement).outlineStyle`); outline == "none" {
		t.Error("the focused skip link shows no focus ring")
	}
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatalf("press Enter: %v", err)
	}
	if id := focused(t, b); id != "main" {
		t.Errorf("after the skip link the focus is on %q, want main", id)
	}
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
		t.Fatalf("press Tab: %v", err)
	}
	if id := focused(t, b); id != "current_password" {
		t.Errorf("Tab after skipping focuses %q, want the first field of the page", id)
	}
}

// focused is the id of the element that has the focus.
func focused(t *testing.T, b *tab) string {
	t.Helper()
	return evaluate[string](t, b, `document.activeElement ? document.activeElement.id : ""`)
}

// evaluate runs a DevTools expression in the page.
func evaluate[T any](t *testing.T, b *tab, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	return v
}
