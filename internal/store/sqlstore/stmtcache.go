package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps one prepared statement per query text of the read pool,
// so a hot read (the bearer check's) is parsed and planned once per
// connection rather than on every call. A *sql.Stmt is safe for concurrent
// use and re-prepares itself on each connection of the pool as needed.
// It serves SQLite only: pgx already caches statements per connection, and
// explicit server-side statements would not survive PgBouncer's
// transaction pooling.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		_ = st.Close()
	}
	c.stmts = nil
}

// errRow is a *sql.Row stand-in that only reports an error.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// readRow runs a one-row query on the read pool with a cached statement.
func (s *Store) readRow(ctx context.Context, query string, args ...any) rowScanner {
	if badText(args) {
		return errRow{sql.ErrNoRows} // nothing stored can match such a value
	}
	if s.dialect != SQLite {
		return goneRow{ctx, s.read.QueryRowContext(ctx, query, args...)}
	}
	st, err := s.stmts.get(ctx, s.read, query)
	if err != nil {
		return errRow{gone(ctx, err)}
	}
	return goneRow{ctx, st.QueryRowContext(ctx, args...)}
}

// goneRow marks the error of a row read for a caller that went away (see
// gone).
type goneRow struct {
	ctx context.Context
	row *sql.Row
}

func (r goneRow) Scan(dest ...any) error { return gone(r.ctx, r.row.Scan(dest...)) }

// readRows runs a query on the read pool with a cached statement.
func (s *Store) readRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := checkText(args); err != nil {
		return nil, err
	}
	var rows *sql.Rows
	var err error
	if s.dialect != SQLite {
		rows, err = s.read.QueryContext(ctx, query, args...)
	} else if st, serr := s.stmts.get(ctx, s.read, query); serr != nil {
		err = serr
	} else {
		rows, err = st.QueryContext(ctx, args...)
	}
	return rows, gone(ctx, err)
}
