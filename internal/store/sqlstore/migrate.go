package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds one directory per dialect (named by Dialect.String)
// with the same numbered file names: NNNN_description.sql.
//
//go:embed migrations
var migrationFiles embed.FS

// Migration is one numbered schema change.
type Migration struct {
	Version int    // the number the file name starts with
	Name    string // the file name
	SQL     string
}

// Migrations returns the dialect's migrations in the order they apply.
func Migrations(d Dialect) ([]Migration, error) {
	dir := path.Join("migrations", d.String())
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		m, err := readMigration(dir, e.Name())
		if err != nil {
			return nil, fmt.Errorf("sqlstore: read migrations: %w", err)
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("sqlstore: read migrations: %s and %s share a version", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

func readMigration(dir, name string) (Migration, error) {
	num, _, ok := strings.Cut(name, "_")
	if !ok || !strings.HasSuffix(name, ".sql") {
		return Migration{}, fmt.Errorf("%s: want NNNN_name.sql", name)
	}
	v, err := strconv.Atoi(num)
	if err != nil || v <= 0 {
		return Migration{}, fmt.Errorf("%s: bad version %q", name, num)
	}
	b, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
	if err != nil {
		return Migration{}, err
	}
	return Migration{Version: v, Name: name, SQL: string(b)}, nil
}

// Migrate applies every migration the database lacks, each in its own
// transaction together with its row in schema_migrations. It is safe when
// several processes start at once: on PostgreSQL each transaction first
// takes an advisory lock (per schema), on SQLite it begins IMMEDIATE. The
// per-call timeout (SetTimeout) does not apply: a node waits as long as
// ctx allows for another node's migration to finish.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := Migrations(s.dialect)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := s.transact(ctx, func(tx Tx) error { return s.apply(ctx, tx, m) }); err != nil {
			return wrap("migrate "+m.Name, err) // an unreachable database is ErrUnavailable
		}
	}
	return nil
}

// migrationLock is the first key of the PostgreSQL advisory lock that
// serializes migrations; the second is a hash of the current schema.
const migrationLock = 0x4c4b4d47 // "LKMG"

func (s *Store) apply(ctx context.Context, tx Tx, m Migration) error {
	if s.dialect == Postgres {
		q := fmt.Sprintf("SELECT pg_advisory_xact_lock(%d, hashtext(coalesce(current_schema(), '')))", migrationLock)
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	// applied_at is bookkeeping of the schema for operators, outside the
	// store contract, so it is the wall clock of the node that migrated.
	_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.Version, m.Name, millis(time.Now()))
	return err
}
