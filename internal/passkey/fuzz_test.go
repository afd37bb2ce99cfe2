package passkey_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"latchkey/internal/passkey"
	"latchkey/internal/passkey/passkeytest"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
)

// FuzzFinish feeds arbitrary states and browser responses to the three
// Finish calls: whatever comes, they refuse with one of the package's
// refusals and never panic, and nothing signs in.
func FuzzFinish(f *testing.F) {
	st, err := backend.Open(context.Background(), filepath.Join(f.TempDir(), "db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	rp, err := passkey.New(context.Background(), passkey.Config{BaseURL: base, Store: st, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	alice, err := st.CreateUser(ctx, store.User{Username: "alice", CreatedAt: now})
	if err != nil {
		f.Fatal(err)
	}
	a := &passkeytest.Authenticator{Origin: base, UV: true}
	reg, _ := rp.BeginRegistration(ctx, alice)
	resp, cred, _ := a.Create(reg.Options, passkeytest.Tweak{})
	f.Add(reg.State, resp)
	if _, err := rp.FinishRegistration(ctx, alice, reg.State, resp, ""); err != nil {
		f.Fatal(err)
	}
	in, _ := rp.BeginSignIn(ctx)
	resp, _ = a.Get(in.Options, cred, passkeytest.Tweak{Origin: "https://evil.example"})
	f.Add(in.State, resp)
	f.Add("", []byte(`{"id":"","rawId":"","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	f.Add(in.State, []byte(`{"response":{"attestationObject":"oA"}}`))
	refusals := []error{passkey.ErrState, passkey.ErrResponse, passkey.ErrUnknownCredential, passkey.ErrCloned, passkey.ErrAlreadyRegistered}
	refused := func(t *testing.T, what string, err error) {
		for _, r := range refusals {
			if errors.Is(err, r) {
				return
			}
		}
		t.Fatalf("%s: err = %v, want a refusal", what, err)
	}
	f.Fuzz(func(t *testing.T, state string, response []byte) {
		_, err := rp.FinishSignIn(ctx, state, response)
		refused(t, "sign in", err)
		_, err = rp.FinishSecondFactor(ctx, alice, state, response)
		refused(t, "second factor", err)
		_, err = rp.FinishRegistration(ctx, alice, state, response, "x")
		refused(t, "registration", err)
	})
}
