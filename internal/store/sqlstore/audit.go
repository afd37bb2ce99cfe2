package sqlstore

import (
	"context"
	"time"

	"latchkey/internal/store"
)

const auditColumns = `id, at, event, user_id, username, client_id, remote, detail`

func scanAudit(r rowScanner) (store.AuditEvent, error) {
	var e store.AuditEvent
	var at int64
	err := r.Scan(&e.ID, &at, &e.Event, &e.UserID, &e.Username, &e.ClientID, &e.Remote, &e.Detail)
	e.At = fromMillis(at)
	return e, err
}

// AppendAudit implements store.Store.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	e.At = orNow(e.At)
	id, err := s.insertID(ctx, `INSERT INTO audit_events
		(at, event, user_id, username, client_id, remote, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		millis(e.At), e.Event, e.UserID, e.Username, e.ClientID, e.Remote, e.Detail)
	if err != nil {
		return store.AuditEvent{}, wrap("append audit event", err)
	}
	e.ID = id
	return e, nil
}

// ListAudit implements store.Store. A limit below one lists nothing; a
// negative offset counts as zero.
func (s *Store) ListAudit(ctx context.Context, limit, offset int) ([]store.AuditEvent, error) {
	if limit < 1 {
		return nil, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT `+auditColumns+` FROM audit_events
		ORDER BY id DESC LIMIT $1 OFFSET $2`, limit, max(offset, 0))
	if err != nil {
		return nil, wrap("list audit events", err)
	}
	es, err := collect(rows, scanAudit)
	return es, wrap("list audit events", err)
}

// DeleteAuditBefore implements store.Store. The oldest events go first, by
// ID, in one bounded statement; on PostgreSQL rows another node is
// deleting are skipped.
func (s *Store) DeleteAuditBefore(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch < 1 {
		return 0, nil
	}
	res, err := s.exec(ctx, `DELETE FROM audit_events WHERE id IN (
		SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT $2`+s.dialect.skipLocked()+`)`,
		millis(before), batch)
	n, err := affected(res, err)
	return n, wrap("delete old audit events", err)
}
