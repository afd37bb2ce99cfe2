package e2e

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// emailFixture is a node that mails through a real SMTP sink, with alice
// and bob (addresses set by an administrator: verified) and a relying
// party that asks for openid, email and ACCOUNT_WRITE.
type emailFixture struct {
	*oidcFixture
	sink *testkit.SMTPSink
}

func newEmailFixture(t *testing.T, smtp bool, opts ...testkit.Option) *emailFixture {
	t.Helper()
	sink := testkit.NewSMTPSink(t)
	if smtp {
		opts = append(opts, testkit.WithSMTP(sink))
	}
	env := testkit.New(t, opts...)
	env.User("alice", "alice-password")
	env.User("bob", "bob-password")
	id, secret := env.Client(admin.NewClient{Name: "Grafana", RedirectURIs: []string{redirectURI},
		Scopes: "openid profile email ACCOUNT_WRITE"})
	provider, err := gooidc.NewProvider(context.Background(), env.URL)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	conf := &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirectURI, Endpoint: provider.Endpoint(),
		Scopes: []string{gooidc.ScopeOpenID, "email", "ACCOUNT_WRITE"}}
	return &emailFixture{sink: sink, oidcFixture: &oidcFixture{env: env, id: id, secret: secret, conf: conf,
		provider: provider, verifier: provider.Verifier(&gooidc.Config{ClientID: id, Now: env.Clock.Now}),
		browser: env.Browser("alice", "alice-password")}}
}

// onBothBackends runs fn on SQLite and on a fresh PostgreSQL database.
func onBothBackends(t *testing.T, fn func(t *testing.T, opts ...testkit.Option)) {
	t.Run("sqlite", func(t *testing.T) { fn(t) })
	t.Run("postgres", func(t *testing.T) { fn(t, testkit.OnFreshPostgres(t)) })
}

// putEmail is alice's PUT /rest/api/latest/users with a new address.
func (f *emailFixture) putEmail(t *testing.T, token, email string) rsResponse {
	t.Helper()
	n := &rsNode{env: f.env}
	return n.call(t, "PUT", "/rest/api/latest/users", token, map[string]any{"email": email})
}

// claims returns what the next ID token and userinfo say about the address.
func (f *emailFixture) claims(t *testing.T) (idClaims, *gooidc.UserInfo, *oauth2.Token) {
	t.Helper()
	tok := f.login(t, "n")
	_, c := f.verify(t, tok)
	info, err := f.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	return c, info, tok
}

var linkPattern = regexp.MustCompile(`https?://\S+/user/settings/email/verify\?token=\S+`)

// link is the confirmation link of the latest mail to the address.
func (f *emailFixture) link(t *testing.T, to string) *url.URL {
	t.Helper()
	m := f.sink.WaitFor(t, to)
	raw := linkPattern.FindString(m.Data)
	u, err := url.Parse(raw)
	if raw == "" || err != nil {
		t.Fatalf("no confirmation link in the mail to %s:\n%s", to, m.Data)
	}
	return u
}

// follow opens the link in b and confirms, returning the final status
// and the page's text.
func follow(t *testing.T, b *testkit.Browser, link *url.URL) (int, string) {
	t.Helper()
	status, body, err := b.Get(link.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		return status, body
	}
	code, _, body, err := b.Submit(link.Path, url.Values{"token": {link.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

func TestEmailOfAnotherUserCannotBeClaimed(t *testing.T) {
	onBothBackends(t, func(t *testing.T, opts ...testkit.Option) {
		f := newEmailFixture(t, true, opts...)
		tok := f.login(t, "n").AccessToken
		for _, taken := range []string{"bob@example.com", "BOB@Example.COM"} {
			msg := f.putEmail(t, tok, taken).want(t, "claim bob's address "+taken, http.StatusConflict).bitbucketError(t)
			if !strings.Contains(msg, "already used") {
				t.Fatalf("409 message %q does not say the address is taken", msg)
			}
		}
		if n := len(f.sink.Mails()); n != 0 {
			t.Fatalf("%d mails sent for a refused address", n)
		}
		u, err := f.env.Store.GetUserByUsername(context.Background(), "alice")
		if err != nil || u.Email != "alice@example.com" || !u.EmailVerified {
			t.Fatalf("alice after the refusals: %+v, %v", u, err)
		}
		// An administrator cannot give it to alice either (409), through
		// the admin API or the admin page.
		root := f.env.User("root", "root-password")
		f.env.Grant("root", admin.Target{Global: true}, "SYS_ADMIN")
		id, secret := f.env.Client(admin.NewClient{Name: "Admin tool", RedirectURIs: []string{redirectURI}, Scopes: "ADMIN_WRITE"})
		n := &rsNode{env: f.env, clientID: id, secret: secret}
		n.call(t, "PUT", "/rest/api/latest/admin/users", n.token(t, root, "ADMIN_WRITE"),
			map[string]any{"name": "alice", "email": "Bob@example.com"}).want(t, "admin gives alice bob's address", http.StatusConflict).bitbucketError(t)
		b := f.env.Browser("root", "root-password")
		if err := b.SignIn(); err != nil {
			t.Fatal(err)
		}
		code, _, body, err := b.Submit("/admin/users/"+strconv.FormatInt(u.ID, 10)+"/email", url.Values{"email": {"bob@EXAMPLE.com"}})
		if err != nil || code != http.StatusConflict || !strings.Contains(body, "already used") {
			t.Fatalf("admin page: status %d, err %v", code, err)
		}
		if u, _ := f.env.Store.GetUserByUsername(context.Background(), "alice"); u.Email != "alice@example.com" {
			t.Fatalf("alice's address became %q", u.Email)
		}
	})
}

func TestEmailSetByUserIsUnverifiedUntilTheMailedLinkIsFollowed(t *testing.T) {
	onBothBackends(t, func(t *testing.T, opts ...testkit.Option) {
		f := newEmailFixture(t, true, opts...)
		tok := f.login(t, "n").AccessToken
		f.putEmail(t, tok, "Alice.New@Example.net").want(t, "ask for a new address", http.StatusAccepted)

		c, info, _ := f.claims(t)
		if c.Email == "Alice.New@Example.net" || info.Email == "Alice.New@Example.net" {
			t.Fatalf("the unconfirmed address reached the claims: ID token %+v, userinfo %+v", c, info)
		}
		if c.Email != "alice@example.com" || !c.EmailVerified || info.Email != "alice@example.com" || !info.EmailVerified {
			t.Fatalf("the verified address left the claims: ID token %+v, userinfo %+v", c, info)
		}

		link := f.link(t, "Alice.New@Example.net")
		if status, body := follow(t, f.browser, link); status != http.StatusSeeOther {
			t.Fatalf("confirm: status %d: %s", status, body)
		}
		c, info, _ = f.claims(t)
		if c.Email != "Alice.New@Example.net" || !c.EmailVerified || info.Email != "Alice.New@Example.net" || !info.EmailVerified {
			t.Fatalf("after confirming: ID token %+v, userinfo %+v", c, info)
		}
		if status, _ := follow(t, f.browser, link); status != http.StatusBadRequest {
			t.Fatalf("the link worked twice: status %d", status)
		}
	})
}

func TestEmailMalformedAddressIsRefused(t *testing.T) {
	f := newEmailFixture(t, true)
	tok := f.login(t, "n").AccessToken
	for _, bad := range []string{"Bob <bob@x>", "<bob@x>", "bob@x (Bob)", "bob@x, carol@y", `"bob smith"@x`,
		"bob@[127.0.0.1]", " bob@x", "bob", "bob@x\r\nBcc: eve@y", "a@b@c", "Group: bob@x;"} {
		f.putEmail(t, tok, bad).want(t, "address "+bad, http.StatusBadRequest).bitbucketError(t)
	}
	if n := len(f.sink.Mails()); n != 0 {
		t.Fatalf("%d mails sent for malformed addresses", n)
	}
}

func TestEmailChangeWithoutSMTPIsRefusedWithAClearMessage(t *testing.T) {
	f := newEmailFixture(t, false)
	tok := f.login(t, "n").AccessToken
	msg := f.putEmail(t, tok, "alice.new@example.net").want(t, "change without SMTP", http.StatusForbidden).bitbucketError(t)
	if !strings.Contains(msg, "cannot send mail") || !strings.Contains(msg, "administrator") {
		t.Fatalf("message %q does not say why or who can", msg)
	}
	code, _, body, err := f.browser.Submit("/user/settings/account/email", url.Values{"email": {"alice.new@example.net"}})
	if err != nil || code != http.StatusForbidden || !strings.Contains(body, "cannot send mail") {
		t.Fatalf("page without SMTP: status %d, err %v: %s", code, err, body)
	}
	u, _ := f.env.Store.GetUserByUsername(context.Background(), "alice")
	if u.Email != "alice@example.com" {
		t.Fatalf("address changed to %q", u.Email)
	}
}

func TestEmailLinkIsSingleUseExpiresAndIsBoundToUserAndAddress(t *testing.T) {
	onBothBackends(t, func(t *testing.T, opts ...testkit.Option) {
		f := newEmailFixture(t, true, opts...)
		ctx := context.Background()
		alice, _ := f.env.Store.GetUserByUsername(ctx, "alice")
		emails := &admin.EmailChanges{Store: f.env.Store, Mailer: nil, Now: f.env.Clock.Now}
		tok := f.login(t, "n").AccessToken

		// Bound to the user: bob, signed in, follows alice's link; nothing changes.
		f.putEmail(t, tok, "first@example.net").want(t, "first request", http.StatusAccepted)
		first := f.link(t, "first@example.net")
		bob := f.env.Browser("bob", "bob-password")
		if err := bob.SignIn(); err != nil {
			t.Fatal(err)
		}
		if status, _ := follow(t, bob, first); status != http.StatusBadRequest {
			t.Fatalf("bob followed alice's link: status %d", status)
		}
		code, _, _, _ := bob.Submit(first.Path, url.Values{"token": {first.Query().Get("token")}})
		if code != http.StatusBadRequest {
			t.Fatalf("bob posted alice's token: status %d", code)
		}
		if u, _ := f.env.Store.GetUserByUsername(ctx, "bob"); u.Email != "bob@example.com" {
			t.Fatalf("bob's address became %q", u.Email)
		}

		// Bound to the address: a second request voids the first link.
		f.putEmail(t, tok, "second@example.net").want(t, "a second request at once", http.StatusTooManyRequests)
		f.env.Clock.Advance(2 * time.Minute)
		f.putEmail(t, tok, "second@example.net").want(t, "second request", http.StatusAccepted)
		second := f.link(t, "second@example.net")
		if status, _ := follow(t, f.browser, first); status != http.StatusBadRequest {
			t.Fatalf("the replaced link still works: status %d", status)
		}
		// An administrator's change voids the pending link too.
		if _, err := admin.SetEmail(ctx, f.env.Store, alice.ID, "by-admin@example.net"); err != nil {
			t.Fatal(err)
		}
		if status, _ := follow(t, f.browser, second); status != http.StatusBadRequest {
			t.Fatalf("the link survived an administrator's change: status %d", status)
		}

		// Expires: a link followed after its lifetime changes nothing.
		f.env.Clock.Advance(2 * time.Minute)
		f.putEmail(t, tok, "third@example.net").want(t, "third request", http.StatusAccepted)
		third := f.link(t, "third@example.net")
		f.env.Clock.Advance(25 * time.Hour)
		if err := f.browser.SignIn(); err != nil { // the session expired too
			t.Fatal(err)
		}
		if _, err := emails.Confirm(ctx, alice.ID, third.Query().Get("token")); err == nil {
			t.Fatal("an expired link was confirmed")
		}
		if status, _ := follow(t, f.browser, third); status != http.StatusBadRequest {
			t.Fatalf("an expired link worked: status %d", status)
		}
		if u, _ := f.env.Store.GetUser(ctx, alice.ID); u.Email != "by-admin@example.net" || !u.EmailVerified {
			t.Fatalf("alice's address after the refused links: %+v", u)
		}
	})
}

func TestEmailChangeDoesNotHangOnASilentSMTPServer(t *testing.T) {
	silent := testkit.NewSilentSMTPSink(t)
	f := newEmailFixture(t, false, testkit.WithSMTP(silent)) // its Timeout is 2s
	tok := f.login(t, "n").AccessToken
	start := time.Now()
	f.putEmail(t, tok, "alice.new@example.net").want(t, "change with a silent SMTP server", http.StatusServiceUnavailable).bitbucketError(t)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the request took %v with a 2s SMTP timeout", took)
	}
}
