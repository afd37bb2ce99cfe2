package browser

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/dialect"
	"latchkey/internal/secret"
	"latchkey/internal/server"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// csrfForm is a state-changing form: where it posts, what it sends, and a
// check that nothing changed in the store.
type csrfForm struct {
	name      string
	as        *testkit.Browser
	path      string
	fields    url.Values
	unchanged func(context.Context) error
}

// csrfAttack is one way a forged post differs from the real one.
type csrfAttack struct {
	name   string
	token  func(valid, other string) string // the csrf_token sent; "" sends none
	header http.Header
}

var csrfAttacks = []csrfAttack{
	{"without a token", func(string, string) string { return "" }, nil},
	{"with a wrong token", func(string, string) string { return "forged-token-forged-token-forged" }, nil},
	{"with another browser's token", func(_, other string) string { return other }, nil},
	{"from another origin", func(valid, _ string) string { return valid }, http.Header{"Origin": {"https://evil.example"}}},
	{"cross-site by Sec-Fetch-Site", func(valid, _ string) string { return valid },
		http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": nil}},
}

// TestFormsRefuseForgedPosts posts every state-changing form the node
// serves (every unsafe-method page route, from server.Routes) without its
// CSRF token, with a wrong one, with a token of another browser, and with
// the right token from another origin: each is refused with 403 and the
// store shows no change — no audit event for any form, and for the forms
// known here, the very thing they change. The same post done right then
// succeeds, so the checks would have seen a change.
func TestFormsRefuseForgedPosts(t *testing.T) {
	env := testkit.New(t, onLocalhost) // a host name: the passkey routes are on too
	alice := env.User("alice", "alice-password")
	env.User("root", "root-password")
	env.Grant("root", admin.Target{Global: true}, "SYS_ADMIN")
	cb := newCallback(t)
	clientID, secretValue := env.Client(admin.NewClient{Name: "Target App", RedirectURIs: []string{cb.URI()},
		Scopes: "REPO_READ read:user", OwnerUserID: alice.ID})
	tok := tokenOverHTTP(t, env, oauthConfig(env, clientID, secretValue, cb.URI(), "REPO_READ"), "alice", "alice-password")

	victim, root, stranger := env.Browser("alice", ""), env.Browser("root", ""), env.Browser("", "")
	httpSignIn(t, victim, "alice", "alice-password")
	httpSignIn(t, root, "root", "root-password")
	_, strangerPage, _ := stranger.Get("/login")
	other := csrfToken(t, strangerPage)

	known := map[string]csrfForm{
		"POST /user/settings/applications": {"register an application", victim, "", url.Values{"name": {"Forged"},
			"redirect_uris": {"https://evil.example/cb"}, "scope": {"REPO_WRITE"}, "client_type": {"confidential"}},
			func(ctx context.Context) error { return noClients(ctx, env, alice.ID, 1) }},
		"POST /user/settings/applications/{client}/secret": {"regenerate a secret", victim, "", url.Values{},
			func(ctx context.Context) error { return sameSecret(ctx, env, clientID, secretValue) }},
		"POST /user/settings/applications/{client}/delete": {"delete an application", victim, "", url.Values{"confirm": {"yes"}},
			func(ctx context.Context) error { _, err := env.Store.GetClient(ctx, clientID); return err }},
		"POST /user/settings/authorizations/{client}/revoke": {"revoke an authorization", victim, "", url.Values{},
			func(ctx context.Context) error { return tokenLive(env, tok.AccessToken) }},
		"POST /user/settings/account": {"change the password", victim, "", url.Values{"current_password": {"alice-password"},
			"new_password": {"attacker-password"}, "confirm_password": {"attacker-password"}},
			func(ctx context.Context) error { return passwordIs(ctx, env, "alice", "alice-password") }},
		"POST /admin/applications/{client}/suspend": {"suspend an application", root, "", url.Values{},
			func(ctx context.Context) error { return notSuspended(ctx, env, clientID) }},
		"POST /admin/users/{user}/disable": {"disable a user", root, "", url.Values{},
			func(ctx context.Context) error { return notDisabled(ctx, env, alice.ID) }},
		"POST /admin/users/{user}/permissions": {"grant a permission", root, "",
			url.Values{"kind": {"global"}, "permission": {"SYS_ADMIN"}},
			func(ctx context.Context) error { return noPermissions(ctx, env, alice.ID) }},
		"POST /logout": {"sign out", victim, "", url.Values{},
			func(ctx context.Context) error { return signedIn(victim) }},
	}
	// The one kind of page route a relying party's page posts on purpose:
	// the end_session_endpoint (RP-Initiated Logout). It takes no CSRF
	// token; a post without a hint of the session must answer with the
	// confirmation page and change nothing.
	crossSite := map[string]bool{}
	for _, path := range []string{dialect.Gitea().EndSessionPath, dialect.Bitbucket().EndSessionPath} {
		name := "RP-initiated logout at " + path
		known["POST "+path] = csrfForm{name: name, as: victim, fields: url.Values{},
			unchanged: func(ctx context.Context) error { return signedIn(victim) }}
		crossSite[name] = true
	}
	values := map[string]string{"client": clientID, "user": itoa(alice.ID)}
	forms := formsOf(t, env.Server.Routes(), known, values, victim, root)
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			valid := csrfToken(t, page(t, f.as, "/user/settings/account"))
			lastEvent := newestAudit(t, env)
			for _, a := range csrfAttacks {
				fields := cloneValues(f.fields)
				if tk := a.token(valid, other); tk != "" {
					fields.Set("csrf_token", tk)
				}
				status, body := postForm(t, f.as, env.URL, f.path, fields, a.header)
				if crossSite[f.name] {
					if status != http.StatusOK || !strings.Contains(body, "Sign out?") {
						t.Errorf("posted %s to the end-session endpoint: status %d, want the confirmation page: %.300s", a.name, status, body)
					}
				} else if status != http.StatusForbidden || !strings.Contains(body, "did not come from this site") {
					t.Errorf("posted %s: status %d, want 403 with a page that says why: %.300s", a.name, status, body)
				}
				if err := f.unchanged(t.Context()); err != nil {
					t.Fatalf("posted %s: the store changed: %v", a.name, err)
				}
				if newest := newestAudit(t, env); newest != lastEvent {
					t.Fatalf("posted %s: the audit trail grew (event %d)", a.name, newest)
				}
			}
		})
	}
	t.Run("the same post done right changes the store", func(t *testing.T) {
		f := known["POST /user/settings/applications"]
		valid := csrfToken(t, page(t, victim, "/user/settings/applications"))
		fields := cloneValues(f.fields)
		fields.Set("csrf_token", valid)
		if status, body := postForm(t, victim, env.URL, "/user/settings/applications", fields, nil); status != http.StatusOK {
			t.Fatalf("register with the right token: %d: %.300s", status, body)
		}
		if err := f.unchanged(t.Context()); err == nil {
			t.Fatal("a registration with the right token changed nothing")
		}
	})
}

// formsOf lists a form for every page route with an unsafe method, in the
// order the node registered them: the known form of its pattern, or else
// an empty form posted by root on the admin pages and by the victim
// elsewhere, checked by the audit trail alone. Wildcards take values, or
// "x". Every known form must still be registered.
func formsOf(t *testing.T, list []server.Route, known map[string]csrfForm, values map[string]string, victim, root *testkit.Browser) []csrfForm {
	t.Helper()
	fill := func(name string) []string { return []string{cmp.Or(values[name], "x")} }
	var forms []csrfForm
	seen := map[string]bool{}
	for _, r := range list {
		if !r.Page || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			continue
		}
		pattern := r.String()
		seen[pattern] = true
		f, ok := known[pattern]
		if !ok {
			f = csrfForm{name: pattern, as: victim, fields: url.Values{}, unchanged: func(context.Context) error { return nil }}
			if strings.HasPrefix(r.Path, "/admin/") {
				f.as = root
			}
		}
		f.path = r.Fill(fill)[0]
		forms = append(forms, f)
	}
	for pattern := range known {
		if !seen[pattern] {
			t.Errorf("the form %q is no longer registered", pattern)
		}
	}
	if len(forms) < len(known) {
		t.Fatalf("only %d forms among the node's routes", len(forms))
	}
	return forms
}

// newestAudit is the ID of the newest audit event, 0 for none.
func newestAudit(t *testing.T, env *testkit.Env) int64 {
	t.Helper()
	events, _, err := env.Store.ListAudit(t.Context(), store.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		return 0
	}
	return events[0].ID
}

// postForm posts fields as b (its cookies), with the node's own Origin
// unless header overrides it (a nil value removes a header).
func postForm(t *testing.T, b *testkit.Browser, base, path string, fields url.Values, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(fields.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	for k, v := range header {
		req.Header.Del(k)
		for _, s := range v {
			req.Header.Add(k, s)
		}
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// page fetches a page as b and fails unless it is 200.
func page(t *testing.T, b *testkit.Browser, path string) string {
	t.Helper()
	status, body, err := b.Get(path)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET %s: %v, status %d", path, err, status)
	}
	return body
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func noClients(ctx context.Context, env *testkit.Env, owner int64, want int) error {
	cs, err := store.All(ctx, store.Bind(env.Store.ListClientsByOwner, owner))
	if err != nil {
		return err
	}
	if len(cs) != want {
		return errors.New("the user's applications changed")
	}
	return nil
}

func sameSecret(ctx context.Context, env *testkit.Env, clientID, plain string) error {
	c, err := env.Store.GetClient(ctx, clientID)
	if err != nil {
		return err
	}
	if c.SecretHash != secret.Hash(plain) {
		return errors.New("the client secret changed")
	}
	return nil
}

func tokenLive(env *testkit.Env, access string) error {
	_, fam, err := env.Store.GetToken(context.Background(), secret.TokenKey(access))
	if err != nil {
		return err
	}
	if fam.Revoked() {
		return errors.New("the authorization was revoked")
	}
	return nil
}

func passwordIs(ctx context.Context, env *testkit.Env, username, password string) error {
	u, err := env.Store.GetUserByUsername(ctx, username)
	if err != nil {
		return err
	}
	if ok, err := secret.CheckPassword(u.PasswordHash, password); err != nil || !ok {
		return errors.New("the password changed")
	}
	return nil
}

func notSuspended(ctx context.Context, env *testkit.Env, clientID string) error {
	c, err := env.Store.GetClient(ctx, clientID)
	if err != nil {
		return err
	}
	if c.Suspended {
		return errors.New("the client was suspended")
	}
	return nil
}

func notDisabled(ctx context.Context, env *testkit.Env, userID int64) error {
	u, err := env.Store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if u.Disabled {
		return errors.New("the user was disabled")
	}
	return nil
}

func noPermissions(ctx context.Context, env *testkit.Env, userID int64) error {
	perms, err := env.Store.ListPermissions(ctx, userID)
	if err != nil {
		return err
	}
	for _, p := range perms {
		if p.Target == store.TargetGlobal {
			return errors.New("a global permission was granted")
		}
	}
	return nil
}

func signedIn(b *testkit.Browser) error {
	status, _, err := b.Get("/user/settings/account")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return errors.New("the browser was signed out")
	}
	return nil
}
