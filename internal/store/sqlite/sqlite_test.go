package sqlite_test

import (
	"path/filepath"
	"testing"

	"latchkey/internal/store"
	"latchkey/internal/store/sqlite"
	"latchkey/internal/store/storetest"
)

// openTemp opens a store on a fresh file in a new temporary directory
// (the parent directory does not exist yet, Open creates it).
func openTemp(t *testing.T) store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data dir", "latchkey.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.RunTests(t, openTemp)
}
