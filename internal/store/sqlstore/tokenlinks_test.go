package sqlstore_test

import (
	"database/sql"
	"testing"
	"time"

	"latchkey/internal/store"
	"latchkey/internal/store/sqlite"
	"latchkey/internal/store/sqlstore"
)

// TestDeletedFamiliesTakeTheirTokens: however a family is deleted (its
// client's deletion, its user's, the cleaner's), its tokens go with it,
// and no token is left without a family. On PostgreSQL the tokens carry
// no foreign key since migration 0020, so a trigger does the cascade; the
// store's reads join the family and would not show a token left behind,
// so this test counts the rows.
func TestDeletedFamiliesTakeTheirTokens(t *testing.T) {
	for name, open := range rawBackends(t) {
		t.Run(name, func(t *testing.T) {
			s, db := open(t)
			ctx := t.Context()
			now := time.Now().Truncate(time.Millisecond)
			kept := must(s.CreateClient(ctx, store.Client{ID: "kept", CreatedAt: now}))(t)
			doomed := must(s.CreateClient(ctx, store.Client{ID: "doomed", CreatedAt: now}))(t)
			alice := must(s.CreateUser(ctx, store.User{Username: "alice", CreatedAt: now}))(t)
			bob := must(s.CreateUser(ctx, store.User{Username: "bob", CreatedAt: now}))(t)
			n := 0
			family := func(c store.Client, u store.User, expires time.Time) store.Issue {
				n++
				toks := []store.Token{
					{Hash: newHash("access-" + string(rune('a'+n))), Kind: store.AccessToken, ExpiresAt: expires},
					{Hash: newHash("refresh-" + string(rune('a'+n))), Kind: store.RefreshToken, ExpiresAt: expires},
				}
				return must(s.CreateFamily(ctx, store.Issue{Family: store.TokenFamily{ClientID: c.ID, UserID: u.ID}, Tokens: toks}, now))(t)
			}
			count := func(what, query string, want int) {
				t.Helper()
				var got int
				if err := db.QueryRowContext(ctx, query).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s: %d, want %d", what, got, want)
				}
			}
			orphans := `SELECT COUNT(*) FROM tokens t WHERE NOT EXISTS (SELECT 1 FROM token_families f WHERE f.id = t.family_id)`

			live := family(kept, alice, now.Add(time.Hour))
			family(doomed, alice, now.Add(time.Hour))
			family(doomed, alice, now.Add(time.Hour))
			family(kept, bob, now.Add(time.Hour))
			family(kept, alice, now.Add(-time.Hour)) // expired: the cleaner's
			count("tokens stored", `SELECT COUNT(*) FROM tokens`, 10)

			must(0, s.DeleteClient(ctx, doomed.ID))(t)
			count("tokens after the client's deletion", `SELECT COUNT(*) FROM tokens`, 6)
			must(0, s.DeleteUser(ctx, bob.ID))(t)
			count("tokens after the user's deletion", `SELECT COUNT(*) FROM tokens`, 4)
			must(s.DeleteExpired(ctx, now, 100))(t)
			count("tokens after the cleaner", `SELECT COUNT(*) FROM tokens`, 2)
			count("tokens without a family", orphans, 0)
			for _, tok := range live.Tokens {
				if _, _, err := s.GetToken(ctx, tok.Hash); err != nil {
					t.Errorf("the kept family's %s token: %v", tok.Kind, err)
				}
			}
		})
	}
}

// rawBackends is backends with a pool of the test's own on each store's
// database, for hand-written SQL.
func rawBackends(t *testing.T) map[string]func(*testing.T) (*sqlstore.Store, *sql.DB) {
	return map[string]func(*testing.T) (*sqlstore.Store, *sql.DB){
		"SQLite": func(t *testing.T) (*sqlstore.Store, *sql.DB) {
			path := t.TempDir() + "/latchkey.db"
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return s, db
		},
		"PostgreSQL": openPostgres,
	}
}
