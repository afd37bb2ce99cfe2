package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"latchkey/internal/store"
	"latchkey/internal/store/postgres"
	"latchkey/internal/store/sqlite"
	"latchkey/internal/store/sqlstore"
	"latchkey/internal/testkit"
)

// serializationFailure is a PostgreSQL error as pgx reports it: SQLSTATE
// 40001, which sqlstore retries.
type serializationFailure struct{}

func (serializationFailure) Error() string    { return "could not serialize access" }
func (serializationFailure) SQLState() string { return "40001" }

// backends opens one fresh store per backend: SQLite always, PostgreSQL
// when the test database is configured (testkit.FreshPostgres skips or,
// in CI, fails without one).
func backends(t *testing.T) map[string]func(*testing.T) *sqlstore.Store {
	return map[string]func(*testing.T) *sqlstore.Store{
		"SQLite": func(t *testing.T) *sqlstore.Store {
			s, err := sqlite.Open(t.Context(), t.TempDir()+"/latchkey.db")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"PostgreSQL": func(t *testing.T) *sqlstore.Store {
			s, err := postgres.Open(t.Context(), testkit.FreshPostgres(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// TestCallbacksRunAgainWhenACommitIsRetried fails the first commit of each
// method that takes a callback, as a serialization failure would. The
// store retries: the callback runs twice, and only the second run counts,
// once.
func TestCallbacksRunAgainWhenACommitIsRetried(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			for _, c := range retryCases {
				t.Run(c.name, func(t *testing.T) {
					s := open(t)
					c.run(t, s, func() { sqlstore.FailCommits(s, 1, serializationFailure{}) })
				})
			}
		})
	}
}

// retryCase sets up rows, calls failOnce, then calls one method whose
// callback counts its calls in runs (a test may; a caller may not).
type retryCase struct {
	name string
	run  func(t *testing.T, s *sqlstore.Store, failOnce func())
}

var retryCases = []retryCase{
	{"UpdateUser", func(t *testing.T, s *sqlstore.Store, failOnce func()) {
		ctx := t.Context()
		u := must(s.CreateUser(ctx, store.User{Username: "alice"}))(t)
		failOnce()
		runs := 0
		got := must(s.UpdateUser(ctx, u.ID, func(u store.User) (store.User, error) {
			runs++
			u.DisplayName = "run " + string(rune('0'+runs))
			return u, nil
		}))(t)
		stored := must(s.GetUser(ctx, u.ID))(t)
		if runs != 2 || got.DisplayName != "run 2" || stored.DisplayName != "run 2" {
			t.Errorf("%d runs, returned %q, stored %q; want 2 runs and the second's result", runs, got.DisplayName, stored.DisplayName)
		}
	}},
	{"RedeemAuthCode", func(t *testing.T, s *sqlstore.Store, failOnce func()) {
		ctx := t.Context()
		c, u, now := setUp(t, s)
		hash := mkCode(t, s, c, u, now)
		failOnce()
		runs := 0
		iss := must(s.RedeemAuthCode(ctx, store.Presented{Hash: hash, ClientID: c.ID}, now, func(store.AuthCode) (store.Issue, error) {
			runs++
			return store.Issue{Tokens: []store.Token{token(store.RefreshToken, runs, now)}}, nil
		}))(t)
		wantOneFamily(t, s, runs, iss, u.ID, now)
	}},
	{"RotateRefreshToken", func(t *testing.T, s *sqlstore.Store, failOnce func()) {
		ctx := t.Context()
		c, u, now := setUp(t, s)
		first := must(s.CreateFamily(ctx, store.Issue{Family: store.TokenFamily{ClientID: c.ID, UserID: u.ID},
			Tokens: []store.Token{token(store.RefreshToken, 0, now)}}, now))(t)
		failOnce()
		runs := 0
		iss := must(s.RotateRefreshToken(ctx, store.Presented{Hash: first.Tokens[0].Hash, ClientID: c.ID}, now, func(store.TokenFamily, store.Token) (store.Issue, error) {
			runs++
			return store.Issue{Tokens: []store.Token{token(store.RefreshToken, runs, now)}}, nil
		}))(t)
		if runs != 2 || iss.Family.Generation != 2 {
			t.Errorf("%d runs, generation %d; want 2 runs and one rotation", runs, iss.Family.Generation)
		}
		wantOneFamily(t, s, runs, iss, u.ID, now)
	}},
	{"UpdateDeviceCode", func(t *testing.T, s *sqlstore.Store, failOnce func()) {
		ctx := t.Context()
		c, u, now := setUp(t, s)
		hash := newHash("device")
		if err := s.CreateDeviceCode(ctx, store.DeviceCode{Hash: hash, UserCode: "BCDFGHJK", ClientID: c.ID,
			Status: store.DeviceApproved, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		failOnce()
		runs := 0
		d := must(s.UpdateDeviceCode(ctx, hash, now, func(d store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
			runs++
			d.Status = store.DeviceConsumed
			return d, &store.Issue{Tokens: []store.Token{token(store.AccessToken, runs, now)}}, nil
		}))(t)
		tok, fam := must2(s.GetToken(ctx, token(store.AccessToken, 2, now).Hash))(t)
		if runs != 2 || d.FamilyID != fam.ID || tok.FamilyID != fam.ID {
			t.Errorf("%d runs, device code linked to family %d, token of the second run in family %d", runs, d.FamilyID, fam.ID)
		}
		if _, _, err := s.GetToken(ctx, token(store.AccessToken, 1, now).Hash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the first run's token: %v, want not found", err)
		}
	}},
}

// setUp creates a client and a user and picks the time of the test.
func setUp(t *testing.T, s *sqlstore.Store) (store.Client, store.User, time.Time) {
	now := time.Now().Truncate(time.Millisecond)
	c := must(s.CreateClient(t.Context(), store.Client{ID: "app", CreatedAt: now}))(t)
	u := must(s.CreateUser(t.Context(), store.User{Username: "alice", CreatedAt: now}))(t)
	return c, u, now
}

// token is the token a callback issues on its run-th call.
func token(kind store.TokenKind, run int, now time.Time) store.Token {
	return store.Token{Hash: newHash(string(kind) + string(rune('0'+run))), Kind: kind, ExpiresAt: now.Add(time.Hour)}
}

// newHash is a stand-in for a token hash, distinct per label.
func newHash(label string) string { return "hash-" + label }

// mkCode stores an authorization code of c and u, live for a minute from
// now, and returns its hash.
func mkCode(t *testing.T, s *sqlstore.Store, c store.Client, u store.User, now time.Time) string {
	t.Helper()
	hash := newHash("code")
	if err := s.CreateAuthCode(t.Context(), store.AuthCode{Hash: hash, ClientID: c.ID, UserID: u.ID,
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	return hash
}

// wantOneFamily checks that the callback ran twice and that the store
// kept the second run's token only, in the family it returned.
func wantOneFamily(t *testing.T, s *sqlstore.Store, runs int, iss store.Issue, userID int64, now time.Time) {
	t.Helper()
	if runs != 2 {
		t.Errorf("callback ran %d times, want 2", runs)
	}
	if len(iss.Tokens) != 1 || iss.Tokens[0].Hash != token(store.RefreshToken, 2, now).Hash {
		t.Fatalf("issued %+v, want the second run's token", iss.Tokens)
	}
	_, fam := must2(s.GetToken(t.Context(), iss.Tokens[0].Hash))(t)
	if fam.ID != iss.Family.ID {
		t.Errorf("token in family %d, want %d", fam.ID, iss.Family.ID)
	}
	if _, _, err := s.GetToken(t.Context(), token(store.RefreshToken, 1, now).Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the first run's token: %v, want not found", err)
	}
	fams := must(store.All(t.Context(), func(ctx context.Context, p store.Page) ([]store.UserFamily, store.Cursor, error) {
		return s.ListFamiliesByUser(ctx, userID, now, p)
	}))(t)
	if len(fams) != 1 {
		t.Errorf("%d families, want 1", len(fams))
	}
}

// must returns v, failing the test on err.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// must2 is must for two values.
func must2[A, B any](a A, b B, err error) func(*testing.T) (A, B) {
	return func(t *testing.T) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}
