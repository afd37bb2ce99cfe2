package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/config"
	"latchkey/internal/passkey"
	"latchkey/internal/passkey/passkeytest"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// onLocalhost gives the node a base URL with a host name, localhost, as
// passkeys need (browsers refuse an IP address as relying party ID).
func onLocalhost(c *config.Config) {
	c.BaseURL = strings.Replace(c.BaseURL, "127.0.0.1", "localhost", 1)
}

// origin is the node's origin, which the authenticator's browser claims.
func origin(env *testkit.Env) string { return strings.TrimRight(env.Config.BaseURL, "/") }

// onLocalhostSQLiteAndPostgres runs fn on a localhost node over SQLite and
// one over PostgreSQL.
func onLocalhostSQLiteAndPostgres(t *testing.T, fn func(t *testing.T, env *testkit.Env)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, testkit.New(t, onLocalhost)) })
	t.Run("postgres", func(t *testing.T) { fn(t, testkit.New(t, onLocalhost, testkit.OnFreshPostgres(t))) })
}

// ceremonyResult is a finish endpoint's answer.
type ceremonyResult struct {
	Status   int
	Redirect string `json:"redirect"`
	Error    string `json:"error"`
}

// ceremony runs one WebAuthn ceremony the way static/webauthn.js does:
// begin (a form post with the CSRF token), the authenticator's answer to
// the options, finish. answer returns the credential JSON to send.
func ceremony(t *testing.T, b *testkit.Browser, path string, form url.Values, answer func(opts []byte) []byte) ceremonyResult {
	t.Helper()
	status, _, body := submit(t, b, path+"/begin", form)
	if status != http.StatusOK {
		return ceremonyResult{Status: status, Error: body}
	}
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("credential", string(answer([]byte(body))))
	status, _, body = submit(t, b, path+"/finish", f)
	res := ceremonyResult{Status: status}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("POST %s/finish: status %d, no JSON: %s", path, status, body)
	}
	res.Status = status
	return res
}

// create and assert answer with the authenticator, changing tw.
func create(t *testing.T, a *passkeytest.Authenticator, cred **passkeytest.Credential, tw passkeytest.Tweak) func([]byte) []byte {
	return func(opts []byte) []byte {
		resp, c, err := a.Create(opts, tw)
		if err != nil {
			t.Fatal(err)
		}
		*cred = c
		return resp
	}
}

func assert(t *testing.T, a *passkeytest.Authenticator, cred *passkeytest.Credential, tw passkeytest.Tweak) func([]byte) []byte {
	return func(opts []byte) []byte {
		resp, err := a.Get(opts, cred, tw)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

// enrolKey adds a key of a for the user b is signed in as and returns
// its credential.
func enrolKey(t *testing.T, env *testkit.Env, b *testkit.Browser, a *passkeytest.Authenticator, name string) *passkeytest.Credential {
	t.Helper()
	var cred *passkeytest.Credential
	res := ceremony(t, b, "/user/settings/security/webauthn", url.Values{"name": {name}, "password": {b.Password}}, create(t, a, &cred, passkeytest.Tweak{}))
	if res.Status != http.StatusOK || !strings.HasPrefix(res.Redirect, "/user/settings/security?done=key_added") {
		t.Fatalf("enrol: %+v", res)
	}
	return cred
}

func hasEvent(t *testing.T, st store.Store, name audit.Event, detail string) bool {
	t.Helper()
	return slices.ContainsFunc(events(t, st), func(e store.AuditEvent) bool {
		return e.Event == name && strings.Contains(e.Detail, detail)
	})
}

func TestPasskeyEnrolThenPasswordlessSignIn(t *testing.T) {
	onLocalhostSQLiteAndPostgres(t, func(t *testing.T, env *testkit.Env) {
		alice := env.User("alice", "alice-password")
		b := signedIn(t, env, "alice", "alice-password")
		a := &passkeytest.Authenticator{Origin: origin(env), UV: true}
		cred := enrolKey(t, env, b, a, "Laptop")
		factors, _ := env.Store.ListFactors(context.Background(), alice.ID)
		if len(factors) != 1 || factors[0].Name != "Laptop" || factors[0].Kind != store.FactorWebAuthn {
			t.Fatalf("factors = %+v", factors)
		}
		if !hasEvent(t, env.Store, audit.FactorAdded, `passkey "Laptop"`) {
			t.Fatal("no factor.added event naming the passkey")
		}
		_, page := get(t, b, "/user/settings/security?done=key_added_no_codes")
		for _, want := range []string{"Laptop", "Add a security key or passkey", "You have no recovery codes"} {
			if !strings.Contains(page, want) {
				t.Fatalf("the security page does not say %q", want)
			}
		}

		// Another browser, nobody signed in: the passkey alone.
		fresh := env.Browser("", "")
		res := ceremony(t, fresh, "/login/passkey", url.Values{"next": {"/user/settings/applications"}}, assert(t, a, cred, passkeytest.Tweak{}))
		if res.Status != http.StatusOK || res.Redirect != "/user/settings/applications" {
			t.Fatalf("passkey sign-in: %+v", res)
		}
		s := sessionOf(t, env, fresh)
		if s == nil || s.UserID != alice.ID || !slices.Equal(s.AMR, []string{"hwk", "user", "mfa"}) ||
			s.ACR != "urn:latchkey:acr:mfa" || s.SID == "" {
			t.Fatalf("session = %+v", s)
		}
		if !hasEvent(t, env.Store, audit.Login, `passkey "Laptop"`) {
			t.Fatal("no login event naming the passkey")
		}
	})
}

func TestSecurityKeyIsTheSecondStepAfterThePassword(t *testing.T) {
	env := testkit.New(t, onLocalhost)
	env.User("alice", "alice-password")
	b := signedIn(t, env, "alice", "alice-password")
	key := &passkeytest.Authenticator{Origin: origin(env)} // a plain security key: no user verification
	cred := enrolKey(t, env, b, key, "")

	later := env.Browser("alice", "alice-password")
	status, loc, _ := submit(t, later, "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}, "next": {"/user/settings/account"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/factor") {
		t.Fatalf("password step: %d %s", status, loc)
	}
	if s := sessionOf(t, env, later); s != nil {
		t.Fatal("a session started before the second step")
	}
	_, page := get(t, later, loc)
	if !strings.Contains(page, "Use your security key") {
		t.Fatal("the factor page offers no security key")
	}
	// The key cannot sign in alone: it verifies nobody.
	if res := ceremony(t, env.Browser("", ""), "/login/passkey", nil, assert(t, key, cred, passkeytest.Tweak{})); res.Status != http.StatusUnauthorized {
		t.Fatalf("a key without user verification signed in alone: %+v", res)
	}
	res := ceremony(t, later, "/login/factor/webauthn", url.Values{"next": {"/user/settings/account"}}, assert(t, key, cred, passkeytest.Tweak{}))
	if res.Status != http.StatusOK || res.Redirect != "/user/settings/account" {
		t.Fatalf("second step: %+v", res)
	}
	s := sessionOf(t, env, later)
	if s == nil || !slices.Equal(s.AMR, []string{"pwd", "hwk", "mfa"}) || s.ACR != "urn:latchkey:acr:mfa" {
		t.Fatalf("session = %+v", s)
	}
	// The pending sign-in is spent: the same step again is refused.
	if res := ceremony(t, later, "/login/factor/webauthn", nil, assert(t, key, cred, passkeytest.Tweak{})); res.Status != http.StatusUnauthorized {
		t.Fatalf("a second finish of the same sign-in: %+v", res)
	}
}

func TestCeremonyEndpointsRefuse(t *testing.T) {
	env := testkit.New(t, onLocalhost)
	alice := env.User("alice", "alice-password")
	env.User("bob", "bob-password")
	ab := signedIn(t, env, "alice", "alice-password")
	a := &passkeytest.Authenticator{Origin: origin(env), UV: true}
	cred := enrolKey(t, env, ab, a, "Alice's key")
	bb := signedIn(t, env, "bob", "bob-password")
	bobKey := &passkeytest.Authenticator{Origin: origin(env), UV: true}
	bobCred := enrolKey(t, env, bb, bobKey, "Bob's key")
	zero := uint32(0)
	other := &passkeytest.Credential{ID: []byte("never registered"), Key: cred.Key, RPID: cred.RPID, UserHandle: cred.UserHandle}

	// A good passkey sign-in first: the counter is above zero after it.
	if res := ceremony(t, env.Browser("", ""), "/login/passkey", nil, assert(t, a, cred, passkeytest.Tweak{})); res.Status != http.StatusOK {
		t.Fatalf("good sign-in: %+v", res)
	}
	for _, tc := range []struct {
		name   string
		answer func([]byte) []byte
		want   string
	}{
		{"wrong challenge", assert(t, a, cred, passkeytest.Tweak{Challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}), "could not be verified"},
		{"wrong origin", assert(t, a, cred, passkeytest.Tweak{Origin: "https://evil.example"}), "could not be verified"},
		{"unknown credential", assert(t, a, other, passkeytest.Tweak{}), "not registered for any account"},
		{"counter regression", assert(t, a, cred, passkeytest.Tweak{Counter: &zero}), "may have been copied"},
		{"another user's handle", assert(t, a, cred, passkeytest.Tweak{UserHandle: passkey.UserHandle(alice.ID + 1)}), "not registered"},
	} {
		t.Run("sign-in: "+tc.name, func(t *testing.T) {
			fresh := env.Browser("", "")
			res := ceremony(t, fresh, "/login/passkey", nil, tc.answer)
			if res.Status != http.StatusUnauthorized || !strings.Contains(res.Error, tc.want) || sessionOf(t, env, fresh) != nil {
				t.Fatalf("%+v", res)
			}
		})
	}

	// The second step: another user's credential, a regression.
	for _, tc := range []struct {
		name   string
		answer func([]byte) []byte
		want   string
		event  string
	}{
		{"another user's credential", assert(t, bobKey, bobCred, passkeytest.Tweak{}), "not one of yours", "unknown credential"},
		{"counter regression", assert(t, a, cred, passkeytest.Tweak{Counter: &zero}), "may have been copied", "signature counter went back"},
		{"wrong origin", assert(t, a, cred, passkeytest.Tweak{Origin: "http://evil.example"}), "could not be verified", "does not verify"},
	} {
		t.Run("second step: "+tc.name, func(t *testing.T) {
			p := env.Browser("alice", "alice-password")
			if status, loc, _ := submit(t, p, "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}}); !strings.HasPrefix(loc, "/login/factor") {
				t.Fatalf("password step: %d %s", status, loc)
			}
			res := ceremony(t, p, "/login/factor/webauthn", nil, tc.answer)
			if res.Status != http.StatusUnauthorized || !strings.Contains(res.Error, tc.want) || sessionOf(t, env, p) != nil {
				t.Fatalf("%+v", res)
			}
			if !hasEvent(t, env.Store, audit.LoginFactorFailed, tc.event) {
				t.Fatalf("no login.factor_failed event saying %q", tc.event)
			}
		})
	}

	// Those failures came from one source, which the throttle now slows
	// like a password guesser; 20 minutes later it passes again.
	throttled := false
	for range 10 {
		res := ceremony(t, env.Browser("", ""), "/login/passkey", nil, assert(t, a, other, passkeytest.Tweak{}))
		if throttled = res.Status == http.StatusTooManyRequests; throttled {
			break
		}
	}
	if !throttled {
		t.Fatal("the throttle did not slow repeated failures")
	}
	env.Clock.Advance(20 * time.Minute)

	t.Run("finish without begin", func(t *testing.T) {
		fresh := env.Browser("", "")
		status, _, body := submit(t, fresh, "/login/passkey/finish", url.Values{"credential": {"{}"}})
		if status != http.StatusBadRequest || !strings.Contains(body, "expired") {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("finish twice", func(t *testing.T) {
		env.Clock.Advance(time.Minute) // past the delay the last failure set
		fresh := env.Browser("", "")
		status, _, opts := submit(t, fresh, "/login/passkey/begin", nil)
		if status != http.StatusOK {
			t.Fatal(status)
		}
		resp, _ := a.Get([]byte(opts), cred, passkeytest.Tweak{})
		form := url.Values{"credential": {string(resp)}}
		if status, _, body := submit(t, fresh, "/login/passkey/finish", form); status != http.StatusOK {
			t.Fatalf("first: %d %s", status, body)
		}
		// The state's cookie is gone: replaying the finish is refused.
		if status, _, body := submit(t, fresh, "/login/passkey/finish", form); status != http.StatusBadRequest {
			t.Fatalf("replay: %d %s", status, body)
		}
	})
	t.Run("no CSRF token", func(t *testing.T) {
		fresh := env.Browser("", "")
		resp, _, err := fresh.Post("/login/passkey/begin", url.Values{})
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%v %v", resp, err)
		}
	})
	t.Run("registration needs the password again", func(t *testing.T) {
		for _, pw := range []string{"", "wrong-password"} {
			status, _, body := submit(t, ab, "/user/settings/security/webauthn/begin", url.Values{"password": {pw}})
			if status != http.StatusUnauthorized || !strings.Contains(body, "not your password") {
				t.Fatalf("password %q: %d %s", pw, status, body)
			}
		}
	})
	t.Run("registration needs a session", func(t *testing.T) {
		fresh := env.Browser("", "")
		status, _, _ := submit(t, fresh, "/user/settings/security/webauthn/begin", nil)
		if status == http.StatusOK {
			t.Fatal("a registration began without a session")
		}
	})
	t.Run("the same key twice", func(t *testing.T) {
		var again *passkeytest.Credential
		res := ceremony(t, ab, "/user/settings/security/webauthn", url.Values{"password": {"alice-password"}}, func(opts []byte) []byte {
			var o struct {
				PublicKey struct {
					Exclude []struct{ ID string } `json:"excludeCredentials"`
				} `json:"publicKey"`
			}
			_ = json.Unmarshal(opts, &o)
			if len(o.PublicKey.Exclude) != 1 || o.PublicKey.Exclude[0].ID != passkey.CredentialID(cred.ID) {
				t.Fatalf("excludeCredentials = %+v", o.PublicKey.Exclude)
			}
			return create(t, a, &again, passkeytest.Tweak{})(opts)
		})
		if res.Status != http.StatusOK {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("removed key", func(t *testing.T) {
		env.Clock.Advance(time.Minute)
		factors, _ := env.Store.ListFactors(context.Background(), alice.ID)
		id := factors[0].ID
		status, loc, body := submit(t, ab, "/user/settings/security/factors/"+strconv.FormatInt(id, 10)+"/remove",
			url.Values{"password": {"alice-password"}})
		if status != http.StatusSeeOther {
			t.Fatalf("remove: %d %s %s", status, loc, body)
		}
		if !hasEvent(t, env.Store, audit.FactorRemoved, `security key or passkey "Alice's key"`) {
			t.Fatal("no factor.removed event")
		}
		res := ceremony(t, env.Browser("", ""), "/login/passkey", nil, assert(t, a, cred, passkeytest.Tweak{}))
		if res.Status != http.StatusUnauthorized || !strings.Contains(res.Error, "not registered") {
			t.Fatalf("a removed passkey: %+v", res)
		}
	})
}

// A disabled account does not sign in with its passkey.
func TestDisabledAccountDoesNotSignInWithAPasskey(t *testing.T) {
	env := testkit.New(t, onLocalhost)
	alice := env.User("alice", "alice-password")
	a := &passkeytest.Authenticator{Origin: origin(env), UV: true}
	cred := enrolKey(t, env, signedIn(t, env, "alice", "alice-password"), a, "")
	if _, err := env.Store.UpdateUser(context.Background(), alice.ID, func(u store.User) (store.User, error) {
		u.Disabled = true
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	fresh := env.Browser("", "")
	res := ceremony(t, fresh, "/login/passkey", nil, assert(t, a, cred, passkeytest.Tweak{}))
	if res.Status != http.StatusUnauthorized || sessionOf(t, env, fresh) != nil {
		t.Fatalf("%+v", res)
	}
}

// Under the policy, a user without a factor may enrol a security key at
// the sign-in instead of an authenticator app; the sign-in then finishes
// with it.
func TestPolicyEnrolmentWithASecurityKey(t *testing.T) {
	env := testkit.New(t, onLocalhost, func(c *config.Config) { c.RequireSecondFactor = "everyone" })
	alice := env.User("alice", "alice-password")
	b := env.Browser("alice", "alice-password")
	status, loc, _ := submit(t, b, "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}, "next": {"/user/settings/account"}})
	if status != http.StatusSeeOther || sessionOf(t, env, b) != nil {
		t.Fatalf("password step: %d %s", status, loc)
	}
	_, page := get(t, b, "/login/enrol?next=/user/settings/account")
	if !strings.Contains(page, "Use a security key or passkey instead") {
		t.Fatal("the enrolment page offers no security key")
	}
	key := &passkeytest.Authenticator{Origin: origin(env)}
	var cred *passkeytest.Credential
	res := ceremony(t, b, "/login/enrol/webauthn", url.Values{"next": {"/user/settings/account"}}, create(t, key, &cred, passkeytest.Tweak{}))
	if res.Status != http.StatusOK || res.Redirect != "/user/settings/account" {
		t.Fatalf("enrol at sign-in: %+v", res)
	}
	s := sessionOf(t, env, b)
	if s == nil || s.UserID != alice.ID || !slices.Equal(s.AMR, []string{"pwd", "hwk", "mfa"}) {
		t.Fatalf("session = %+v", s)
	}
	if !hasEvent(t, env.Store, audit.FactorAdded, `security key "Security key"`) {
		t.Fatal("no factor.added event")
	}
	// Without a pending sign-in the enrolment endpoint adds nothing.
	fresh := env.Browser("", "")
	if status, _, body := submit(t, fresh, "/login/enrol/webauthn/begin", nil); status != http.StatusUnauthorized {
		t.Fatalf("enrol without a pending sign-in: %d %s", status, body)
	}
}
