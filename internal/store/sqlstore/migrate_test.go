package sqlstore

import (
	"io/fs"
	"path"
	"slices"
	"testing"
)

// TestMigrationDirsMatch checks that every dialect has the same numbered
// migration files, so that no schema change lands on one backend only.
func TestMigrationDirsMatch(t *testing.T) {
	names := func(d Dialect) []string {
		entries, err := fs.ReadDir(migrationFiles, path.Join("migrations", d.String()))
		if err != nil {
			t.Fatalf("read %s migrations: %v", d, err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	lite, pg := names(SQLite), names(Postgres)
	if len(lite) == 0 {
		t.Fatal("no migrations")
	}
	if !slices.Equal(lite, pg) {
		t.Errorf("migration files differ:\nsqlite:   %q\npostgres: %q", lite, pg)
	}
}

func TestMigrationsParse(t *testing.T) {
	for _, d := range []Dialect{SQLite, Postgres} {
		ms, err := Migrations(d)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		for i, m := range ms {
			if m.Version != i+1 {
				t.Errorf("%s: migration %s has version %d, want %d (no gaps)", d, m.Name, m.Version, i+1)
			}
			if m.SQL == "" {
				t.Errorf("%s: migration %s is empty", d, m.Name)
			}
		}
	}
}
