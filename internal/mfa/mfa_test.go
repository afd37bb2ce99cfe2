package mfa_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/mfa"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
)

// stores are both databases (PostgreSQL when LATCHKEY_TEST_POSTGRES is set).
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

var kek = bytes.Repeat([]byte{7}, 32)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T, st store.Store) (*mfa.Factors, *clock, store.User) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 7, 10, 0, 5, 0, time.UTC)}
	f, err := mfa.New(st, kek, c.now)
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := admin.CreateUser(context.Background(), st, admin.NewUser{Username: "ada", Email: "ada@example.com",
		Password: "correct horse battery"}, c.t)
	if err != nil {
		t.Fatal(err)
	}
	return f, c, u
}

// RFC 6238 appendix B, SHA-1 column: the 8-digit codes' last 6 digits.
func TestCodeMatchesRFC6238(t *testing.T) {
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
		got, err := mfa.Code(secret, mfa.Step(time.Unix(unix, 0)))
		if err != nil || got != want {
			t.Errorf("code at %d = %q, %v; want %q", unix, got, err, want)
		}
	}
}

func TestEnrolAndSignIn(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f, c, u := setup(t, st)
			e, err := mfa.NewEnrolment("Latchkey", "ada")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(e.URL, "otpauth://totp/") || !strings.Contains(e.URL, "secret="+e.Secret) {
				t.Fatalf("URL %q", e.URL)
			}
			if _, err := f.AddTOTP(ctx, u.ID, "phone", e.Secret, "000000"); !errors.Is(err, mfa.ErrWrongCode) && code(t, e.Secret, c.t) != "000000" {
				t.Fatalf("a wrong confirmation code: %v", err)
			}
			first := code(t, e.Secret, c.t)
			factor, err := f.AddTOTP(ctx, u.ID, "phone", e.Secret, first)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(factor.Secret, []byte(e.Secret)) {
				t.Fatal("the TOTP key is stored in the clear")
			}
			if has, err := f.Has(ctx, u.ID); !has || err != nil {
				t.Fatalf("Has = %v, %v", has, err)
			}
			// The confirming code is spent.
			if _, err := f.CheckTOTP(ctx, u.ID, first); !errors.Is(err, mfa.ErrWrongCode) {
				t.Fatalf("the enrolment code replayed: %v", err)
			}
			c.t = c.t.Add(mfa.Period)
			next := code(t, e.Secret, c.t)
			if _, err := f.CheckTOTP(ctx, u.ID, next[:3]+" "+next[3:]); err != nil {
				t.Fatalf("the next code: %v", err)
			}
			if _, err := f.CheckTOTP(ctx, u.ID, next); !errors.Is(err, mfa.ErrWrongCode) {
				t.Fatalf("a replayed code: %v", err)
			}
			// Skew: the code of the step after the current one is good, and
			// then the current one (older) is not.
			ahead := code(t, e.Secret, c.t.Add(2*mfa.Period))
			c.t = c.t.Add(mfa.Period)
			if _, err := f.CheckTOTP(ctx, u.ID, ahead); err != nil {
				t.Fatalf("a code one step ahead: %v", err)
			}
			if _, err := f.CheckTOTP(ctx, u.ID, code(t, e.Secret, c.t)); !errors.Is(err, mfa.ErrWrongCode) {
				t.Fatalf("a code older than the last used: %v", err)
			}
			// Two steps away is refused.
			c.t = c.t.Add(10 * mfa.Period)
			if _, err := f.CheckTOTP(ctx, u.ID, code(t, e.Secret, c.t.Add(-2*mfa.Period))); !errors.Is(err, mfa.ErrWrongCode) {
				t.Fatalf("a code two steps old: %v", err)
			}
			// A key sealed for another user does not open for this one.
			other, err := mfa.New(st, bytes.Repeat([]byte{8}, 32), c.now)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.CheckTOTP(ctx, u.ID, code(t, e.Secret, c.t)); err == nil || errors.Is(err, mfa.ErrWrongCode) {
				t.Fatalf("a key opened under another key-encryption key: %v", err)
			}
		})
	}
}

// Of many simultaneous uses of one code exactly one succeeds.
func TestCodeUsedOnceUnderConcurrency(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f, c, u := setup(t, st)
			e, _ := mfa.NewEnrolment("Latchkey", "ada")
			if _, err := f.AddTOTP(ctx, u.ID, "phone", e.Secret, code(t, e.Secret, c.t)); err != nil {
				t.Fatal(err)
			}
			c.t = c.t.Add(mfa.Period)
			next := code(t, e.Secret, c.t)
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, bad := 0, 0
			for range 8 {
				wg.Go(func() {
					_, err := f.CheckTOTP(ctx, u.ID, next)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, mfa.ErrWrongCode):
						bad++
					default:
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if ok != 1 || bad != 7 {
				t.Fatalf("%d uses succeeded, %d failed; want 1 and 7", ok, bad)
			}
		})
	}
}

func TestRecoveryCodes(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f, _, u := setup(t, st)
			codes, err := f.GenerateRecoveryCodes(ctx, u.ID)
			if err != nil || len(codes) != mfa.RecoveryCodeCount {
				t.Fatalf("%d codes, %v", len(codes), err)
			}
			seen := map[string]bool{}
			for _, c := range codes {
				if len(c) != 11 || c[5] != '-' || seen[c] {
					t.Fatalf("code %q", c)
				}
				seen[c] = true
			}
			if err := f.UseRecoveryCode(ctx, u.ID, " "+strings.ToUpper(codes[3])+" "); err != nil {
				t.Fatalf("use a code typed in capitals: %v", err)
			}
			if err := f.UseRecoveryCode(ctx, u.ID, codes[3]); !errors.Is(err, mfa.ErrWrongCode) {
				t.Fatalf("a used code again: %v", err)
			}
			if n, _ := st.CountRecoveryCodes(ctx, u.ID); n != mfa.RecoveryCodeCount-1 {
				t.Fatalf("%d codes left", n)
			}
			// New codes replace the old ones.
			if _, err := f.GenerateRecoveryCodes(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			if err := f.UseRecoveryCode(ctx, u.ID, codes[4]); !errors.Is(err, mfa.ErrWrongCode) {
				t.Fatalf("a replaced code: %v", err)
			}
		})
	}
}

func TestParsers(t *testing.T) {
	for in, want := range map[string]string{"123456": "123456", " 123 456 ": "123456", "12345": "", "1234567": "", "12345a": "", "１２３４５６": ""} {
		got, ok := mfa.ParseCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParseCode(%q) = %q, %v", in, got, ok)
		}
	}
	for in, want := range map[string]string{"abcde-fghij": "abcdefghij", "ABCDE FGHIJ": "abcdefghij", "abcde-fghi": "",
		"abcde-fghij2": "", "abcde-fgh1j": "", "": ""} {
		got, ok := mfa.ParseRecoveryCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParseRecoveryCode(%q) = %q, %v", in, got, ok)
		}
	}
	e, _ := mfa.NewEnrolment("L", "a")
	if s, ok := mfa.ParseSecret(strings.ToLower(e.Secret) + "===="); !ok || s != e.Secret {
		t.Errorf("ParseSecret = %q, %v", s, ok)
	}
	if _, ok := mfa.ParseSecret("AAAA"); ok {
		t.Error("a short secret parsed")
	}
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := mfa.Code(secret, mfa.Step(at))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
