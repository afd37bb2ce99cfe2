package web_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, to rename a table

	"latchkey/internal/config"
	"latchkey/internal/testkit"
)

// behindProxy makes the node believe X-Forwarded-For from 127.0.0.1, so
// that a test can sign in from many client addresses.
func behindProxy(c *config.Config) { c.TrustedProxies = "127.0.0.1" }

// forwardedFor sends every request as if a proxy forwarded it for addr.
type forwardedFor struct {
	addr string
	next http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return f.next.RoundTrip(r)
}

// from is a fresh browser at the client address addr.
func from(env *testkit.Env, addr string) *testkit.Browser {
	b := env.Browser("", "")
	b.Client.Transport = forwardedFor{addr: addr, next: b.Client.Transport}
	return b
}

// signIn posts the login form and returns the status: 303 signed in, 401
// wrong, 429 throttled.
func signIn(t *testing.T, b *testkit.Browser, username, password string) int {
	t.Helper()
	status, _, _ := submit(t, b, "/login", url.Values{"username": {username}, "password": {password}, "next": {"/"}})
	return status
}

// TestABurstOfLoginsReachesThePasswordCheckOnlyAsOftenAsTheThrottleAllows:
// 60 simultaneous sign-ins at one account from one address, the right
// password at position 45 once the throttle has closed: only the five
// free failures and the one that sets the first delay reach the password
// check; every other attempt, the right one included, answers 429.
func TestABurstOfLoginsReachesThePasswordCheckOnlyAsOftenAsTheThrottleAllows(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	b := env.Browser("", "")
	const burst, right = 60, 44 // index 44 is position 45
	statuses := signInBurst(t, env, b, burst, right)
	checked := 0
	for i, s := range statuses {
		switch s {
		case http.StatusUnauthorized, http.StatusSeeOther:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("attempt %d: status %d", i+1, s)
		}
	}
	if checked > 6 {
		t.Errorf("%d of %d simultaneous attempts reached the password check, want at most 6 (five free failures and one more)", checked, burst)
	}
	if statuses[right] != http.StatusTooManyRequests {
		t.Errorf("the right password at position %d, after the throttle closed: status %d, want 429", right+1, statuses[right])
	}
	failed := 0
	for _, e := range events(t, env.Store) {
		if e.Event == "login.failed" {
			failed++
		}
	}
	if failed != countOf(statuses, http.StatusUnauthorized) {
		t.Errorf("%d failed logins audited, %d attempts answered 401", failed, countOf(statuses, http.StatusUnauthorized))
	}
	env.Clock.Advance(2 * time.Hour)
	if status := signIn(t, b, "alice", "alice-password"); status != http.StatusSeeOther {
		t.Errorf("the right password once the delay ran out: %d, want 303", status)
	}
}

// signInBurst posts n sign-ins as alice at once, all with a wrong password
// except the one at index right, which waits until the throttle has
// answered 429 once (or every attempt before it is done). It returns the
// statuses by index.
func signInBurst(t *testing.T, env *testkit.Env, b *testkit.Browser, n, right int) []int {
	t.Helper()
	token, err := b.CSRF("/login")
	if err != nil {
		t.Fatal(err)
	}
	statuses := make([]int, n)
	post := func(i int, password string) {
		resp, _, err := b.Post("/login", url.Values{"csrf_token": {token}, "username": {"alice"},
			"password": {password}, "next": {"/"}})
		if err != nil {
			t.Error(err)
			return
		}
		statuses[i] = resp.StatusCode
	}
	var earlier, all sync.WaitGroup
	earlier.Add(right)
	closed, earlierDone := make(chan struct{}), make(chan struct{})
	var closeOnce sync.Once
	go func() { earlier.Wait(); close(earlierDone) }()
	for i := range n {
		all.Add(1)
		go func() {
			defer all.Done()
			if i == right {
				select {
				case <-closed:
				case <-earlierDone:
				}
				post(i, "alice-password")
				return
			}
			post(i, "wrong-password")
			if statuses[i] == http.StatusTooManyRequests {
				// Turn the clock back, so that the first delay (a second)
				// cannot run out during the burst on a slow machine.
				closeOnce.Do(func() { env.Clock.Advance(-time.Minute); close(closed) })
			}
			if i < right {
				earlier.Done()
			}
		}()
	}
	all.Wait()
	return statuses
}

func countOf(statuses []int, status int) int {
	n := 0
	for _, s := range statuses {
		if s == status {
			n++
		}
	}
	return n
}

// TestWrongPasswordsFromSixAddressesDoNotLockOutAFreshAddress: failures
// at an account from elsewhere do not stop the right password from an
// address that has not been failing.
func TestWrongPasswordsFromSixAddressesDoNotLockOutAFreshAddress(t *testing.T) {
	env := testkit.New(t, behindProxy)
	env.User("alice", "alice-password")
	for i := range 6 {
		if status := signIn(t, from(env, fmt.Sprintf("203.0.113.%d", i+1)), "alice", "wrong-password"); status != http.StatusUnauthorized {
			t.Fatalf("wrong password from address %d: %d, want 401", i+1, status)
		}
	}
	if status := signIn(t, from(env, "198.51.100.7"), "alice", "alice-password"); status != http.StatusSeeOther {
		t.Errorf("the right password from a fresh address after six failures elsewhere: %d, want 303", status)
	}
}

// TestAnAddressThatKeepsFailingIsBlocked: one address gets five free
// failures and one more check, then waits, even with the right password;
// an address that has not been failing signs in meanwhile.
func TestAnAddressThatKeepsFailingIsBlocked(t *testing.T) {
	env := testkit.New(t, behindProxy)
	env.User("alice", "alice-password")
	guesser := from(env, "203.0.113.9")
	for i := range 6 {
		if status := signIn(t, guesser, "alice", "wrong-password"); status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, status)
		}
	}
	env.Clock.Advance(-time.Minute) // the delay (a second) cannot run out now
	if status := signIn(t, guesser, "alice", "wrong-password"); status != http.StatusTooManyRequests {
		t.Errorf("seventh wrong password: %d, want 429", status)
	}
	if status := signIn(t, guesser, "alice", "alice-password"); status != http.StatusTooManyRequests {
		t.Errorf("the right password from the blocked address: %d, want 429", status)
	}
	if status := signIn(t, from(env, "198.51.100.7"), "alice", "alice-password"); status != http.StatusSeeOther {
		t.Errorf("the right password from another address: %d, want 303", status)
	}
	if status := signIn(t, from(env, "2001:db8:1:2::9"), "alice", "wrong-password"); status != http.StatusUnauthorized {
		t.Errorf("an IPv6 address: %d, want 401", status)
	}
}

// TestGuessingFromManyAddressesHitsTheAccountCeiling: one wrong password
// from each of 21 addresses passes the account's ceiling (20): after that
// unknown requesters wait, however fresh their address, so guessing stays
// slow across many sources; the owner's browser, which signed in before,
// still signs in, from any address.
func TestGuessingFromManyAddressesHitsTheAccountCeiling(t *testing.T) {
	env := testkit.New(t, behindProxy)
	env.User("alice", "alice-password")
	owner := from(env, "192.0.2.1")
	if status := signIn(t, owner, "alice", "alice-password"); status != http.StatusSeeOther {
		t.Fatalf("owner's first sign-in: %d", status)
	}
	for i := range 21 {
		if status := signIn(t, from(env, fmt.Sprintf("203.0.113.%d", i+1)), "alice", "wrong-password"); status != http.StatusUnauthorized {
			t.Fatalf("wrong password from address %d: %d, want 401", i+1, status)
		}
	}
	if status := signIn(t, from(env, "198.51.100.22"), "alice", "wrong-password"); status != http.StatusTooManyRequests {
		t.Errorf("a 22nd guess from a fresh address: %d, want 429", status)
	}
	if status := signIn(t, from(env, "198.51.100.23"), "alice", "alice-password"); status != http.StatusTooManyRequests {
		t.Errorf("the right password from a fresh address and an unknown browser past the ceiling: %d, want 429", status)
	}
	owner.Client.Transport = forwardedFor{addr: "198.51.100.24", next: owner.Client.Transport.(forwardedFor).next}
	if status := signIn(t, owner, "alice", "alice-password"); status != http.StatusSeeOther {
		t.Errorf("the owner's browser past the ceiling: %d, want 303", status)
	}
	if status := signIn(t, from(env, "198.51.100.25"), "bob-who-is-not-attacked", "x"); status != http.StatusUnauthorized {
		t.Errorf("another account is not under the ceiling: %d, want 401", status)
	}
	env.Clock.Advance(time.Hour)
	if status := signIn(t, from(env, "198.51.100.26"), "alice", "alice-password"); status != http.StatusSeeOther {
		t.Errorf("a fresh address once the account's delay ran out: %d, want 303", status)
	}
}

// TestFailuresElsewhereDoNotStopAPasswordChange: the account is under
// attack past its ceiling, and its signed-in owner still changes the
// password; wrong current passwords from that session are throttled on
// their own.
func TestFailuresElsewhereDoNotStopAPasswordChange(t *testing.T) {
	env := testkit.New(t, behindProxy)
	env.User("alice", "alice-password")
	owner := from(env, "192.0.2.1")
	if status := signIn(t, owner, "alice", "alice-password"); status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", status)
	}
	for i := range 25 {
		signIn(t, from(env, fmt.Sprintf("203.0.113.%d", i+1)), "alice", "wrong-password")
	}
	change := func(current string) int {
		status, _, _ := submit(t, owner, "/user/settings/account", url.Values{"current_password": {current},
			"new_password": {"a-new-password"}, "confirm_password": {"a-new-password"}})
		return status
	}
	for i := range 6 {
		if status := change("wrong-password"); status != http.StatusBadRequest {
			t.Fatalf("wrong current password %d: %d, want 400", i+1, status)
		}
	}
	env.Clock.Advance(-time.Minute)
	if status := change("wrong-password"); status != http.StatusTooManyRequests {
		t.Errorf("seventh wrong current password: %d, want 429", status)
	}
	env.Clock.Advance(time.Hour)
	if status := change("alice-password"); status != http.StatusSeeOther {
		t.Errorf("the right current password while the account is under attack: %d, want 303", status)
	}
}

// TestAFailedLoginLeavesNoTraceOfTheTypedName: a name that is no account
// (often a password typed into the wrong field) appears neither in the
// audit trail nor in the log; a failed login at an existing account names
// the account.
func TestAFailedLoginLeavesNoTraceOfTheTypedName(t *testing.T) {
	var log testkit.SyncBuffer
	env := testkit.NewWithLog(t, &log)
	alice := env.User("alice", "alice-password")
	b := env.Browser("", "")
	const typed = "Tr0ub4dor-and-3"
	if status := signIn(t, b, typed, "alice-password"); status != http.StatusUnauthorized {
		t.Fatalf("unknown name: %d, want 401", status)
	}
	if status := signIn(t, b, "ALICE", "wrong-password"); status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", status)
	}
	var failed []string
	for _, e := range events(t, env.Store) {
		if strings.Contains(fmt.Sprintf("%+v", e), typed) {
			t.Errorf("the audit trail holds the typed name: %+v", e)
		}
		if e.Event == "login.failed" {
			failed = append(failed, fmt.Sprintf("%d %s", e.UserID, e.Username))
		}
	}
	if want := []string{"0 ", fmt.Sprintf("%d alice", alice.ID)}; fmt.Sprint(failed) != fmt.Sprint(want) {
		t.Errorf("failed logins audited as %q, want %q", failed, want)
	}
	if strings.Contains(log.String(), typed) {
		t.Errorf("the log holds the typed name:\n%s", log.String())
	}
	if !strings.Contains(log.String(), `"event":"login.failed"`) {
		t.Errorf("the log has no failed login:\n%s", log.String())
	}
}

// TestFailuresAtOneNodeBlockTheSameAccountAndSourceAtAnother: two nodes
// share one PostgreSQL database, and so the throttle's counters: after
// the five free failures and one more at node A from one address, node B
// refuses that address at that account too, even with the right password,
// and does not run the password check; another address still signs in at
// node B.
func TestFailuresAtOneNodeBlockTheSameAccountAndSourceAtAnother(t *testing.T) {
	dsn := testkit.FreshPostgres(t)
	onShared := func(c *config.Config) { c.DB, c.KeyEncryptionKey = dsn, testkit.TestKeyEncryptionKey }
	a := testkit.New(t, onShared, behindProxy)
	b := testkit.New(t, onShared, behindProxy)
	a.User("alice", "alice-password")
	for i := range 6 {
		if status := signIn(t, from(a, "203.0.113.9"), "alice", "wrong-password"); status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d at node A: %d, want 401", i+1, status)
		}
	}
	b.Clock.Advance(-time.Minute) // the delay (a second) cannot run out now
	if status := signIn(t, from(b, "203.0.113.9"), "alice", "alice-password"); status != http.StatusTooManyRequests {
		t.Errorf("the right password at node B from the address that failed at node A: %d, want 429", status)
	}
	if status := signIn(t, from(b, "198.51.100.7"), "alice", "alice-password"); status != http.StatusSeeOther {
		t.Errorf("the right password at node B from another address: %d, want 303", status)
	}
}

// TestSignInFailsClosedWhileTheThrottleCannotCount: with the throttle's
// table gone from under the node, a sign-in with the right password is
// refused with the unavailable page (503), not let through unthrottled;
// once the table is back, the same sign-in succeeds.
func TestSignInFailsClosedWhileTheThrottleCannotCount(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	db, err := sql.Open("sqlite", env.Config.DSN()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rename := func(from, to string) {
		if _, err := db.Exec("ALTER TABLE " + from + " RENAME TO " + to); err != nil {
			t.Fatal(err)
		}
	}
	b := env.Browser("", "")
	rename("throttle_counters", "throttle_counters_gone")
	status, _, body := submit(t, b, "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}, "next": {"/"}})
	wantPage(t, "sign-in while the throttle cannot count", status, body, http.StatusServiceUnavailable, "temporarily unavailable")
	rename("throttle_counters_gone", "throttle_counters")
	if status := signIn(t, b, "alice", "alice-password"); status != http.StatusSeeOther {
		t.Errorf("sign-in once the throttle's table is back: %d, want 303", status)
	}
}
