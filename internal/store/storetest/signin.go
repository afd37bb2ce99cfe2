package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"latchkey/internal/store"
)

// signInTests cover what issue 15 added: what a sign-in was (sessions,
// codes, device codes, families), second factors, recovery codes,
// pending sign-ins, clients' logout settings, and the refresh grace
// period.
var signInTests = []test{
	{"SignInRoundTrip", testSignInRoundTrip},
	{"Factors", testFactors},
	{"RecoveryCodesAreSingleUse", testRecoveryCodes},
	{"PendingLogins", testPendingLogins},
	{"ClientLogoutSettingsRoundTrip", testClientLogoutSettings},
	{"RefreshGracePeriod", testRefreshGrace},
	{"UseOnce", testUseOnce},
}

func testUseOnce(t *testing.T, s store.Store) {
	at := now()
	must(t, "first use", s.UseOnce(ctx(t), "webauthn:abc", at.Add(time.Minute)))
	wantErr(t, "second use", s.UseOnce(ctx(t), "webauthn:abc", at.Add(time.Minute)), store.ErrAlreadyExists)
	must(t, "another key", s.UseOnce(ctx(t), "webauthn:abd", at.Add(-time.Minute)))
	_, err := s.DeleteExpired(ctx(t), at, 100)
	must(t, "delete expired", err)
	must(t, "an expired key is forgotten", s.UseOnce(ctx(t), "webauthn:abd", at.Add(time.Minute)))
	wantErr(t, "an unexpired key is kept", s.UseOnce(ctx(t), "webauthn:abc", at.Add(time.Minute)), store.ErrAlreadyExists)
}

func testSignInRoundTrip(t *testing.T, s store.Store) {
	u, c := mkUser(t, s, "alice"), mkClient(t, s, "app")
	at := now()
	in := store.SignIn{SID: "sid-1", AMR: []string{"mfa", "otp", "pwd"}, ACR: "urn:latchkey:acr:2fa"}
	sess := store.Session{ID: newHash(), UserID: u.ID, AuthTime: at, CreatedAt: at, ExpiresAt: at.Add(time.Hour),
		SID: in.SID, AMR: in.AMR, ACR: in.ACR}
	must(t, "create session", s.CreateSession(ctx(t), sess))
	got, err := s.GetSession(ctx(t), sess.ID)
	must(t, "get session", err)
	same(t, "session", got, sess)

	code := store.AuthCode{Hash: newHash(), ClientID: c.ID, UserID: u.ID, RedirectURI: "https://app.example.com/callback",
		CreatedAt: at, ExpiresAt: at.Add(time.Minute), SignIn: in}
	must(t, "create code", s.CreateAuthCode(ctx(t), code))
	gc, err := s.GetAuthCode(ctx(t), code.Hash)
	must(t, "get code", err)
	same(t, "code sign-in", gc.SignIn, in)

	iss, err := s.CreateFamily(ctx(t), store.Issue{Family: store.TokenFamily{ClientID: c.ID, UserID: u.ID, CreatedAt: at, SignIn: in},
		Tokens: newTokens([]string{"REPO_READ"})}, at)
	must(t, "create family", err)
	b, err := s.GetBearer(ctx(t), iss.Tokens[0].Hash)
	must(t, "get bearer", err)
	same(t, "family sign-in", b.Family.SignIn, in)

	d := mkDevice(t, s, "SIGNINAB")
	_, err = s.UpdateDeviceCode(ctx(t), d.Hash, at, func(d store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
		d.Status, d.UserID, d.AuthTime, d.SignIn = store.DeviceApproved, u.ID, at, in
		return d, nil, nil
	})
	must(t, "approve device code", err)
	gd, err := s.GetDeviceCode(ctx(t), d.Hash)
	must(t, "get device code", err)
	same(t, "device sign-in", gd.SignIn, in)
}

func testFactors(t *testing.T, s store.Store) {
	u, v := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	at := now()
	totp, err := s.CreateFactor(ctx(t), store.Factor{UserID: u.ID, Kind: store.FactorTOTP, Name: "phone", Secret: []byte{1, 2, 3}, CreatedAt: at})
	must(t, "create TOTP factor", err)
	key, err := s.CreateFactor(ctx(t), store.Factor{UserID: u.ID, Kind: store.FactorWebAuthn, Name: "key", Secret: []byte(`{"c":1}`),
		CredentialID: "cred-1", CreatedAt: at})
	must(t, "create WebAuthn factor", err)
	_, err = s.CreateFactor(ctx(t), store.Factor{UserID: v.ID, Kind: store.FactorWebAuthn, Secret: []byte("x"), CredentialID: "cred-1", CreatedAt: at})
	wantErr(t, "a taken credential ID", err, store.ErrAlreadyExists)
	list, err := s.ListFactors(ctx(t), u.ID)
	must(t, "list factors", err)
	same(t, "factors", list, []store.Factor{totp, key})
	got, err := s.GetFactorByCredentialID(ctx(t), "cred-1")
	must(t, "get by credential ID", err)
	same(t, "factor by credential ID", got, key)
	_, err = s.GetFactorByCredentialID(ctx(t), "")
	wantErr(t, "get by an empty credential ID", err, store.ErrNotFound)

	// Of concurrent uses of one TOTP step, one wins.
	replayed := errors.New("step already used")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateFactor(ctx(t), u.ID, totp.ID, func(f store.Factor) (store.Factor, error) {
				if f.LastStep >= 1000 {
					return f, replayed
				}
				f.LastStep, f.LastUsedAt = 1000, at
				return f, nil
			})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else if !errors.Is(err, replayed) {
				t.Errorf("update factor: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent uses of one step succeeded, want 1", wins)
	}
	_, err = s.UpdateFactor(ctx(t), v.ID, totp.ID, func(f store.Factor) (store.Factor, error) { return f, nil })
	wantErr(t, "update another user's factor", err, store.ErrNotFound)
	wantErr(t, "delete another user's factor", s.DeleteFactor(ctx(t), v.ID, key.ID), store.ErrNotFound)
	must(t, "delete factor", s.DeleteFactor(ctx(t), u.ID, key.ID))
	must(t, "recovery codes", s.ReplaceRecoveryCodes(ctx(t), u.ID, []string{newHash()}, at))
	n, err := s.DeleteUserFactors(ctx(t), u.ID)
	must(t, "reset factors", err)
	if n != 1 {
		t.Fatalf("reset deleted %d factors, want 1", n)
	}
	if left, _ := s.CountRecoveryCodes(ctx(t), u.ID); left != 0 {
		t.Fatalf("%d recovery codes left after a reset", left)
	}
}

func testRecoveryCodes(t *testing.T, s store.Store) {
	u, v := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	a, b := newHash(), newHash()
	must(t, "set codes", s.ReplaceRecoveryCodes(ctx(t), u.ID, []string{a, b}, now()))
	wantErr(t, "another user's code", s.UseRecoveryCode(ctx(t), v.ID, a, now()), store.ErrNotFound)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- s.UseRecoveryCode(ctx(t), u.ID, a, now()) }()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if ok != 1 {
		t.Fatalf("a recovery code was used %d times", ok)
	}
	if n, _ := s.CountRecoveryCodes(ctx(t), u.ID); n != 1 {
		t.Fatalf("%d unused codes, want 1", n)
	}
	must(t, "replace codes", s.ReplaceRecoveryCodes(ctx(t), u.ID, []string{newHash()}, now()))
	wantErr(t, "a replaced code", s.UseRecoveryCode(ctx(t), u.ID, b, now()), store.ErrNotFound)
}

func testPendingLogins(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	at := now()
	p := store.PendingLogin{Hash: newHash(), UserID: u.ID, AMR: []string{"pwd"}, CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
	must(t, "create pending login", s.CreatePendingLogin(ctx(t), p))
	got, err := s.GetPendingLogin(ctx(t), p.Hash)
	must(t, "get pending login", err)
	same(t, "pending login", got, p)
	must(t, "delete pending login", s.DeletePendingLogin(ctx(t), p.Hash))
	wantErr(t, "delete it again", s.DeletePendingLogin(ctx(t), p.Hash), store.ErrNotFound)
	old := store.PendingLogin{Hash: newHash(), UserID: u.ID, CreatedAt: at.Add(-time.Hour), ExpiresAt: at.Add(-time.Minute)}
	must(t, "create expired pending login", s.CreatePendingLogin(ctx(t), old))
	_, err = s.DeleteExpired(ctx(t), at, 100)
	must(t, "delete expired", err)
	_, err = s.GetPendingLogin(ctx(t), old.Hash)
	wantErr(t, "expired pending login after cleanup", err, store.ErrNotFound)
}

func testClientLogoutSettings(t *testing.T, s store.Store) {
	in := store.Client{ID: "rp", Name: "RP", SecretHash: newHash(), RedirectURIs: []string{"https://rp.example.com/cb"},
		CreatedAt: now(), Trusted: true, PostLogoutRedirectURIs: []string{"https://rp.example.com/bye", "https://rp.example.com/?a=b"},
		BackchannelLogoutURI: "https://rp.example.com/logout", BackchannelLogoutSessionRequired: true}
	_, err := s.CreateClient(ctx(t), in)
	must(t, "create client", err)
	got, err := s.GetClient(ctx(t), in.ID)
	must(t, "get client", err)
	same(t, "client", got, in)
}

func testRefreshGrace(t *testing.T, s store.Store) {
	first := grant(t, s)
	old := tokenOf(t, first, store.RefreshToken)
	at := now()
	p := refreshBy(t, s, old.Hash)
	p.Grace = 10 * time.Second
	second, err := s.RotateRefreshToken(ctx(t), p, at, issueRotation)
	must(t, "rotate", err)
	// Again within the grace period: tokens of the current generation,
	// the family neither advanced nor revoked, the first answer's tokens live.
	again, err := s.RotateRefreshToken(ctx(t), p, at.Add(5*time.Second), issueRotation)
	must(t, "present the replaced token within the grace period", err)
	if again.Family.Generation != second.Family.Generation || again.Family.Revoked() {
		t.Fatalf("grace answer: generation %d (want %d), revoked %v", again.Family.Generation, second.Family.Generation, again.Family.Revoked())
	}
	wantLive(t, s, true, second.Tokens...)
	wantLive(t, s, true, again.Tokens...)
	// After the grace period it is a reuse: the family is revoked.
	_, err = s.RotateRefreshToken(ctx(t), p, at.Add(11*time.Second), failRotation(t))
	wantErr(t, "present it after the grace period", err, store.ErrTokenReused)
	wantLive(t, s, false, second.Tokens...)
	// Without a grace period, the first reuse revokes.
	f2 := mkFamily(t, s, mkClient(t, s, "app2"), mkUser(t, s, "bob"), at)
	p2 := refreshBy(t, s, tokenOf(t, f2, store.RefreshToken).Hash)
	_, err = s.RotateRefreshToken(ctx(t), p2, at, issueRotation)
	must(t, "rotate", err)
	_, err = s.RotateRefreshToken(ctx(t), p2, at.Add(time.Second), failRotation(t))
	wantErr(t, "reuse without a grace period", err, store.ErrTokenReused)
}
