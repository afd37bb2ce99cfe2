package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"latchkey/internal/store"
)

// Deliveries are a queue in the database. A pending delivery is due when
// its next_attempt_at has come and its lease_until has passed; the claim
// takes due rows (on PostgreSQL with FOR UPDATE SKIP LOCKED, so that
// workers of several nodes take disjoint rows without waiting for one
// another), counts the attempt and leases them, all in one statement. A
// worker that dies leaves its lease to run out, and the delivery is due
// again.

const deliveryColumns = `id, hook_id, repo_id, event, guid, payload, headers, state, attempts,
	next_attempt_at, lease_until, response_status, response_body, error, attempted_at, duration_ms,
	created_at`

func scanDelivery(r rowScanner) (store.Delivery, error) {
	var d store.Delivery
	var headers, state string
	var next, lease, attempted, duration, created int64
	err := r.Scan(&d.ID, &d.HookID, &d.RepoID, &d.Event, &d.GUID, &d.Payload, &headers, &state, &d.Attempts,
		&next, &lease, &d.ResponseStatus, &d.ResponseBody, &d.Error, &attempted, &duration, &created)
	if err != nil {
		return store.Delivery{}, err
	}
	if d.Headers, err = fromJSONMap(headers); err != nil {
		return store.Delivery{}, err
	}
	d.Payload = noBytes(d.Payload)
	d.State = store.DeliveryState(state)
	d.NextAttemptAt, d.LeaseUntil, d.AttemptedAt = fromMillis(next), fromMillis(lease), fromMillis(attempted)
	d.Duration = time.Duration(duration) * time.Millisecond
	d.CreatedAt = fromMillis(created)
	return d, nil
}

// newDelivery returns d as EnqueueDeliveries stores it: pending, not yet
// attempted nor leased, its times truncated.
func newDelivery(d store.Delivery) store.Delivery {
	return store.Delivery{
		HookID:        d.HookID,
		RepoID:        d.RepoID,
		Event:         d.Event,
		GUID:          d.GUID,
		Payload:       noBytes(d.Payload),
		Headers:       noMap(d.Headers),
		State:         store.DeliveryPending,
		NextAttemptAt: truncate(d.NextAttemptAt),
		CreatedAt:     truncate(d.CreatedAt),
	}
}

// EnqueueDeliveries implements store.Store. Each delivery's RepoID is its
// webhook's (a zero RepoID is filled in); ErrNotFound, and nothing
// stored, if a webhook does not exist or belongs to another repository
// than a non-zero RepoID names.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []store.Delivery) ([]store.Delivery, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	out := make([]store.Delivery, len(ds))
	err := s.Transact(ctx, func(tx Tx) error {
		for i, d := range ds {
			d = newDelivery(d)
			var repoID int64
			err := tx.QueryRowContext(ctx, `SELECT repo_id FROM webhooks WHERE id = $1`, d.HookID).Scan(&repoID)
			if err != nil {
				return err
			}
			if d.RepoID != 0 && d.RepoID != repoID {
				return fmt.Errorf("webhook %d is not of repository %d: %w", d.HookID, d.RepoID, sql.ErrNoRows)
			}
			d.RepoID = repoID
			err = tx.QueryRowContext(ctx, `INSERT INTO webhook_deliveries
				(hook_id, repo_id, event, guid, payload, headers, state, attempts, next_attempt_at, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9) RETURNING id`,
				d.HookID, d.RepoID, d.Event, d.GUID, someBytes(d.Payload), jsonMap(d.Headers), string(d.State),
				millis(d.NextAttemptAt), millis(d.CreatedAt)).Scan(&d.ID)
			if err != nil {
				return err
			}
			out[i] = d
		}
		return nil
	})
	if err != nil {
		return nil, wrap("enqueue deliveries", err)
	}
	return out, nil
}

// errNoLease refuses a claim that would lease nothing.
var errNoLease = errors.New("lease must be positive")

// ClaimDeliveries implements store.Store: one UPDATE whose subquery picks
// the due rows (skipping, on PostgreSQL, rows another claim holds) and
// whose RETURNING reads them as leased. PostgreSQL checks a picked row
// again once it holds its lock, so a row another claim leased and
// committed meanwhile is no longer due and is left out.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	switch {
	case limit < 1:
		return nil, nil
	case now.IsZero():
		return nil, wrap("claim deliveries", errZeroNow)
	case lease <= 0:
		return nil, wrap("claim deliveries", errNoLease)
	}
	until := millis(now.Add(lease))
	var ds []store.Delivery
	err := s.Transact(ctx, func(tx Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, lease_until = $2
			WHERE id IN (SELECT id FROM webhook_deliveries
				WHERE state = '`+string(store.DeliveryPending)+`' AND next_attempt_at <= $1 AND lease_until <= $1
				ORDER BY next_attempt_at, id LIMIT CAST($3 AS INTEGER)`+s.dialect.skipLocked()+`)
			RETURNING `+deliveryColumns, millis(now), until, limit)
		if err != nil {
			return err
		}
		ds, err = collect(rows, scanDelivery)
		return err
	})
	if err != nil {
		return nil, wrap("claim deliveries", err)
	}
	slices.SortFunc(ds, func(a, b store.Delivery) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return ds, nil
}

// FinishDelivery implements store.Store. ResponseBody and Error are what
// a remote server answered and the worker made of it: NUL bytes and
// invalid UTF-8 in them are stored as U+FFFD rather than refused.
func (s *Store) FinishDelivery(ctx context.Context, id int64, r store.DeliveryResult) error {
	switch r.State {
	case store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
	default:
		return fmt.Errorf("sqlstore: finish delivery: unknown state %q", r.State)
	}
	res, err := s.exec(ctx, `UPDATE webhook_deliveries SET state = $2, next_attempt_at = $3, lease_until = 0,
		response_status = $4, response_body = $5, error = $6, attempted_at = $7, duration_ms = $8
		WHERE id = $1`,
		id, string(r.State), millis(r.NextAttemptAt), r.ResponseStatus, printable(r.ResponseBody),
		printable(r.Error), millis(r.AttemptedAt), r.Duration.Milliseconds())
	return wrap("finish delivery", oneRow(res, err))
}

// ListDeliveries implements store.Store.
func (s *Store) ListDeliveries(ctx context.Context, hookID int64, p store.Page) ([]store.Delivery, store.Cursor, error) {
	before := int64(maxID)
	if err := readCursor(p.After, &before); err != nil {
		return nil, "", wrap("list deliveries", err)
	}
	return listPage(ctx, s, "list deliveries", p, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE hook_id = $1 AND id < $2 ORDER BY id DESC LIMIT CAST($3 AS INTEGER)`,
		func(r rowScanner) (keyed[store.Delivery], error) {
			d, err := scanDelivery(r)
			return keyed[store.Delivery]{d, cursorOf(d.ID)}, err
		}, hookID, before)
}

// noMap returns nil for an empty m: how an empty JSON object reads back.
func noMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
