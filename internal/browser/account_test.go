package browser

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// TestFailedLoginsAreThrottledWithTheSameAnswerForAnyName: in Chromium,
// a wrong password and an unknown user name get the same message; after
// several failures the page says to wait, even for the right password.
func TestFailedLoginsAreThrottledWithTheSameAnswerForAnyName(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	b := newTab(t, env)

	attempt := func(username, password string) (int64, string) {
		b.open("/login")
		resp := b.signIn(username, password)
		return resp.Status, b.text(".error")
	}
	status, unknown := attempt("nobody-by-this-name", "whatever-password")
	if status != http.StatusUnauthorized || unknown != "The user name or password is not correct." {
		t.Fatalf("unknown user: %d %q", status, unknown)
	}
	var throttled string
	for i := 1; i <= 10 && throttled == ""; i++ {
		status, msg := attempt("alice", "wrong-password")
		switch {
		case status == http.StatusTooManyRequests && strings.HasPrefix(msg, "Too many failed attempts. Wait"):
			if i <= 4 {
				t.Fatalf("throttled after only %d failures of alice (and one of an unknown name)", i)
			}
			throttled = msg
		case status != http.StatusUnauthorized || msg != unknown:
			t.Fatalf("wrong password, attempt %d: %d %q, want the same answer as for an unknown user (%q)", i, status, msg, unknown)
		}
	}
	if throttled == "" {
		t.Fatal("ten wrong passwords in a row were never throttled")
	}
	// Turn the test clock back a minute, so that the wait (a second or
	// two by now) cannot run out before the next attempt on a slow machine.
	env.Clock.Advance(-time.Minute)
	if status, msg := attempt("alice", "alice-password"); status != http.StatusTooManyRequests || !strings.HasPrefix(msg, "Too many failed attempts") {
		t.Errorf("right password while throttled: %d %q, want the throttle message", status, msg)
	}
	events, err := store.All(t.Context(), env.Store.ListAudit)
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	failed := 0
	for _, e := range events {
		if e.Event == "login.failed" {
			failed++
		}
	}
	if failed < 5 {
		t.Errorf("the audit log holds %d failed logins, want at least 5", failed)
	}
}

// TestPasswordChangeEndsOtherSessions: changing the password in Chromium
// signs the user out of every other browser (here a scripted one) and keeps
// this one signed in; the old password stops working.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	other := env.Browser("alice", "alice-password")
	httpSignIn(t, other, "alice", "alice-password")
	if status, _, _ := other.Get("/user/settings/account"); status != http.StatusOK {
		t.Fatalf("other browser before the change: %d, want 200", status)
	}

	b := newTab(t, env)
	b.open("/user/settings/account")
	b.signIn("alice", "alice-password")
	b.fill("#current_password", "wrong-password")
	b.fill("#new_password", "a-new-password")
	b.fill("#confirm_password", "a-new-password")
	b.click(`form[action="/user/settings/account"] button[type="submit"]`)
	b.wantText("wrong current password", "The current password is not correct.")

	b.fill("#current_password", "alice-password")
	b.fill("#new_password", "a-new-password")
	b.fill("#confirm_password", "a-new-password")
	b.click(`form[action="/user/settings/account"] button[type="submit"]`)
	b.wantText("after the change", "Your password was changed")
	// The box "also sign out everywhere and revoke every application" is
	// ticked by default, so the default submission revokes grants too.
	if !strings.HasSuffix(b.location(), "/user/settings/account?done=password_revoked") {
		t.Errorf("after the change the tab is at %s", b.location())
	}

	if status, _, _ := other.Get("/user/settings/account"); status != http.StatusFound {
		t.Errorf("other browser after the change: %d, want 302 to the login page", status)
	}
	b.open("/user/settings/account")
	b.wantText("this browser after the change", "Change your password", "alice")

	fresh := env.Browser("alice", "")
	_, page, _ := fresh.Get("/login")
	resp, _, err := fresh.Post("/login", map[string][]string{"csrf_token": {csrfToken(t, page)},
		"username": {"alice"}, "password": {"alice-password"}})
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign in with the old password: %v %v, want 401", err, resp.Status)
	}
	httpSignIn(t, fresh, "alice", "a-new-password")
}

// TestSignOutEverywhereAsksThenLandsOnTheLoginPage clicks "Sign out
// everywhere" in a real browser: a confirmation page first, then every
// session ends, this one too, and the login page says so.
func TestSignOutEverywhereAsksThenLandsOnTheLoginPage(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	other := env.Browser("alice", "alice-password")
	httpSignIn(t, other, "alice", "alice-password")

	b := newTab(t, env)
	b.open("/user/settings/account")
	b.signIn("alice", "alice-password")
	b.click(`form[action="/user/settings/account/sign-out-everywhere"] button[type="submit"]`)
	b.wantText("the confirmation page", "Sign out everywhere?", "this one included")
	if status, _, _ := other.Get("/user/settings/account"); status != http.StatusOK {
		t.Errorf("other browser before confirming: %d, want 200", status)
	}
	b.click(`button.danger[type="submit"]`)
	b.wantText("after confirming", "You were signed out everywhere")
	if !strings.HasSuffix(b.location(), "/login?done=signed_out") {
		t.Errorf("after confirming the tab is at %s, want the login page", b.location())
	}
	if status, _, _ := other.Get("/user/settings/account"); status != http.StatusFound {
		t.Errorf("other browser after the sign-out: %d, want 302 to the login page", status)
	}
	b.open("/user/settings/account")
	b.wantText("this browser after the sign-out", "Sign in")
}
