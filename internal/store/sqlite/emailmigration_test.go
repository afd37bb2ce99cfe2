package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"latchkey/internal/store/sqlite"
	"latchkey/internal/store/sqlstore"
)

// TestEmailMigrationDistrustsOldAddressesAndClearsShared upgrades a
// database written before addresses were verified: anyone could set any
// address then, so none counts as verified afterwards, and an address
// several accounts held (case-insensitively) is cleared from all of them
// instead of being handed to one.
func TestEmailMigrationDistrustsOldAddressesAndClearsShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlstore.Migrations(sqlstore.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`)
	for _, m := range ms {
		if m.Name >= "0008" {
			break
		}
		exec(m.SQL)
		exec(`INSERT INTO schema_migrations VALUES ($1, $2, 0)`, m.Version, m.Name)
	}
	for i, u := range [][2]string{{"alice", "alice@example.com"}, {"bob", "bob@example.com"}, {"mallory", "BOB@example.com"}, {"carol", ""}} {
		exec(`INSERT INTO users (username, username_lower, email, created_at) VALUES ($1, $1, $2, $3)`, u[0], u[1], i)
	}
	db.Close()

	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]string{"alice": "alice@example.com", "bob": "", "mallory": "", "carol": ""}
	for name, email := range want {
		u, err := s.GetUserByUsername(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != email || u.EmailVerified {
			t.Errorf("%s after the migration: email %q verified %v, want %q unverified", name, u.Email, u.EmailVerified, email)
		}
	}
	if u, err := s.GetUserByEmail(t.Context(), "ALICE@example.com"); err != nil || u.Username != "alice" {
		t.Errorf("alice's kept address is not unique-keyed: %+v, %v", u, err)
	}
}
