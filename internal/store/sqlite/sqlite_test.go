package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestClaimAcrossStores: two stores over one file, as the server and
// another process on the same machine, claim deliveries concurrently: no
// delivery is leased to two workers at once, each is claimed once.
func TestClaimAcrossStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	nodes := openProcesses(t, path, 2)
	storetest.ClaimRace(t, nodes, 100, 3)
}

func TestNewFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "latchkey.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CountUsers(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), mode)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".latchkey-new-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// twoProcesses opens two stores over one file, as the server and an admin
// command in another process, and a raw connection for hand-written SQL.
func twoProcesses(t *testing.T) (a, b store.Store, raw storetest.Raw) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	nodes := openProcesses(t, path, 2)
	db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return nodes[0], nodes[1], func(ctx context.Context, q string, args ...any) error {
		_, err := db.ExecContext(ctx, q, args...)
		return err
	}
}

// TestCacheAcrossProcesses: what one process (or hand-written SQL) changes,
// the other's cached reads see at once; and within one process.
func TestCacheAcrossProcesses(t *testing.T) {
	a, b, raw := twoProcesses(t)
	storetest.CacheCoherence(t, a, b, raw)
	a, _, raw = twoProcesses(t)
	storetest.CacheCoherence(t, a, a, raw)
}

func TestCacheRaceAcrossProcesses(t *testing.T) {
	a, b, _ := twoProcesses(t)
	storetest.CacheRace(t, a, b)
}

// openProcesses opens n stores over the file at path, as n processes on
// one machine have.
func openProcesses(t *testing.T, path string, n int) []store.Store {
	t.Helper()
	var nodes []store.Store
	for range n {
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}
	return nodes
}

// Open drops the index samples that ANALYZE stores (sqlite_stat4), with
// which SQLite would prepare every key lookup again at each new binding,
// and keeps the row counts (sqlite_stat1).
func TestOpenDropsTheIndexSamplesOfAnalyze(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	createUsers(t, s, 50)
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables := func() (stat1, stat4 bool) {
		t.Helper()
		rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE name IN ('sqlite_stat1', 'sqlite_stat4')`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			stat1, stat4 = stat1 || name == "sqlite_stat1", stat4 || name == "sqlite_stat4"
		}
		return stat1, stat4
	}
	if _, err := db.Exec(`ANALYZE`); err != nil {
		t.Fatal(err)
	}
	if stat1, stat4 := tables(); !stat1 || !stat4 {
		t.Fatalf("after ANALYZE: sqlite_stat1 %v, sqlite_stat4 %v; want both", stat1, stat4)
	}
	s, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if stat1, stat4 := tables(); !stat1 || stat4 {
		t.Fatalf("after a reopen: sqlite_stat1 %v, sqlite_stat4 %v; want only sqlite_stat1", stat1, stat4)
	}
}

// The store checkpoints the WAL in the background: after writes far
// below the write connection's wal_autocheckpoint, the WAL index reports
// every frame of the log copied into the database file (nBackfill, the
// first field of its checkpoint information, at byte 96, equal to the
// header's mxFrame at byte 16; native byte order, see SQLite's
// walformat.html). Left to SQLite, nothing would be copied until the log
// held that many pages.
func TestCheckpointsRunInTheBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	createUsers(t, s, 20)
	var mxFrame, nBackfill uint32
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path + "-shm")
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 100 {
			t.Fatalf("the WAL index has %d bytes", len(b))
		}
		mxFrame, nBackfill = binary.NativeEndian.Uint32(b[16:]), binary.NativeEndian.Uint32(b[96:])
		if mxFrame > 0 && nBackfill == mxFrame {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s, %d of the WAL's %d frames are copied into the database", nBackfill, mxFrame)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// createUsers creates n users u0, u1, ... in s: some commits.
func createUsers(t *testing.T, s store.Store, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.CreateUser(t.Context(), store.User{Username: "u" + strconv.Itoa(i), Email: "u" + strconv.Itoa(i) + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
}
