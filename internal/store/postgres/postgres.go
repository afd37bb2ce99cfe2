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
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"latchkey/internal/store/sqlstore"
)

// Pool sizes per node. The write pool serves transactions (which may wait
// on row locks); the read pool serves plain reads, including those made by
// callbacks running inside a write transaction.
const (
	MaxWriteConns = 16
	MaxReadConns  = 16
)

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
	write := openPool(cfg, MaxWriteConns)
	read := openPool(cfg, MaxReadConns)
	s := sqlstore.New(sqlstore.Postgres, write, read)
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s.SetTimeout(CallTimeout)
	return s, nil
}

func openPool(cfg *pgx.ConnConfig, n int) *sql.DB {
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n / 2)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	return db
}
