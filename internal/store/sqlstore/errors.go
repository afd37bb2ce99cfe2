package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"unicode/utf8"

	"latchkey/internal/store"
)

// The drivers are recognised by their error methods, so that this package
// imports neither: pgconn.PgError has SQLState() string, modernc's
// sqlite.Error has Code() int (extended result codes are on).

type sqlStater interface{ SQLState() string }

type sqliteCoder interface{ Code() int }

// pgx marks its own connection-level failures (a closed connection, a
// failed write or read, a connect timeout) with SafeToRetry() bool; errors
// the server sent (pgconn.PgError) have no such method.
type pgxConnError interface{ SafeToRetry() bool }

// PostgreSQL SQLSTATE codes.
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// PostgreSQL SQLSTATE codes that mean the server cannot serve now: class
// 08 (connection exception) is tested by prefix.
const (
	pgConnectionException = "08"
	pgTooManyConnections  = "53300"
	pgAdminShutdown       = "57P01"
	pgCrashShutdown       = "57P02"
	pgCannotConnectNow    = "57P03"
	// The database, its schema or a table is gone (dropped or renamed
	// under a running node): nothing this node can do until an operator
	// restores it, so it is unavailable rather than a bug.
	pgInvalidCatalogName = "3D000"
	pgInvalidSchemaName  = "3F000"
	pgUndefinedTable     = "42P01"
)

// SQLite result codes (extended ones where the primary code is ambiguous).
const (
	sqliteError                = 1
	sqliteBusy                 = 5
	sqliteLocked               = 6
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
	sqliteConstraintForeignKey = 787
	sqliteIOErr                = 10
	sqliteCantOpen             = 14
)

func pgState(err error) string {
	var e sqlStater
	if errors.As(err, &e) {
		return e.SQLState()
	}
	return ""
}

func sqliteCode(err error) int {
	var e sqliteCoder
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// isUniqueViolation reports whether err is a unique or primary key conflict.
func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return pgState(err) == pgUniqueViolation ||
		c == sqliteConstraintUnique || c == sqliteConstraintPrimaryKey
}

// isForeignKeyViolation reports whether err is a missing referenced row.
func isForeignKeyViolation(err error) bool {
	return pgState(err) == pgForeignKeyViolation ||
		sqliteCode(err) == sqliteConstraintForeignKey
}

// isRetryable reports whether running the whole transaction again may succeed.
func isRetryable(err error) bool {
	switch pgState(err) {
	case pgSerializationFailure, pgDeadlockDetected:
		return true
	}
	switch sqliteCode(err) & 0xff {
	case sqliteBusy, sqliteLocked:
		return true
	}
	return false
}

// isUnavailable reports whether err means that the database could not be
// reached or did not answer in time, rather than that it refused the
// statement: a refused, reset or closed connection, a connection that
// database/sql already found bad, a timeout, a server that is shutting
// down, starting up or out of connections, or a database, schema or table
// that does not exist (dropped or renamed under the running node). A cancelled context (the client
// went away) is not unavailability.
func isUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var netErr net.Error
	var connErr pgxConnError
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &netErr),
		errors.As(err, &connErr):
		return true
	}
	switch state := pgState(err); {
	case strings.HasPrefix(state, pgConnectionException),
		state == pgTooManyConnections, state == pgAdminShutdown,
		state == pgCrashShutdown, state == pgCannotConnectNow,
		state == pgInvalidCatalogName, state == pgInvalidSchemaName, state == pgUndefinedTable:
		return true
	}
	switch sqliteCode(err) & 0xff {
	case sqliteIOErr, sqliteCantOpen:
		return true
	case sqliteError:
		// SQLite has no code of its own for a missing table.
		return strings.Contains(err.Error(), "no such table")
	}
	return false
}

// wrap adds the operation to err and turns driver errors into the store's
// sentinel errors: no row and a reference to a missing row are
// store.ErrNotFound, a taken unique key is store.ErrAlreadyExists, and an
// unreachable database is store.ErrUnavailable.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrUnavailable):
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	case isUnavailable(err):
		return fmt.Errorf("sqlstore: %s: %w: %w", op, store.ErrUnavailable, err)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrNotFound)
	case isUniqueViolation(err):
		return fmt.Errorf("sqlstore: %s: %w: %w", op, store.ErrAlreadyExists, err)
	case isForeignKeyViolation(err):
		return fmt.Errorf("sqlstore: %s: %w: %w", op, store.ErrNotFound, err)
	case errors.Is(err, errBadText), isBadTextState(err):
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrInvalidText)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// PostgreSQL refuses text with a NUL byte (22021, character_not_in_repertoire)
// or an invalid byte sequence (22021 too) or one it cannot convert (22P05).
func isBadTextState(err error) bool {
	state := pgState(err)
	return state == "22021" || state == "22P05"
}

// errBadText is what the text guard returns for such text.
var errBadText = errors.New("text with a NUL byte or invalid UTF-8")

// checkText is the one text guard of every statement that writes (exec,
// insertID, and each statement of a Tx): errBadText if any string argument
// holds a NUL byte or invalid UTF-8. Both backends then answer alike:
// SQLite would store such text, PostgreSQL would fail the statement.
func checkText(args []any) error {
	if badText(args) {
		return errBadText
	}
	return nil
}

// badText reports whether any argument of a string kind (string or a
// named string type) holds a NUL byte or invalid UTF-8.
func badText(args []any) bool {
	for _, a := range args {
		v := reflect.ValueOf(a)
		if v.Kind() != reflect.String {
			continue
		}
		if isBadText(v.String()) {
			return true
		}
	}
	return false
}

// isBadText reports whether s holds a NUL byte or invalid UTF-8.
func isBadText(s string) bool { return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) }

// errZeroNow refuses a zero now where the store writes it as a marker
// whose zero means "not yet" (used_at, revoked_at): a redemption or a
// revocation written as zero would not take.
var errZeroNow = errors.New("zero time for a redemption or revocation")

// A transaction function ends in one of three ways: nil commits, an error
// rolls back, and an error made by committed commits what the function
// wrote and still returns the error (a reused code revokes its family and
// fails; a code whose redemption the callback refused stays burned).
//
// callbackError is the one way to carry the error of a caller's callback
// out of a transaction: the transaction function returns it, Transact
// passes it through untouched, and finish hands the callback's error back
// to the caller as it is. It has no Unwrap method, so the callback's error
// is never taken for a retryable, a constraint or an unavailable-database
// error on the way.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// committedError carries an error out of a transaction that commits.
type committedError struct{ err error }

func (e *committedError) Error() string { return e.err.Error() }

// committed makes err end a transaction function with a commit.
func committed(err error) error { return &committedError{err} }

// finish is wrap for methods that run a callback: the callback's own error
// is returned as it is.
func finish(op string, err error) error {
	var cb *callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	return wrap(op, err)
}
