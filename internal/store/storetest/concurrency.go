package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"latchkey/internal/store"
)

var secretTests = []test{
	{"FirstCandidateWins", testEnsureSecret},
	{"ConcurrentCandidatesAgreeOnOne", testEnsureSecretConcurrent},
	{"PingAnswers", testPing},
}

func testEnsureSecret(t *testing.T, s store.Store) {
	got, err := s.EnsureSecret(ctx(t), "cookie", []byte("first\x00\xff"))
	must(t, "ensure secret", err)
	if !bytes.Equal(got, []byte("first\x00\xff")) {
		t.Fatalf("first EnsureSecret = %q, want the candidate", got)
	}
	got, err = s.EnsureSecret(ctx(t), "cookie", []byte("second"))
	must(t, "ensure secret again", err)
	if !bytes.Equal(got, []byte("first\x00\xff")) {
		t.Errorf("second EnsureSecret = %q, want the first value", got)
	}
	got, err = s.EnsureSecret(ctx(t), "csrf", []byte("other"))
	must(t, "ensure other secret", err)
	if !bytes.Equal(got, []byte("other")) {
		t.Errorf("EnsureSecret of another name = %q, want its own candidate", got)
	}
}

func testEnsureSecretConcurrent(t *testing.T, s store.Store) {
	const n = 20
	values := make([][]byte, n)
	errs := parallel(n, func(i int) error {
		var err error
		values[i], err = s.EnsureSecret(ctx(t), "key", fmt.Appendf(nil, "candidate-%d", i))
		return err
	})
	for i := range n {
		must(t, "ensure secret", errs[i])
		if !bytes.Equal(values[i], values[0]) {
			t.Errorf("caller %d got %q, caller 0 got %q", i, values[i], values[0])
		}
	}
}

func testPing(t *testing.T, s store.Store) {
	must(t, "ping", s.Ping(ctx(t)))
}

var concurrencyTests = []test{
	{"OneCodeRedeemedAtOnceSucceedsOnce", testConcurrentRedeem},
	{"OneRefreshTokenRotatedAtOnceSucceedsOnce", testConcurrentRotate},
	{"ManyWritersNeverFail", testConcurrentWriters},
}

// racers is how many goroutines present one code or one token at once.
const racers = 50

func testConcurrentRedeem(t *testing.T, s store.Store) {
	hash := mkCode(t, s, mkClient(t, s, "app"), mkUser(t, s, "alice"))
	code := store.Presented{Hash: hash, ClientID: "app"}
	var issued atomic.Int64
	issues := make([]store.Issue, racers)
	errs := parallel(racers, func(i int) error {
		var err error
		issues[i], err = s.RedeemAuthCode(ctx(t), code, now(), func(c store.AuthCode) (store.Issue, error) {
			issued.Add(1)
			return issueFromCode(c)
		})
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("callers %d and %d both redeemed the code", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrCodeReused):
			t.Errorf("caller %d: %v, want success or ErrCodeReused", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no caller redeemed the code")
	}
	if n := issued.Load(); n < 1 {
		t.Errorf("issue called %d times", n)
	}
	if fam := family(t, s, issues[winner].Tokens[0].Hash); !fam.Revoked() {
		t.Error("family not revoked although the code was presented again")
	}
}

func testConcurrentRotate(t *testing.T, s store.Store) {
	first := grant(t, s)
	rt := refreshOf(t, first)
	issues := make([]store.Issue, racers)
	errs := parallel(racers, func(i int) error {
		var err error
		issues[i], err = s.RotateRefreshToken(ctx(t), rt, now(), issueRotation)
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("callers %d and %d both rotated the token", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrTokenReused) && !errors.Is(err, store.ErrRevoked):
			t.Errorf("caller %d: %v, want success, ErrTokenReused or ErrRevoked", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no caller rotated the token")
	}
	if issues[winner].Family.Generation != 2 {
		t.Errorf("winner's generation = %d, want 2", issues[winner].Family.Generation)
	}
	if fam := family(t, s, issues[winner].Tokens[0].Hash); !fam.Revoked() {
		t.Error("family not revoked although the token was presented again")
	}
	wantLive(t, s, false, issues[winner].Tokens...)
}

// testConcurrentWriters runs whole login-and-token flows on many goroutines
// at once; none may fail (no "database is locked", no lost writes).
func testConcurrentWriters(t *testing.T, s store.Store) {
	const n = 64
	c := mkClient(t, s, "app")
	errs := parallel(n, func(i int) error { return flow(t, s, c, i) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	count, err := s.CountUsers(ctx(t))
	must(t, "count users", err)
	if count != n {
		t.Errorf("count users = %d, want %d", count, n)
	}
}

// flow is one user's way from creation to a rotated refresh token.
func flow(t *testing.T, s store.Store, c store.Client, i int) error {
	u, err := s.CreateUser(ctx(t), store.User{Username: fmt.Sprintf("user%d", i)})
	if err != nil {
		return err
	}
	at := now()
	if err := s.CreateSession(ctx(t), store.Session{ID: newHash(), UserID: u.ID, AuthTime: at, ExpiresAt: at.Add(time.Hour)}); err != nil {
		return err
	}
	if err := s.SaveConsent(ctx(t), store.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"REPO_READ"}}); err != nil {
		return err
	}
	code := store.AuthCode{Hash: newHash(), ClientID: c.ID, UserID: u.ID, Scopes: []string{"REPO_READ"},
		AuthTime: at, ExpiresAt: at.Add(time.Minute)}
	if err := s.CreateAuthCode(ctx(t), code); err != nil {
		return err
	}
	iss, err := s.RedeemAuthCode(ctx(t), store.Presented{Hash: code.Hash, ClientID: c.ID}, at, issueFromCode)
	if err != nil {
		return err
	}
	for _, tok := range iss.Tokens {
		if tok.Kind == store.RefreshToken {
			_, err = s.RotateRefreshToken(ctx(t), store.Presented{Hash: tok.Hash, ClientID: c.ID}, at, issueRotation)
		}
	}
	if err != nil {
		return err
	}
	_, err = s.EnsureSecret(ctx(t), "shared", fmt.Appendf(nil, "%d", i))
	return err
}
