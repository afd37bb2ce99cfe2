// Package postgres opens Latchkey's store on PostgreSQL through pgx.
//
// Any number of nodes may share one database: the store locks the rows it
// must change exactly once (SELECT ... FOR UPDATE), retries transactions
// that fail with a serialization failure or a deadlock, and migrations
// take an advisory lock, so nodes starting at once do not race.
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

// Open connects to the PostgreSQL database named by dsn (a postgres:// URL
// or a key=value string; search_path may be set as a parameter) and applies
// every pending migration.
func Open(ctx context.Context, dsn string) (*sqlstore.Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
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
