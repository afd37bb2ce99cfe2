// Package backend picks the store backend from a data source name.
package backend

import (
	"context"
	"strings"

	"latchkey/internal/config"
	"latchkey/internal/store"
	"latchkey/internal/store/postgres"
	"latchkey/internal/store/sqlite"
	"latchkey/internal/store/sqlstore"
)

// Open opens and migrates the store named by dsn: a postgres:// or
// postgresql:// URL selects PostgreSQL, anything else is the path of a
// SQLite file. An error it returns holds no credential of dsn
// (config.RedactDSNIn). The result also implements Migrate(ctx) error and Transact
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
		// Not a typed nil inside the interface; no credential of dsn in
		// the message, whatever the driver put there.
		return nil, &redactedError{msg: config.RedactDSNIn(err.Error(), dsn), err: err}
	}
	return s, nil
}

// redactedError is an error of Open with the DSN's credentials taken out
// of its message. It unwraps to the driver's error (store.ErrUnavailable
// and the like stay visible to errors.Is).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	lower := strings.ToLower(dsn)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}
