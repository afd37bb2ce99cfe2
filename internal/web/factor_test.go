package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/config"
	"latchkey/internal/mfa"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// factors returns the node's second factors, on its store, key and clock.
func factors(t *testing.T, env *testkit.Env) *mfa.Factors {
	t.Helper()
	kek, err := env.Config.LoadKeyEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	f, err := mfa.New(env.Store, kek, env.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// withTOTP gives user an authenticator app and returns its secret; the
// clock moves on to the next time step (the enrolment spent this one's).
func withTOTP(t *testing.T, env *testkit.Env, user store.User) string {
	t.Helper()
	e, err := mfa.NewEnrolment("Latchkey", user.Username)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := factors(t, env).AddTOTP(t.Context(), user.ID, "phone", e.Secret, totpCode(t, env, e.Secret)); err != nil {
		t.Fatal(err)
	}
	nextStep(env)
	return e.Secret
}

// totpCode is the code of secret now, on the node's clock.
func totpCode(t *testing.T, env *testkit.Env, secretB32 string) string {
	t.Helper()
	c, err := mfa.Code(secretB32, mfa.Step(env.Clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nextStep moves the node's clock to the next TOTP time step.
func nextStep(env *testkit.Env) { env.Clock.Advance(mfa.Period) }

// password posts the login form and returns status and Location.
func password(t *testing.T, b *testkit.Browser, next string) (int, string) {
	t.Helper()
	status, loc, body := submit(t, b, "/login", url.Values{"username": {b.Username}, "password": {b.Password}, "next": {next}})
	if status != http.StatusSeeOther {
		t.Fatalf("password step: status %d: %s", status, body)
	}
	return status, loc
}

// session returns the store's session of the browser's session cookie.
func sessionOf(t *testing.T, env *testkit.Env, b *testkit.Browser) *store.Session {
	t.Helper()
	u, _ := url.Parse(env.URL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == "latchkey_session" && c.Value != "" {
			s, err := env.Store.GetSession(t.Context(), secret.Hash(c.Value))
			if err != nil {
				t.Fatal(err)
			}
			return &s
		}
	}
	return nil
}

func TestPasswordAloneStartsNoSessionForAUserWithAFactor(t *testing.T) {
	onSQLiteAndPostgres(t, func(t *testing.T, env *testkit.Env) {
		alice := env.User("alice", "alice-password")
		key := withTOTP(t, env, alice)
		id, plain := env.Client(admin.NewClient{Name: "Editor", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ read:user"})
		conf := oauthConfig(env, id, plain)
		b := env.Browser("alice", "alice-password")

		_, loc := password(t, b, "/user/settings/account")
		if !strings.HasPrefix(loc, "/login/factor?") {
			t.Fatalf("after the password: Location %q, want the factor page", loc)
		}
		if s := sessionOf(t, env, b); s != nil {
			t.Fatalf("a session started after the password alone: %+v", s)
		}
		// Nothing that needs a signed-in user takes the pending sign-in:
		// each leads back to the factor step, and no code is issued.
		bitbucket := strings.Replace(conf.AuthCodeURL("st"), "/login/oauth/authorize", "/rest/oauth2/latest/authorize", 1)
		for _, path := range []string{
			conf.AuthCodeURL("st"), bitbucket,
			"/plugins/servlet/oauth2/consent?" + mustQuery(conf.AuthCodeURL("st")),
			"/login/device/confirm?user_code=ABCD-EFGH",
			"/user/settings/account", "/user/settings/security",
		} {
			resp, err := b.Client.Get(absolute(env, path))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/login/factor?") || strings.Contains(loc, "code=") {
				t.Errorf("GET %s past the password: %d to %q, want the factor page", path, resp.StatusCode, loc)
			}
		}
		// Consent and device decisions posted past the password are refused.
		for _, path := range []string{"/plugins/servlet/oauth2/consent", "/login/device/confirm"} {
			form := queryValues(conf.AuthCodeURL("st"))
			form.Set("decision", "approve")
			form.Set("user_code", "ABCD-EFGH")
			status, loc, _ := submit(t, b, path, form)
			if status < 400 || strings.Contains(loc, "code=") {
				t.Errorf("POST %s past the password: %d to %q", path, status, loc)
			}
		}

		// A wrong code: refused, audited.
		status, _, body := submit(t, b, "/login/factor", url.Values{"code": {"000000"}, "next": {"/"}})
		if totpCode(t, env, key) != "000000" {
			wantPage(t, "a wrong code", status, body, http.StatusUnauthorized, "not correct")
		}
		// The right code: a session that records both steps.
		status, loc, _ = submit(t, b, "/login/factor", url.Values{"code": {totpCode(t, env, key)}, "next": {"/user/settings/account"}})
		if status != http.StatusSeeOther || loc != "/user/settings/account" {
			t.Fatalf("the right code: %d to %q", status, loc)
		}
		s := sessionOf(t, env, b)
		if s == nil || !slices.Equal(s.AMR, []string{"pwd", "otp", "mfa"}) || s.ACR != "urn:latchkey:acr:mfa" || len(s.SID) < 32 {
			t.Fatalf("session %+v, want AMR [pwd otp mfa], the mfa class and a SID", s)
		}
		// The pending sign-in is spent: it cannot start a second session.
		if status, _, _ := submit(t, b, "/login/factor", url.Values{"code": {totpCode(t, env, key)}}); status != http.StatusFound && status != http.StatusUnauthorized {
			t.Errorf("the finished pending sign-in again: status %d", status)
		}
		wantEvent(t, env.Store, audit.LoginFactorFailed, alice, "wrong authenticator app code")
		wantEvent(t, env.Store, audit.Login, alice, "with an authenticator app code")

		// The same code in a second sign-in is refused: a code is used once.
		other := env.Browser("alice", "alice-password")
		password(t, other, "/")
		status, _, body = submit(t, other, "/login/factor", url.Values{"code": {totpCode(t, env, key)}, "next": {"/"}})
		wantPage(t, "a replayed code", status, body, http.StatusUnauthorized, "used already")
		nextStep(env)
		status, _, _ = submit(t, other, "/login/factor", url.Values{"code": {totpCode(t, env, key)}, "next": {"/"}})
		if status != http.StatusSeeOther {
			t.Fatalf("the next step's code: status %d", status)
		}
		// The scripted browser answers the factor page and gets a code.
		nextStep(env)
		third := env.Browser("alice", "alice-password")
		third.Code = func() string { return totpCode(t, env, key) }
		cb, err := third.Authorize(conf.AuthCodeURL("st"))
		if err != nil || cb.Query().Get("code") == "" {
			t.Fatalf("authorize through the factor page: %v, %v", cb, err)
		}
	})
}

func TestRecoveryCodeSignsInOnce(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	withTOTP(t, env, alice)
	codes, err := factors(t, env).GenerateRecoveryCodes(t.Context(), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := env.Browser("alice", "alice-password")
	password(t, b, "/")
	status, loc, _ := submit(t, b, "/login/factor", url.Values{"recovery_code": {strings.ToUpper(codes[0])}, "next": {"/"}})
	if status != http.StatusSeeOther || loc != "/" {
		t.Fatalf("a recovery code: %d to %q", status, loc)
	}
	if s := sessionOf(t, env, b); s == nil || !slices.Equal(s.AMR, []string{"pwd", "mfa"}) || s.ACR != "urn:latchkey:acr:mfa" {
		t.Fatalf("session %+v, want AMR [pwd mfa]", s)
	}
	wantEvent(t, env.Store, audit.RecoveryUsed, alice, "9 recovery codes left")
	again := env.Browser("alice", "alice-password")
	password(t, again, "/")
	status, _, body := submit(t, again, "/login/factor", url.Values{"recovery_code": {codes[0]}, "next": {"/"}})
	wantPage(t, "a used recovery code", status, body, http.StatusUnauthorized, "used already")
}

func TestFactorStepIsThrottled(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	key := withTOTP(t, env, alice)
	b := env.Browser("alice", "alice-password")
	password(t, b, "/")
	wrong := "000000"
	if totpCode(t, env, key) == wrong {
		wrong = "111111"
	}
	for i := range 6 {
		status, _, _ := submit(t, b, "/login/factor", url.Values{"code": {wrong}, "next": {"/"}})
		if status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: status %d", i+1, status)
		}
	}
	status, _, body := submit(t, b, "/login/factor", url.Values{"code": {totpCode(t, env, key)}, "next": {"/"}})
	wantPage(t, "past the free failures", status, body, http.StatusTooManyRequests, "Too many failed attempts")
}

func TestPolicyLeadsToEnrolmentBeforeASession(t *testing.T) {
	env := testkit.New(t, func(c *config.Config) { c.RequireSecondFactor = "everyone" })
	bob := env.User("bob", "bob-password")
	id, plain := env.Client(admin.NewClient{Name: "Editor", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ read:user"})
	conf := oauthConfig(env, id, plain)
	b := env.Browser("bob", "bob-password")
	// The authorization request leads to the password, then to enrolment.
	resp, err := b.Client.Get(conf.AuthCodeURL("st"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := mustNext(t, resp.Header.Get("Location"))
	_, loc := password(t, b, back)
	if sessionOf(t, env, b) != nil {
		t.Fatal("a session started before enrolment")
	}
	status, body := get(t, b, loc)
	if status != http.StatusSeeOther && status != http.StatusFound {
		t.Fatalf("factor page of a user without factor: %d", status)
	}
	status, body = get(t, b, "/login/enrol?next="+url.QueryEscape(back))
	wantPage(t, "enrolment", status, body, http.StatusOK, "needs a second factor", "data:image/png;base64,")
	key := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(body)
	if key == nil {
		t.Fatal("no secret on the enrolment page")
	}
	status, _, body = submit(t, b, "/login/enrol", url.Values{"secret": {key[1]}, "code": {"12345"}, "next": {back}})
	wantPage(t, "a malformed code", status, body, http.StatusBadRequest, "not correct")
	status, _, body = submit(t, b, "/login/enrol", url.Values{"secret": {key[1]}, "code": {totpCode(t, env, key[1])}, "name": {"Phone"}, "next": {back}})
	wantPage(t, "enrolled", status, body, http.StatusOK, "Save these codes now")
	if n := len(regexp.MustCompile(`<li><code>[a-z2-7]{5}-[a-z2-7]{5}</code></li>`).FindAllString(body, -1)); n != 10 {
		t.Fatalf("%d recovery codes shown", n)
	}
	if s := sessionOf(t, env, b); s == nil || s.ACR != "urn:latchkey:acr:mfa" {
		t.Fatalf("session after enrolment: %+v", s)
	}
	wantEvent(t, env.Store, audit.FactorAdded, bob, `authenticator app "Phone"`)
	wantEvent(t, env.Store, audit.RecoveryGenerated, bob, "10 recovery codes")
	cb, err := b.Authorize(absolute(env, back))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("authorize after enrolment: %v %v", cb, err)
	}
}

func TestAdminsPolicyCoversAdministratorsOnly(t *testing.T) {
	env := testkit.New(t, func(c *config.Config) { c.RequireSecondFactor = "admins" })
	env.User("root", "root-password")
	env.Grant("root", admin.Target{Global: true}, "ADMIN")
	env.User("carol", "carol-password")
	_, loc := password(t, env.Browser("root", "root-password"), "/")
	if !strings.HasPrefix(loc, "/login/factor") {
		t.Errorf("an administrator: Location %q, want the factor step", loc)
	}
	_, loc = password(t, env.Browser("carol", "carol-password"), "/")
	if loc != "/" {
		t.Errorf("a user: Location %q, want a session", loc)
	}
}

func TestStepUpThroughACRValues(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	id, plain := env.Client(admin.NewClient{Name: "Editor", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ read:user openid"})
	conf := oauthConfig(env, id, plain)
	b := signedIn(t, env, "alice", "alice-password") // no factor yet: a password session
	if s := sessionOf(t, env, b); s == nil || s.ACR != "urn:latchkey:acr:pwd" || !slices.Equal(s.AMR, []string{"pwd"}) {
		t.Fatalf("password session %+v", s)
	}
	key := withTOTP(t, env, alice)
	plainURL := conf.AuthCodeURL("st")
	stepURL := plainURL + "&acr_values=" + url.QueryEscape("urn:latchkey:acr:mfa")
	// Without acr_values the password session is enough (consent first).
	resp, err := b.Client.Get(plainURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "/login") {
		t.Fatalf("no acr_values: sent to %q", loc)
	}
	// With it: the factor page, then back to the request.
	resp, err = b.Client.Get(stepURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/login/factor?") {
		t.Fatalf("acr_values=mfa on a password session: sent to %q", loc)
	}
	next := mustNext(t, loc)
	status, back, _ := submit(t, b, "/login/factor", url.Values{"code": {totpCode(t, env, key)}, "next": {next}})
	if status != http.StatusSeeOther || back != next {
		t.Fatalf("step-up: %d to %q", status, back)
	}
	if s := sessionOf(t, env, b); s == nil || s.ACR != "urn:latchkey:acr:mfa" || !slices.Equal(s.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("stepped-up session %+v", s)
	}
	cb, err := b.Authorize(absolute(env, back))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("authorize after step-up: %v %v", cb, err)
	}
	// prompt=none cannot step up: login_required goes back to the client.
	carol := env.User("carol", "carol-password")
	cb2 := signedIn(t, env, "carol", "carol-password")
	withTOTP(t, env, carol)
	resp, err = cb2.Client.Get(stepURL + "&prompt=none")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, redirectURI) || !strings.Contains(loc, "error=login_required") {
		t.Fatalf("prompt=none with a step-up due: Location %q", loc)
	}
}

func TestSecurityPageAddsAndRemovesFactors(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	b := signedIn(t, env, "alice", "alice-password")
	status, body := get(t, b, "/user/settings/account")
	wantPage(t, "account page", status, body, http.StatusOK, `href="/user/settings/security"`)
	status, body = get(t, b, "/user/settings/security/totp")
	wantPage(t, "add TOTP", status, body, http.StatusOK, "data:image/png;base64,")
	key := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(body)[1]
	status, _, body = submit(t, b, "/user/settings/security/totp", url.Values{"secret": {key}, "code": {totpCode(t, env, key)}, "name": {"Phone"}})
	wantPage(t, "confirmed", status, body, http.StatusOK, "Save these codes now")
	status, body = get(t, b, "/user/settings/security")
	wantPage(t, "security page", status, body, http.StatusOK, "Phone", "10 unused recovery codes")
	fs, _ := env.Store.ListFactors(t.Context(), alice.ID)
	if len(fs) != 1 {
		t.Fatalf("%d factors", len(fs))
	}
	remove := "/user/settings/security/factors/" + itoa(fs[0].ID) + "/remove"
	status, _, body = submit(t, b, remove, nil)
	wantPage(t, "removal asks", status, body, http.StatusOK, "Confirm that it is you")
	status, _, body = submit(t, b, remove, url.Values{"password": {"wrong"}})
	wantPage(t, "wrong password", status, body, http.StatusUnauthorized, "not your password")
	// A form without its CSRF token is refused before the handler runs.
	resp, _, err := b.Post(remove, url.Values{"password": {"alice-password"}})
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("no CSRF token: %v %v", resp.StatusCode, err)
	}
	status, loc, _ := submit(t, b, remove, url.Values{"password": {"alice-password"}})
	if status != http.StatusSeeOther || !strings.Contains(loc, "factor_removed") {
		t.Fatalf("removal: %d %q", status, loc)
	}
	if n, _ := env.Store.CountRecoveryCodes(t.Context(), alice.ID); n != 0 {
		t.Fatalf("%d recovery codes left after the last factor went", n)
	}
	wantEvent(t, env.Store, audit.FactorRemoved, alice, `authenticator app "Phone"; the last factor`)
}

func TestAdministratorResetsFactors(t *testing.T) {
	env := testkit.New(t)
	rootUser := env.User("root", "root-password")
	env.Grant("root", admin.Target{Global: true}, "ADMIN")
	alice := env.User("alice", "alice-password")
	key := withTOTP(t, env, alice)
	ab := env.Browser("alice", "alice-password")
	ab.Code = func() string { return totpCode(t, env, key) }
	password(t, ab, "/")
	submit(t, ab, "/login/factor", url.Values{"code": {totpCode(t, env, key)}, "next": {"/"}})
	if sessionOf(t, env, ab) == nil {
		t.Fatal("alice is not signed in")
	}
	root := signedIn(t, env, "root", "root-password")
	page := "/admin/users/" + itoa(alice.ID)
	status, body := get(t, root, page)
	wantPage(t, "admin user page", status, body, http.StatusOK, "1 second factors", "Reset second factors")
	status, _, body = submit(t, root, page+"/reset-factors", nil)
	wantPage(t, "confirmation", status, body, http.StatusOK, "Reset the second factors of alice?")
	status, loc, _ := submit(t, root, page+"/reset-factors", url.Values{"confirm": {"yes"}})
	if status != http.StatusSeeOther || !strings.Contains(loc, "factors_reset") {
		t.Fatalf("reset: %d %q", status, loc)
	}
	if fs, _ := env.Store.ListFactors(t.Context(), alice.ID); len(fs) != 0 {
		t.Fatalf("%d factors after the reset", len(fs))
	}
	if st, _ := get(t, ab, "/user/settings/account"); st != http.StatusFound {
		t.Fatalf("alice's session survived the reset: %d", st)
	}
	wantEvent(t, env.Store, audit.FactorsReset, rootUser, "user: alice; 1 factor removed, 1 session ended")
	_, loc = password(t, env.Browser("alice", "alice-password"), "/")
	if loc != "/" {
		t.Fatalf("after the reset the password alone signs in: %q", loc)
	}
}

func mustNext(t *testing.T, loc string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || u.Query().Get("next") == "" {
		t.Fatalf("no next in %q", loc)
	}
	return u.Query().Get("next")
}

func mustQuery(raw string) string { u, _ := url.Parse(raw); return u.RawQuery }

func queryValues(raw string) url.Values { u, _ := url.Parse(raw); return u.Query() }

func absolute(env *testkit.Env, path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return env.URL + path
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestPromptLoginAsksForBothStepsAgain: prompt=login (and max_age) on a
// signed-in user with a factor ask for the password and then the factor.
func TestPromptLoginAsksForBothStepsAgain(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	key := withTOTP(t, env, alice)
	id, plain := env.Client(admin.NewClient{Name: "Editor", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ read:user openid"})
	conf := oauthConfig(env, id, plain)
	b := env.Browser("alice", "alice-password")
	b.Code = func() string { return totpCode(t, env, key) }
	if cb, err := b.Authorize(conf.AuthCodeURL("st")); err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("first authorization: %v %v", cb, err)
	}
	first := sessionOf(t, env, b)
	for _, extra := range []string{"&prompt=login", "&max_age=0"} {
		env.Clock.Advance(2 * mfa.Period)
		resp, err := b.Client.Get(conf.AuthCodeURL("st") + extra)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "/login?") {
			t.Fatalf("%s: sent to %q, want the password", extra, loc)
		}
		_, loc = password(t, b, mustNext(t, loc))
		if !strings.HasPrefix(loc, "/login/factor?") {
			t.Fatalf("%s: after the password sent to %q, want the factor", extra, loc)
		}
		status, back, _ := submit(t, b, "/login/factor", url.Values{"code": {totpCode(t, env, key)}, "next": {mustNext(t, loc)}})
		if status != http.StatusSeeOther {
			t.Fatalf("%s: factor: %d", extra, status)
		}
		cb, err := b.Authorize(absolute(env, back))
		if err != nil || cb.Query().Get("code") == "" {
			t.Fatalf("%s: authorize after both steps: %v %v", extra, cb, err)
		}
		// A fresh sign-in (new cookie, new auth_time) of the same OpenID
		// Connect session: sid stays, so logout still reaches what the
		// earlier sign-in authorized.
		if s := sessionOf(t, env, b); s == nil || s.ID == first.ID || s.SID != first.SID || !s.AuthTime.After(first.AuthTime) {
			t.Fatalf("%s: the session is not a fresh sign-in of the same session: %+v (first %+v)", extra, s, first)
		}
	}
}

// TestStepUpWithoutAFactorLeadsToEnrolment: acr_values asking for a
// second factor of a user who has none leads to setting one up, then
// back to the request.
func TestStepUpWithoutAFactorLeadsToEnrolment(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	id, plain := env.Client(admin.NewClient{Name: "Editor", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ read:user openid"})
	conf := oauthConfig(env, id, plain)
	b := signedIn(t, env, "alice", "alice-password")
	resp, err := b.Client.Get(conf.AuthCodeURL("st") + "&acr_values=mfa")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := mustNext(t, resp.Header.Get("Location"))
	status, body := get(t, b, "/login/factor?next="+url.QueryEscape(back))
	if status != http.StatusSeeOther {
		t.Fatalf("the factor page of a user without factor: %d", status)
	}
	status, body = get(t, b, "/login/enrol?next="+url.QueryEscape(back))
	wantPage(t, "enrolment for the step-up", status, body, http.StatusOK, "needs a second factor")
	key := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(body)[1]
	status, _, body = submit(t, b, "/login/enrol", url.Values{"secret": {key}, "code": {totpCode(t, env, key)}, "next": {back}})
	wantPage(t, "enrolled", status, body, http.StatusOK, "Save these codes now", "acr_values=mfa")
	cb, err := b.Authorize(absolute(env, back))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("authorize after the step-up: %v %v", cb, err)
	}
}
