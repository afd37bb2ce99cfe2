// Package postgres opens Latchkey's store on PostgreSQL through pgx.
//
// Any number of nodes may share one database: the store locks the rows it
// must change exactly once (SELECT ... FOR UPDATE), retries transactions
// that fail with a serialization failure or a deadlock, and migrations
// take an advisory lock, so nodes starting at once do not race.
//
// When the database goes away, calls fail fast instead of piling up: a new
// connection gives up after ConnectTimeout, every store call after
// CallTimeout, and the error wraps store.ErrUnavailable (the server answers
// 503). The pools reconnect by themselves when the database returns.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"latchkey/internal/store/sqlstore"
)

// Pool sizes per node. The write pool serves transactions (which may wait
// on row locks); the read pool serves plain reads, including those made by
// callbacks running inside a write transaction. The DSN parameter
// pool_max_conns (as pgxpool names it) sets the total for both pools,
// split evenly, at least two each.
const (
	MaxWriteConns = 16
	MaxReadConns  = 16
)

// poolSizes reads and removes pool_max_conns from the parsed DSN, which
// pgx would otherwise send to the server as a run-time parameter.
func poolSizes(cfg *pgx.ConnConfig) (write, read int, err error) {
	raw, ok := cfg.RuntimeParams["pool_max_conns"]
	if !ok {
		return MaxWriteConns, MaxReadConns, nil
	}
	delete(cfg.RuntimeParams, "pool_max_conns")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 4 {
		return 0, 0, fmt.Errorf("pool_max_conns %q must be a number of at least 4", raw)
	}
	return n / 2, n - n/2, nil
}

// Time limits. ConnectTimeout applies unless the DSN sets connect_timeout.
const (
	ConnectTimeout = 2 * time.Second
	CallTimeout    = 5 * time.Second
)

// Open connects to the PostgreSQL database named by dsn (a postgres:// URL
// or a key=value string; search_path may be set as a parameter) and applies
// every pending migration. The migrations are not bounded by CallTimeout.
func Open(ctx context.Context, dsn string) (*sqlstore.Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = ConnectTimeout
	}
	nWrite, nRead, err := poolSizes(cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	write := openPool(cfg, nWrite)
	read := openPool(cfg, nRead)
	s := sqlstore.New(sqlstore.Postgres, write, read)
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s.SetTimeout(CallTimeout)
	return s, nil
}

// openPool opens a pool of at most n connections that keeps all n while
// idle, for up to 5 minutes: keeping fewer made a busy node close and
// reopen connections (a new PostgreSQL backend process each) all the
// time, which cut refresh to a third of its rate in the load benchmark.
func openPool(cfg *pgx.ConnConfig, n int) *sql.DB {
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	return db
}
