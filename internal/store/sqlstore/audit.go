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

// AppendAudit implements store.Store. At is stored as given.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	e.At = truncate(e.At)
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

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, p store.Page) ([]store.AuditEvent, store.Cursor, error) {
	before := int64(maxID)
	if err := readCursor(p.After, &before); err != nil {
		return nil, "", wrap("list audit events", err)
	}
	return listPage(ctx, s, "list audit events", p, `SELECT `+auditColumns+` FROM audit_events
		WHERE id < $1 ORDER BY id DESC LIMIT CAST($2 AS INTEGER)`,
		func(r rowScanner) (keyed[store.AuditEvent], error) {
			e, err := scanAudit(r)
			return keyed[store.AuditEvent]{e, cursorOf(e.ID)}, err
		}, before)
}

// DeleteAuditBefore implements store.Store. The oldest events go first, by
// ID, in one bounded statement; on PostgreSQL rows another node is
// deleting are skipped.
func (s *Store) DeleteAuditBefore(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch < 1 {
		return 0, nil
	}
	res, err := s.exec(ctx, `DELETE FROM audit_events WHERE id IN (
		SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT CAST($2 AS INTEGER)`+s.dialect.skipLocked()+`)`,
		millis(before), batch)
	n, err := affected(res, err)
	return n, wrap("delete old audit events", err)
}
