package backend_test

import (
	"path/filepath"
	"testing"

	"latchkey/internal/store/backend"
	"latchkey/internal/store/sqlstore"
)

func TestIsPostgres(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://u@h/db":                   true,
		"postgresql://u@h/db?sslmode=disable": true,
		"POSTGRES://u@h/db":                   true,
		"data/latchkey.db":                    false,
		"/var/lib/latchkey/postgres.db":       false,
		"postgres.db":                         false,
	} {
		if got := backend.IsPostgres(dsn); got != want {
			t.Errorf("IsPostgres(%q) = %v, want %v", dsn, got, want)
		}
	}
}

func TestOpenSQLitePath(t *testing.T) {
	s, err := backend.Open(t.Context(), filepath.Join(t.TempDir(), "sub", "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ss, ok := s.(*sqlstore.Store)
	if !ok || ss.Dialect() != sqlstore.SQLite {
		t.Errorf("Open of a path returned %T, want a SQLite *sqlstore.Store", s)
	}
	if err := ss.Migrate(t.Context()); err != nil {
		t.Errorf("migrating again: %v", err)
	}
}

func TestOpenErrorIsNilStore(t *testing.T) {
	s, err := backend.Open(t.Context(), "postgres://%zz")
	if err == nil || s != nil {
		t.Errorf("Open of a bad DSN = %v, %v; want a nil store and an error", s, err)
	}
}
