// Package sqlite opens Latchkey's store on an embedded SQLite file
// (modernc.org/sqlite, pure Go).
//
// The file is in WAL mode, so readers never wait for the writer. Writes go
// through a pool of exactly one connection whose transactions begin
// IMMEDIATE: goroutines of this process queue for that connection, and a
// second process on the same file (the CLI next to a running server) waits
// on SQLite's busy timeout instead of failing with "database is locked".
// Plain reads use a separate pool of read-only connections.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"latchkey/internal/store/sqlstore"
)

// BusyTimeout is how long a connection waits for another process's lock
// before SQLite gives up (and the store retries the transaction).
const BusyTimeout = 30 * time.Second

// Open opens the SQLite database at path, creating the file (mode 0600) and
// its parent directory (0700) if needed, and applies every pending migration.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: open: empty path")
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Switching a new file to WAL takes a lock that SQLite does not wait
	// for with its busy handler, so several processes opening one new file
	// at once can see SQLITE_BUSY here: wait a little and try again.
	for attempt := 1; ; attempt++ {
		s, err := open(ctx, path)
		if err == nil || attempt == 10 || !isBusy(err) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt*attempt) * 10 * time.Millisecond):
		}
	}
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code()&0xff == 5 // SQLITE_BUSY and its extended codes
}

// open opens both pools and migrates.
func open(ctx context.Context, path string) (*sqlstore.Store, error) {
	if err := dropIndexSamples(ctx, path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: drop the index samples: %w", path, err)
	}
	write, err := openPool(ctx, path, true)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read, err := openPool(ctx, path, false)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	checkpoints, err := openPool(ctx, path, true)
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s := sqlstore.New(sqlstore.SQLite, write, read)
	s.SetWALIndex(path + "-shm")
	s.CheckpointInBackground(checkpoints)
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// dropIndexSamples drops sqlite_stat4 if it exists, on a connection of
// its own that it closes before the pools open: a connection keeps the
// samples it loaded with the schema until it reads the schema again.
//
// Why: modernc.org/sqlite is built with STAT4, so ANALYZE (run by hand,
// or by PRAGMA optimize) stores samples of every index's contents, and
// while they exist SQLite prepares a statement anew whenever a parameter
// it compares with an indexed column is bound to a new value, in case the
// value changes the best plan. Every token lookup
// then parsed its SQL again: on a store of ten million tokens that had
// been analysed, a refresh ran at 40 % of its rate and every other grant
// and check lost 15-25 %. Latchkey's statements are key lookups whose plan
// never depends on the value; the per-index row counts of sqlite_stat1,
// which cost nothing per statement, are kept.
func dropIndexSamples(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return err
	}
	defer db.Close()
	// Looked up first: a DROP, even of nothing, would wait for the write
	// lock that another process may hold.
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat4'`).Scan(&n); err != nil || n == 0 {
		return err
	}
	_, err = db.ExecContext(ctx, `DROP TABLE IF EXISTS sqlite_stat4`)
	return err
}

// createPrivate creates the parent directory and an empty database file
// readable by its owner only, unless the file exists; SQLite gives its
// -wal and -shm files the same mode. The file is made under a temporary
// name and linked into place with no descriptor left open, because closing
// a descriptor of a file would drop the locks that SQLite connections of
// this process hold on it.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // exists, or SQLite will report the problem
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".latchkey-new-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Close(); err != nil {
		return err
	}
	// CreateTemp uses mode 0600. A failed link (the file appeared meanwhile,
	// or the file system has no hard links) leaves the creation to SQLite.
	_ = os.Link(tmp, path)
	return nil
}

// backstopPages is the write connection's wal_autocheckpoint: the WAL
// size, in pages, past which the connection that commits checkpoints
// (SQLite's default is 1000). The store's background checkpoints copy the
// pages long before that (see sqlstore.CheckpointInBackground); the
// writer's own checkpoint then copies only the last few and lets the log
// start again from its beginning.
const backstopPages = 16000

// openPool opens the write pool (one connection, BEGIN IMMEDIATE) or the
// read pool (query_only connections) and checks that it connects.
func openPool(ctx context.Context, path string, write bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, write))
	if err != nil {
		return nil, err
	}
	n := max(4, runtime.NumCPU())
	if write {
		n = 1
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dsn builds a modernc.org/sqlite URI for path. The busy timeout is applied
// first by the driver, so the pragmas that follow wait for locks too.
func dsn(path string, write bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(BusyTimeout.Milliseconds(), 10))
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "NORMAL")
	// Statement journals and the savepoints of batched transactions
	// (group commit) in memory: on disk they are a temporary file per
	// transaction, written with a system call per page.
	q.Add("_pragma", "temp_store=MEMORY")
	if write {
		q.Set("_journal_mode", "WAL")
		q.Set("_txlock", "immediate")
		q.Add("_pragma", "wal_autocheckpoint="+strconv.Itoa(backstopPages))
	} else {
		q.Set("_query_only", "1")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}
