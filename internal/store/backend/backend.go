// Package backend picks the store backend from a data source name.
package backend

import (
	"context"
	"strings"

	"latchkey/internal/store"
	"latchkey/internal/store/postgres"
	"latchkey/internal/store/sqlite"
	"latchkey/internal/store/sqlstore"
)

// Open opens and migrates the store named by dsn: a postgres:// or
// postgresql:// URL selects PostgreSQL, anything else is the path of a
// SQLite file. The result also implements Migrate(ctx) error and Transact
// (it is a *sqlstore.Store).
func Open(ctx context.Context, dsn string) (store.Store, error) {
	var s *sqlstore.Store
	var err error
	if IsPostgres(dsn) {
		s, err = postgres.Open(ctx, dsn)
	} else {
		s, err = sqlite.Open(ctx, dsn)
	}
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return s, nil
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	lower := strings.ToLower(dsn)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}
