package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"latchkey/internal/fault"
	"latchkey/internal/store"
	"latchkey/internal/store/sqlstore"
)

// TestCallerGoneIsNotUnavailability: a call whose caller's context was
// cancelled (the client hung up) fails as context.Canceled, which package
// fault answers 499 and nobody logs as a server error, never as
// store.ErrUnavailable, on reads, writes and transactions, on both
// backends.
func TestCallerGoneIsNotUnavailability(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, errRead := s.GetBearer(ctx, "some-hash")
			_, errWrite := s.CreateProject(ctx, store.Project{Key: "GONE", Name: "gone"})
			_, _, errList := s.ListProjects(ctx, store.Page{})
			errTx := s.UpdateThrottle(ctx, []string{"k"}, func(m map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error) {
				return m, nil
			})
			// The client hangs up while the transaction runs: database/sql
			// rolls it back under it, and the commit finds it done.
			mid, cancelMid := context.WithCancel(context.Background())
			errMid := s.Transact(mid, func(tx sqlstore.Tx) error {
				if _, err := tx.ExecContext(mid, `DELETE FROM throttle_counters WHERE name = 'none'`); err != nil {
					return err
				}
				cancelMid()
				time.Sleep(20 * time.Millisecond) // let database/sql see the cancellation
				return nil
			})
			for what, err := range map[string]error{"read": errRead, "write": errWrite, "list": errList, "transaction": errTx,
				"transaction cancelled midway": errMid} {
				if !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) || fault.ServerSide(err) {
					t.Errorf("%s with a cancelled context: %v (want context.Canceled, not unavailable)", what, err)
				}
			}
		})
	}
}
