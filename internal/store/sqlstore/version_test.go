package sqlstore

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

// Both kinds of reading of versionWatch stay equal while nothing commits
// and change with every commit of another connection, the write
// connection of the same process included.
func TestVersionWatchSeesEveryCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*versionWatch{{}, {walIndex: path + "-shm"}} {
		name := "data_version"
		if w.walIndex != "" {
			name = "WAL index"
		}
		read := func() string {
			t.Helper()
			v, err := w.read(t.Context(), db)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if v == "" {
				t.Fatalf("%s: an unknown reading with nothing committing", name)
			}
			return v
		}
		before := read()
		if again := read(); again != before {
			t.Fatalf("%s: the reading changed with nothing committed", name)
		}
		w.done(before)
		if !w.applied(read()) {
			t.Fatalf("%s: a reading equal to a completed one is not applied", name)
		}
		for i := range 3 {
			if _, err := db.Exec(`INSERT INTO t VALUES (?)`, i); err != nil {
				t.Fatal(err)
			}
			after := read()
			if after == before || w.applied(after) {
				t.Fatalf("%s: commit %d left the reading as it was", name, i)
			}
			before = after
		}
		if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO t VALUES (9)`); err != nil { // the first commit into a restarted log
			t.Fatal(err)
		}
		if read() == before {
			t.Fatalf("%s: a commit after a restart of the log left the reading as it was", name)
		}
		w.close()
	}
}

// A data_version reading of one connection never equals one of another,
// which counts from its own start: a pull that completes after the watch
// took a new connection cannot make the new connection's readings look
// applied.
func TestVersionWatchReadingsOfAnotherConnectionDiffer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := &versionWatch{}
	defer w.close()
	old, err := w.read(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	w.close() // as a failed reading drops the connection
	db.SetMaxIdleConns(0)
	fresh, err := w.read(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	w.done(old) // a pull that began before the new connection completes
	if w.applied(fresh) {
		t.Fatalf("reading %q of a new connection counts as applied after %q of the old one", fresh, old)
	}
}
