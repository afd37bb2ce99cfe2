package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"latchkey/internal/store"
)

// UpdateThrottle implements store.Store. Each named counter is read by an
// UPSERT that locks its row, creating it if absent (lockThrottle): a
// SELECT ... FOR UPDATE locks nothing where no row is, and two
// transactions that both found a counter absent would both write it, one
// update lost. Names are locked in sorted order, so that calls naming several
// counters do not deadlock one another. Rows left zero are deleted.
func (s *Store) UpdateThrottle(ctx context.Context, names []string,
	fn func(map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error)) error {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	err := s.Transact(ctx, func(tx Tx) error {
		cur, err := lockThrottle(ctx, tx, sorted)
		if err != nil {
			return err
		}
		next, err := fn(maps.Clone(cur))
		if err != nil {
			return &callbackError{err}
		}
		for name, c := range next {
			if _, ok := cur[name]; !ok {
				return &callbackError{fmt.Errorf("sqlstore: update throttle: counter %q was not locked", name)}
			}
			cur[name] = c
		}
		return writeThrottle(ctx, tx, sorted, cur)
	})
	return finish("update throttle", err)
}

// lockThrottle locks and reads the counters of names (sorted), each by
// an UPSERT that inserts a zero row for an absent counter or else locks
// the row (waiting for a transaction that holds it, and reading its latest
// version), so that even an absent counter is locked until the commit.
func lockThrottle(ctx context.Context, tx Tx, names []string) (map[string]store.ThrottleCounter, error) {
	cur := make(map[string]store.ThrottleCounter, len(names))
	for _, name := range names {
		var c store.ThrottleCounter
		var until, last int64
		err := tx.QueryRowContext(ctx, `INSERT INTO throttle_counters (name, failures, blocked_until, last_failed_at)
			VALUES ($1, 0, 0, 0) ON CONFLICT (name) DO UPDATE SET failures = throttle_counters.failures
			RETURNING failures, blocked_until, last_failed_at`, name).Scan(&c.Failures, &until, &last)
		if err != nil {
			return nil, err
		}
		c.Until, c.Last = fromMillis(until), fromMillis(last)
		cur[name] = c
	}
	return cur, nil
}

// writeThrottle stores the counters of names (sorted) and deletes the zero
// ones.
func writeThrottle(ctx context.Context, tx Tx, names []string, cur map[string]store.ThrottleCounter) error {
	for _, name := range names {
		c := cur[name]
		var err error
		if c.Failures == 0 && millis(c.Until) == 0 && millis(c.Last) == 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM throttle_counters WHERE name = $1`, name)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE throttle_counters SET failures = $2, blocked_until = $3,
				last_failed_at = $4 WHERE name = $1`, name, c.Failures, millis(c.Until), millis(c.Last))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
