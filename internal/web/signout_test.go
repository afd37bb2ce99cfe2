package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// onSQLiteAndPostgres runs fn on a node over SQLite and one over PostgreSQL.
func onSQLiteAndPostgres(t *testing.T, fn func(t *testing.T, env *testkit.Env)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, testkit.New(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, testkit.New(t, testkit.OnFreshPostgres(t))) })
}

// grant is one authorization: the client that holds it and its tokens.
type grant struct {
	conf *oauth2.Config
	tok  *oauth2.Token
}

// signOutFixture: alice authorized two applications and is signed in on
// two browsers; bob authorized one of them and is signed in too.
type signOutFixture struct {
	env         *testkit.Env
	alice, bob  store.User
	aliceGrants []grant
	bobGrant    grant
	here, there *testkit.Browser // alice's two browsers
	bobUI       *testkit.Browser
}

func newSignOutFixture(t *testing.T, env *testkit.Env) *signOutFixture {
	f := &signOutFixture{env: env, alice: env.User("alice", "alice-password"), bob: env.User("bob", "bob-password")}
	for _, name := range []string{"Editor", "CI"} {
		id, plain := env.Client(admin.NewClient{Name: name, RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ read:user"})
		conf := oauthConfig(env, id, plain)
		f.aliceGrants = append(f.aliceGrants, grant{conf, token(t, env, id, plain, "alice")})
		if name == "CI" {
			f.bobGrant = grant{conf, token(t, env, id, plain, "bob")}
		}
	}
	f.here, f.there = signedIn(t, env, "alice", "alice-password"), signedIn(t, env, "alice", "alice-password")
	f.bobUI = signedIn(t, env, "bob", "bob-password")
	return f
}

// refreshError refreshes the grant's refresh token and returns the RFC
// 6749 error code of the refusal, or "" if a new token came.
func refreshError(t *testing.T, g grant) string {
	t.Helper()
	_, err := g.conf.TokenSource(context.WithoutCancel(t.Context()), &oauth2.Token{RefreshToken: g.tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &re):
		return re.ErrorCode
	}
	t.Fatalf("refresh: %v", err)
	return ""
}

// wantDead fails unless every access token answers 401 and every
// refresh token invalid_grant.
func wantDead(t *testing.T, env *testkit.Env, who string, gs ...grant) {
	t.Helper()
	for _, g := range gs {
		if s := callAPI(t, env, g.tok.AccessToken); s != http.StatusUnauthorized {
			t.Errorf("%s's access token of %s: %d, want 401", who, g.conf.ClientID, s)
		}
		if code := refreshError(t, g); code != "invalid_grant" {
			t.Errorf("%s's refresh token of %s: error %q, want invalid_grant", who, g.conf.ClientID, code)
		}
	}
}

// wantAlive fails unless every access token answers 200 and every refresh
// token still rotates.
func wantAlive(t *testing.T, env *testkit.Env, who string, gs ...grant) {
	t.Helper()
	for _, g := range gs {
		if s := callAPI(t, env, g.tok.AccessToken); s != http.StatusOK {
			t.Errorf("%s's access token of %s: %d, want 200", who, g.conf.ClientID, s)
		}
		if code := refreshError(t, g); code != "" {
			t.Errorf("%s's refresh token of %s: refused with %q, want a new token", who, g.conf.ClientID, code)
		}
	}
}

// wantSignedOut fails unless the browser's session is gone.
func wantSignedOut(t *testing.T, what string, b *testkit.Browser, out bool) {
	t.Helper()
	status, _ := get(t, b, "/user/settings/account")
	if got := status == http.StatusFound; got != out {
		t.Errorf("%s: account page answers %d, signed out = %v, want %v", what, status, got, out)
	}
}

// wantEvent fails unless the audit trail holds the event.
func wantEvent(t *testing.T, st store.Store, name audit.Event, user store.User, detail string) {
	t.Helper()
	es := events(t, st)
	if !slices.ContainsFunc(es, func(e store.AuditEvent) bool {
		return e.Event == name && e.UserID == user.ID && strings.Contains(e.Detail, detail)
	}) {
		t.Errorf("no %s event by %s saying %q in %+v", name, user.Username, detail, es)
	}
}

func TestSigningOutEverywhereEndsEverySessionAndGrantOfThatUserOnly(t *testing.T) {
	onSQLiteAndPostgres(t, func(t *testing.T, env *testkit.Env) {
		f := newSignOutFixture(t, env)
		status, body := get(t, f.here, "/user/settings/account")
		wantPage(t, "account page", status, body, http.StatusOK, "Sign out everywhere", `action="/user/settings/account/sign-out-everywhere"`)

		status, _, body = submit(t, f.here, "/user/settings/account/sign-out-everywhere", nil)
		wantPage(t, "unconfirmed sign-out", status, body, http.StatusOK, "Sign out everywhere?", `name="confirm" value="yes"`)
		wantAlive(t, env, "alice (before confirming)", f.aliceGrants...)
		wantSignedOut(t, "alice here, before confirming", f.here, false)

		status, loc, _ := submit(t, f.here, "/user/settings/account/sign-out-everywhere", url.Values{"confirm": {"yes"}})
		if status != http.StatusSeeOther || loc != "/login?done=signed_out" {
			t.Fatalf("confirmed sign-out: %d to %q, want 303 to the login page", status, loc)
		}
		wantDead(t, env, "alice", f.aliceGrants...)
		wantSignedOut(t, "alice here", f.here, true)
		wantSignedOut(t, "alice there", f.there, true)
		wantAlive(t, env, "bob", f.bobGrant)
		wantSignedOut(t, "bob", f.bobUI, false)
		wantEvent(t, env.Store, audit.SignedOutEverywhere, f.alice, "2 token grants revoked")
		_, body = get(t, env.Browser("alice", "alice-password"), loc)
		wantPage(t, "login page after the sign-out", http.StatusOK, body, http.StatusOK, "You were signed out everywhere")
	})
}

// changePassword posts the password form, ticking the box if revokeAll.
func changePassword(t *testing.T, b *testkit.Browser, current, next string, revokeAll bool) {
	t.Helper()
	form := url.Values{"current_password": {current}, "new_password": {next}, "confirm_password": {next}}
	if revokeAll {
		form.Set("revoke_all", "on")
	}
	status, loc, body := submit(t, b, "/user/settings/account", form)
	if status != http.StatusSeeOther {
		t.Fatalf("change password: %d to %q: %s", status, loc, body)
	}
}

func TestPasswordChangeWithTheBoxTickedRevokesEveryApplication(t *testing.T) {
	onSQLiteAndPostgres(t, func(t *testing.T, env *testkit.Env) {
		f := newSignOutFixture(t, env)
		_, body := get(t, f.here, "/user/settings/account")
		if !strings.Contains(body, `name="revoke_all" aria-describedby="revoke-hint" checked`) {
			t.Error("the box \"also sign out everywhere and revoke every application\" is not ticked by default")
		}
		changePassword(t, f.here, "alice-password", "alice-new-password", true)
		wantDead(t, env, "alice", f.aliceGrants...)
		wantSignedOut(t, "alice here (who changed it)", f.here, false)
		wantSignedOut(t, "alice there", f.there, true)
		wantAlive(t, env, "bob", f.bobGrant)
		wantEvent(t, env.Store, audit.SignedOutEverywhere, f.alice, "with the password change")
	})
}

func TestPasswordChangeWithTheBoxUntickedKeepsApplications(t *testing.T) {
	env := testkit.New(t)
	f := newSignOutFixture(t, env)
	changePassword(t, f.here, "alice-password", "alice-new-password", false)
	wantAlive(t, env, "alice", f.aliceGrants...)
	wantSignedOut(t, "alice there", f.there, true)
}

func TestAdminSignsAUserOutEverywhere(t *testing.T) {
	onSQLiteAndPostgres(t, func(t *testing.T, env *testkit.Env) {
		f := newSignOutFixture(t, env)
		root, ops := env.User("root", "root-password"), env.User("ops", "ops-password")
		env.Grant("root", admin.Target{Global: true}, "SYS_ADMIN")
		env.Grant("ops", admin.Target{Global: true}, "ADMIN")
		opsUI := signedIn(t, env, "ops", "ops-password")
		page := "/admin/users/" + strconv.FormatInt(f.alice.ID, 10)

		status, body := get(t, opsUI, page)
		wantPage(t, "admin user page", status, body, http.StatusOK, `action="`+page+`/sign-out"`)
		status, _, body = submit(t, f.bobUI, page+"/sign-out", url.Values{"confirm": {"yes"}})
		wantPage(t, "bob signs alice out", status, body, http.StatusForbidden, "Only administrators")
		status, _, body = submit(t, opsUI, "/admin/users/"+strconv.FormatInt(root.ID, 10)+"/sign-out", url.Values{"confirm": {"yes"}})
		wantPage(t, "an ADMIN signs a SYS_ADMIN out", status, body, http.StatusForbidden, "Only a system administrator")
		status, _, body = submit(t, opsUI, "/admin/users/"+strconv.FormatInt(ops.ID, 10)+"/sign-out", url.Values{"confirm": {"yes"}})
		wantPage(t, "ops signs themself out", status, body, http.StatusBadRequest, "use your account page")
		status, _, body = submit(t, opsUI, page+"/sign-out", nil)
		wantPage(t, "unconfirmed", status, body, http.StatusOK, "Sign out alice everywhere?")
		wantAlive(t, env, "alice (before confirming)", f.aliceGrants...)

		status, loc, _ := submit(t, opsUI, page+"/sign-out", url.Values{"confirm": {"yes"}})
		if status != http.StatusSeeOther || loc != page+"?done=user_signed_out" {
			t.Fatalf("confirmed: %d to %q", status, loc)
		}
		wantDead(t, env, "alice", f.aliceGrants...)
		wantSignedOut(t, "alice here", f.here, true)
		wantSignedOut(t, "alice there", f.there, true)
		wantAlive(t, env, "bob", f.bobGrant)
		wantSignedOut(t, "ops", opsUI, false)
		// Four sessions: the two browsers that authorized, here and there.
		wantEvent(t, env.Store, audit.UserSignedOut, ops, "user: alice; 4 sessions ended, 2 token grants revoked")
		if u, _ := env.Store.GetUser(t.Context(), f.alice.ID); u.Disabled {
			t.Error("signing alice out disabled her account")
		}
		signedIn(t, env, "alice", "alice-password") // she may sign in again
	})
}
