package sqlstore

import (
	"context"
	"database/sql"
)

// Tx is a write transaction of Transact. Its statements pass the same text
// guard as every other write of the store (checkText), so that a value the
// database cannot keep is refused alike on both backends whether it is
// written on its own or inside a transaction: SQLite would store a NUL
// byte or invalid UTF-8, PostgreSQL refuses them.
//
// In a batch of SQLite transactions (see Store.Transact) every statement
// runs under the batch's context, whatever context the caller passes: a
// statement interrupted because one caller hung up could roll back the
// transaction that the other callers of the batch share.
type Tx struct {
	tx *sql.Tx
	s  *Store
	// ctx, when set, replaces the context of every statement.
	ctx context.Context
}

// stmtCtx returns the context a statement runs under: ctx, the caller's,
// unless the transaction has one of its own.
func (t Tx) stmtCtx(ctx context.Context) context.Context {
	if t.ctx != nil {
		return t.ctx
	}
	return ctx
}

// prepared returns the statement of query prepared on the write
// connection, bound to the transaction, or nil when it is not prepared
// yet (it is then prepared after the transaction: see Store.writeStmt).
func (t Tx) prepared(ctx context.Context, query string) *sql.Stmt {
	if st := t.s.writeStmt(query); st != nil {
		return t.tx.StmtContext(ctx, st)
	}
	return nil
}

// ExecContext runs a statement in the transaction.
func (t Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.stmtCtx(ctx)
	if err := checkText(args); err != nil {
		return nil, err
	}
	if st := t.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

// newID runs insert, an INSERT of one row into a table whose key is an
// integer column named id, in the transaction and returns the new id.
// Unlike Store.insertID (a statement on its own, whose text carries its
// RETURNING id), insert must not have a RETURNING clause: on PostgreSQL
// it gets RETURNING id; on SQLite the id is the connection's last insert
// rowid, which costs about a quarter less than a RETURNING clause there
// (SQLite runs the whole statement and keeps its output in memory before
// the first row is read).
func (t Tx) newID(ctx context.Context, insert string, args ...any) (int64, error) {
	var id int64
	if t.s.dialect != SQLite {
		err := t.QueryRowContext(ctx, insert+` RETURNING id`, args...).Scan(&id)
		return id, err
	}
	res, err := t.ExecContext(ctx, insert, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// QueryRowContext runs a query (a SELECT or an INSERT ... RETURNING) that
// returns at most one row in the transaction.
func (t Tx) QueryRowContext(ctx context.Context, query string, args ...any) rowScanner {
	ctx = t.stmtCtx(ctx)
	if err := checkText(args); err != nil {
		return errRow{err}
	}
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// QueryContext runs a query that returns any number of rows (a SELECT or
// an UPDATE ... RETURNING) in the transaction.
func (t Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.stmtCtx(ctx)
	if err := checkText(args); err != nil {
		return nil, err
	}
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}
