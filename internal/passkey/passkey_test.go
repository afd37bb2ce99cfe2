package passkey_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"latchkey/internal/passkey"
	"latchkey/internal/passkey/passkeytest"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
)

const base = "https://id.example.test"

type fixture struct {
	t     *testing.T
	st    store.Store
	rp    *passkey.RP
	now   time.Time
	alice store.User
	bob   store.User
}

// stores are the real databases: SQLite always, PostgreSQL when set.
func stores(t *testing.T) map[string]store.Store {
	open := func(dsn string) store.Store {
		st, err := backend.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	out := map[string]store.Store{"sqlite": open(filepath.Join(t.TempDir(), "db"))}
	if os.Getenv(testkit.PostgresEnv) != "" || os.Getenv("CI") == "true" {
		out["postgres"] = open(testkit.FreshPostgres(t))
	}
	return out
}

func newFixture(t *testing.T, st store.Store) *fixture {
	f := &fixture{t: t, st: st, now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	rp, err := passkey.New(context.Background(), passkey.Config{BaseURL: base, Store: st, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.rp = rp
	ctx := context.Background()
	if f.alice, err = st.CreateUser(ctx, store.User{Username: "alice", CreatedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	if f.bob, err = st.CreateUser(ctx, store.User{Username: "bob", CreatedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	return f
}

// enrol registers a new credential of a for u.
func (f *fixture) enrol(a *passkeytest.Authenticator, u store.User) (*passkeytest.Credential, store.Factor) {
	f.t.Helper()
	c, err := f.rp.BeginRegistration(context.Background(), u)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, cred, err := a.Create(c.Options, passkeytest.Tweak{})
	if err != nil {
		f.t.Fatal(err)
	}
	factor, err := f.rp.FinishRegistration(context.Background(), u, c.State, resp, "")
	if err != nil {
		f.t.Fatalf("finish registration: %v", err)
	}
	return cred, factor
}

func each(t *testing.T, run func(t *testing.T, f *fixture)) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) { run(t, newFixture(t, st)) })
	}
}

func TestEnrolThenSignInBothWays(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := &passkeytest.Authenticator{Origin: base, UV: true}
		cred, factor := f.enrol(a, f.alice)
		if factor.Kind != store.FactorWebAuthn || factor.CredentialID != passkey.CredentialID(cred.ID) ||
			factor.Name != "Passkey" || !passkey.IsPasskey(factor) {
			t.Fatalf("factor = %+v", factor)
		}

		// The second factor after a password.
		c, err := f.rp.BeginSecondFactor(ctx, f.alice)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Get(c.Options, cred, passkeytest.Tweak{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.rp.FinishSecondFactor(ctx, f.alice, c.State, resp)
		if err != nil {
			t.Fatalf("second factor: %v", err)
		}
		if res.UserID != f.alice.ID || !slices.Equal(res.AMR, []string{"pwd", "hwk", "mfa"}) || res.Factor.LastUsedAt.IsZero() {
			t.Fatalf("second factor result = %+v", res)
		}

		// A password-less sign-in names no user.
		c, err = f.rp.BeginSignIn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var opts struct {
			PublicKey struct {
				AllowCredentials []any  `json:"allowCredentials"`
				UserVerification string `json:"userVerification"`
				RPID             string `json:"rpId"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(c.Options, &opts); err != nil {
			t.Fatal(err)
		}
		if len(opts.PublicKey.AllowCredentials) != 0 || opts.PublicKey.UserVerification != "required" ||
			opts.PublicKey.RPID != "id.example.test" {
			t.Fatalf("sign-in options = %s", c.Options)
		}
		resp, err = a.Get(c.Options, cred, passkeytest.Tweak{})
		if err != nil {
			t.Fatal(err)
		}
		res, err = f.rp.FinishSignIn(ctx, c.State, resp)
		if err != nil {
			t.Fatalf("sign in: %v", err)
		}
		if res.UserID != f.alice.ID || !res.UserVerified || !slices.Equal(res.AMR, []string{"hwk", "user", "mfa"}) {
			t.Fatalf("sign-in result = %+v", res)
		}
		stored, err := passkey.Credential(res.Factor)
		if err != nil || stored.Authenticator.SignCount != 2 {
			t.Fatalf("stored counter = %d, %v", stored.Authenticator.SignCount, err)
		}
	})
}

func TestRegistrationExcludesTheUsersCredentialsAndRefusesADuplicate(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := &passkeytest.Authenticator{Origin: base, UV: true}
		cred, _ := f.enrol(a, f.alice)
		c, err := f.rp.BeginRegistration(ctx, f.alice)
		if err != nil {
			t.Fatal(err)
		}
		var opts struct {
			PublicKey struct {
				Exclude                []struct{ ID string } `json:"excludeCredentials"`
				AuthenticatorSelection struct {
					ResidentKey string `json:"residentKey"`
				} `json:"authenticatorSelection"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(c.Options, &opts); err != nil {
			t.Fatal(err)
		}
		if len(opts.PublicKey.Exclude) != 1 || opts.PublicKey.Exclude[0].ID != passkey.CredentialID(cred.ID) ||
			opts.PublicKey.AuthenticatorSelection.ResidentKey != "preferred" {
			t.Fatalf("registration options = %s", c.Options)
		}
		// The same credential again (an authenticator that ignored the
		// exclusion) is refused.
		resp, again, err := a.Create(c.Options, passkeytest.Tweak{})
		if err != nil {
			t.Fatal(err)
		}
		_ = again
		if _, err := f.rp.FinishRegistration(ctx, f.alice, c.State, resp, "second"); err != nil {
			t.Fatalf("a second credential: %v", err)
		}
		c, _ = f.rp.BeginRegistration(ctx, f.bob)
		resp, _, _ = a.Create(c.Options, passkeytest.Tweak{})
		var r map[string]any
		_ = json.Unmarshal(resp, &r)
		r["id"], r["rawId"] = passkey.CredentialID(cred.ID), passkey.CredentialID(cred.ID)
		// A different raw ID than the attested one does not verify; a
		// replayed registration of alice's credential for bob neither.
		resp, _ = json.Marshal(r)
		if _, err := f.rp.FinishRegistration(ctx, f.bob, c.State, resp, ""); err == nil {
			t.Fatal("a registration whose id is another's credential was accepted")
		}
	})
}

func TestCeremoniesRefuse(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := &passkeytest.Authenticator{Origin: base, UV: true}
		cred, _ := f.enrol(a, f.alice)
		bobKey := &passkeytest.Authenticator{Origin: base, UV: true}
		bobCred, _ := f.enrol(bobKey, f.bob)
		zero := uint32(0)

		type finish func(state string, resp []byte) error
		second := func(u store.User) (passkey.Ceremony, finish) {
			c, err := f.rp.BeginSecondFactor(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			return c, func(state string, resp []byte) error {
				_, err := f.rp.FinishSecondFactor(ctx, u, state, resp)
				return err
			}
		}
		signIn := func() (passkey.Ceremony, finish) {
			c, err := f.rp.BeginSignIn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return c, func(state string, resp []byte) error {
				_, err := f.rp.FinishSignIn(ctx, state, resp)
				return err
			}
		}
		other, _ := f.rp.BeginSignIn(ctx)
		regBob, _ := f.rp.BeginRegistration(ctx, f.bob)
		secondBob, _ := f.rp.BeginSecondFactor(ctx, f.bob)

		cases := []struct {
			name  string
			begin func() (passkey.Ceremony, finish)
			cred  *passkeytest.Credential
			key   *passkeytest.Authenticator
			tweak passkeytest.Tweak
			state func(passkey.Ceremony) string
			want  error
		}{
			{name: "second factor: wrong challenge", begin: func() (passkey.Ceremony, finish) { return second(f.alice) },
				tweak: passkeytest.Tweak{Challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, want: passkey.ErrResponse},
			{name: "sign-in: wrong challenge", begin: signIn,
				tweak: passkeytest.Tweak{Challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, want: passkey.ErrResponse},
			{name: "sign-in: another ceremony's state", begin: signIn,
				state: func(passkey.Ceremony) string { return other.State }, want: passkey.ErrResponse},
			{name: "second factor: wrong origin", begin: func() (passkey.Ceremony, finish) { return second(f.alice) },
				tweak: passkeytest.Tweak{Origin: "https://evil.example"}, want: passkey.ErrResponse},
			{name: "sign-in: wrong origin", begin: signIn,
				tweak: passkeytest.Tweak{Origin: "http://id.example.test"}, want: passkey.ErrResponse},
			{name: "sign-in: wrong relying party", begin: signIn,
				tweak: passkeytest.Tweak{RPID: "example.test"}, want: passkey.ErrResponse},
			{name: "sign-in: unknown credential", begin: signIn,
				cred: &passkeytest.Credential{ID: []byte("nobody's credential"), Key: cred.Key, RPID: cred.RPID, UserHandle: cred.UserHandle},
				want: passkey.ErrUnknownCredential},
			{name: "second factor: unknown credential", begin: func() (passkey.Ceremony, finish) { return second(f.alice) },
				cred: &passkeytest.Credential{ID: []byte("nobody's credential"), Key: cred.Key, RPID: cred.RPID, UserHandle: cred.UserHandle},
				want: passkey.ErrUnknownCredential},
			{name: "second factor: another user's credential", begin: func() (passkey.Ceremony, finish) { return second(f.alice) },
				cred: bobCred, key: bobKey, want: passkey.ErrUnknownCredential},
			{name: "sign-in: a user handle not the credential's", begin: signIn,
				tweak: passkeytest.Tweak{UserHandle: passkey.UserHandle(f.bob.ID)}, want: passkey.ErrUnknownCredential},
			{name: "sign-in: counter regression", begin: signIn,
				tweak: passkeytest.Tweak{Counter: &zero}, want: passkey.ErrCloned},
			{name: "second factor: counter regression", begin: func() (passkey.Ceremony, finish) { return second(f.alice) },
				tweak: passkeytest.Tweak{Counter: &zero}, want: passkey.ErrCloned},
			{name: "sign-in: no user verification", begin: signIn,
				tweak: passkeytest.Tweak{NoUV: true}, want: passkey.ErrResponse},
			{name: "sign-in: a registration's state", begin: signIn,
				state: func(passkey.Ceremony) string { return regBob.State }, want: passkey.ErrState},
			{name: "second factor: bob's state for alice", begin: func() (passkey.Ceremony, finish) { return second(f.alice) },
				state: func(passkey.Ceremony) string { return secondBob.State }, want: passkey.ErrState},
			{name: "sign-in: a forged state", begin: signIn,
				state: func(c passkey.Ceremony) string { return c.State[:len(c.State)-2] + "AA" }, want: passkey.ErrState},
			{name: "sign-in: no state", begin: signIn,
				state: func(passkey.Ceremony) string { return "" }, want: passkey.ErrState},
			{name: "sign-in: malformed response", begin: signIn, want: passkey.ErrResponse},
		}
		// A good sign-in first, so that the counter regression has a
		// counter above zero to go back from.
		c, fin := signIn()
		resp, _ := a.Get(c.Options, cred, passkeytest.Tweak{})
		if err := fin(c.State, resp); err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c, fin := tc.begin()
				key, cr := a, cred
				if tc.cred != nil {
					cr = tc.cred
				}
				if tc.key != nil {
					key = tc.key
				}
				resp, err := key.Get(c.Options, cr, tc.tweak)
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "sign-in: malformed response" {
					resp = []byte(`{"id":"x","type":"public-key","response":{}}`)
				}
				state := c.State
				if tc.state != nil {
					state = tc.state(c)
				}
				if err := fin(state, resp); !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
			})
		}
	})
}

func TestStateExpires(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a := &passkeytest.Authenticator{Origin: base, UV: true}
		cred, _ := f.enrol(a, f.alice)
		c, _ := f.rp.BeginSignIn(context.Background())
		resp, _ := a.Get(c.Options, cred, passkeytest.Tweak{})
		f.now = f.now.Add(passkey.StateTTL)
		if _, err := f.rp.FinishSignIn(context.Background(), c.State, resp); !errors.Is(err, passkey.ErrState) {
			t.Fatalf("err = %v", err)
		}
	})
}

// A synced passkey keeps its counter at zero: that is no regression.
func TestZeroCounterIsNoRegression(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a := &passkeytest.Authenticator{Origin: base, UV: true}
		cred, _ := f.enrol(a, f.alice)
		cred.Fixed = true
		for range 2 {
			c, _ := f.rp.BeginSignIn(context.Background())
			resp, _ := a.Get(c.Options, cred, passkeytest.Tweak{})
			if _, err := f.rp.FinishSignIn(context.Background(), c.State, resp); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// A captured state and answer are refused the second time, even from a
// synced passkey whose counter stays zero: the challenge is used once.
func TestAStateAndAnswerAreUsedOnce(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a := &passkeytest.Authenticator{Origin: base, UV: true}
		cred, _ := f.enrol(a, f.alice)
		cred.Fixed = true
		c, _ := f.rp.BeginSignIn(context.Background())
		resp, _ := a.Get(c.Options, cred, passkeytest.Tweak{})
		if _, err := f.rp.FinishSignIn(context.Background(), c.State, resp); err != nil {
			t.Fatal(err)
		}
		if _, err := f.rp.FinishSignIn(context.Background(), c.State, resp); !errors.Is(err, passkey.ErrState) {
			t.Fatalf("the replayed state and answer: %v, want ErrState", err)
		}
	})
}

// Of two uses of one assertion counter at once, one passes.
func TestConcurrentUsesOfOneCounter(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		a := &passkeytest.Authenticator{Origin: base, UV: true}
		cred, _ := f.enrol(a, f.alice)
		n := uint32(7)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			c, _ := f.rp.BeginSignIn(context.Background())
			resp, _ := a.Get(c.Options, cred, passkeytest.Tweak{Counter: &n})
			wg.Go(func() { _, errs[i] = f.rp.FinishSignIn(context.Background(), c.State, resp) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, passkey.ErrCloned) {
				t.Fatalf("err = %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d uses of counter 7 passed, want 1", ok, len(errs))
		}
	})
}

// A ceremony begun on one node finishes on another that shares the
// database: the state's key is the database's.
func TestCeremonyFinishesOnAnotherNode(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		other, err := passkey.New(context.Background(), passkey.Config{BaseURL: base, Store: f.st, Now: func() time.Time { return f.now }})
		if err != nil {
			t.Fatal(err)
		}
		a := &passkeytest.Authenticator{Origin: base, UV: true}
		cred, _ := f.enrol(a, f.alice)
		c, err := f.rp.BeginSignIn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := a.Get(c.Options, cred, passkeytest.Tweak{})
		if res, err := other.FinishSignIn(context.Background(), c.State, resp); err != nil || res.UserID != f.alice.ID {
			t.Fatalf("finish on the other node: %+v, %v", res, err)
		}
	})
}
