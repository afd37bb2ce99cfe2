package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"latchkey/internal/store"
)

// fakePgError carries a SQLSTATE the way pgconn.PgError does.
type fakePgError string

func (e fakePgError) Error() string    { return "pg error " + string(e) }
func (e fakePgError) SQLState() string { return string(e) }

// fakeConnError is a driver's connection-level failure, as pgx marks them.
type fakeConnError struct{}

func (fakeConnError) Error() string     { return "conn closed" }
func (fakeConnError) SafeToRetry() bool { return true }

func TestWrapUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("failed to connect: %w", refused), true},
		{"connection lost mid-query", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true},
		{"bad connection", driver.ErrBadConn, true},
		{"connection closed under a commit", fmt.Errorf("commit: %w", fakeConnError{}), true},
		{"connection done", sql.ErrConnDone, true},
		{"deadline", fmt.Errorf("timeout: %w", context.DeadlineExceeded), true},
		{"server shutting down", fakePgError("57P01"), true},
		{"connection failure state", fakePgError("08006"), true},
		{"too many connections", fakePgError("53300"), true},
		{"cancelled by the caller", context.Canceled, false},
		{"unique violation", fakePgError("23505"), false},
		{"syntax error", fakePgError("42601"), false},
		{"no rows", sql.ErrNoRows, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := wrap("op", tc.err)
			if got := errors.Is(err, store.ErrUnavailable); got != tc.want {
				t.Errorf("errors.Is(wrap(%v), ErrUnavailable) = %v, want %v", tc.err, got, tc.want)
			}
			if !errors.Is(err, tc.err) && !errors.Is(tc.err, sql.ErrNoRows) {
				t.Errorf("wrap(%v) = %v lost the driver error", tc.err, err)
			}
		})
	}
}
