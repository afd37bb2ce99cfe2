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

// maxWriteStmts bounds the statements kept for the write connection: the
// store's queries are a fixed set, but a query built with a variable
// number of placeholders must not grow the cache without bound.
const maxWriteStmts = 256

// writeStmts are the statements of transactions, prepared on SQLite's one
// write connection. A statement cannot be prepared while a transaction
// holds that connection, so a query seen in a transaction for the first
// time runs unprepared and is noted; the transaction's caller prepares the
// noted ones once the connection is free (Store.prepareNoted), and later
// transactions bind them with Tx.StmtContext, which reuses the statement
// the connection already has. SQLite only, like stmtCache.
type writeStmts struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	noted map[string]bool
}

// writeStmt returns the prepared statement of query, or nil after noting
// it for preparation (nil also on PostgreSQL).
func (s *Store) writeStmt(query string) *sql.Stmt {
	if s.dialect != SQLite {
		return nil
	}
	w := &s.wstmts
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, ok := w.stmts[query]; ok {
		return st
	}
	if len(w.stmts)+len(w.noted) < maxWriteStmts {
		if w.noted == nil {
			w.noted = map[string]bool{}
		}
		w.noted[query] = true
	}
	return nil
}

// prepareNoted prepares the queries transactions noted, on the write
// pool; it must run outside any transaction of the caller. A query that
// fails to prepare is forgotten (it runs unprepared next time again).
func (s *Store) prepareNoted(ctx context.Context) {
	w := &s.wstmts
	w.mu.Lock()
	if len(w.noted) == 0 {
		w.mu.Unlock()
		return
	}
	queries := make([]string, 0, len(w.noted))
	for q := range w.noted {
		queries = append(queries, q)
	}
	w.noted = nil
	w.mu.Unlock()
	for _, q := range queries {
		st, err := s.write.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		w.mu.Lock()
		if _, ok := w.stmts[q]; ok || len(w.stmts) >= maxWriteStmts {
			w.mu.Unlock()
			_ = st.Close()
			continue
		}
		if w.stmts == nil {
			w.stmts = map[string]*sql.Stmt{}
		}
		w.stmts[q] = st
		w.mu.Unlock()
	}
}

func (w *writeStmts) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.stmts {
		_ = st.Close()
	}
	w.stmts, w.noted = nil, nil
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

// statements memoizes the texts of a statement built for a few shapes
// (how many tokens, which columns), so that a grant does not build its
// text again; other shapes are built on each call.
type statements[K comparable] struct {
	build func(K) string
	built map[K]string // filled at package init, read-only after
}

func memoize[K comparable](build func(K) string, shapes ...K) statements[K] {
	m := make(map[K]string, len(shapes))
	for _, k := range shapes {
		m[k] = build(k)
	}
	return statements[K]{build: build, built: m}
}

func (st statements[K]) get(k K) string {
	if q, ok := st.built[k]; ok {
		return q
	}
	return st.build(k)
}
