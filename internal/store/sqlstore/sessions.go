package sqlstore

import (
	"context"

	"latchkey/internal/store"
)

// CreateSession implements store.Store. ErrAlreadyExists on a taken ID, ErrNotFound if the user does not exist.
func (s *Store) CreateSession(ctx context.Context, ss store.Session) error {
	_, err := s.exec(ctx, `INSERT INTO sessions (id, user_id, auth_time, created_at, expires_at, sid, amr, acr, source_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		ss.ID, ss.UserID, millis(ss.AuthTime), millis(ss.CreatedAt), millis(ss.ExpiresAt), ss.SID, joinList(ss.AMR), ss.ACR,
		ss.SourceID)
	return wrap("create session", err)
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ss := store.Session{ID: id}
	var auth, created, expires int64
	var amr string
	err := s.readRow(ctx, `SELECT user_id, auth_time, created_at, expires_at, sid, amr, acr, source_id
		FROM sessions WHERE id = $1`, id).Scan(&ss.UserID, &auth, &created, &expires, &ss.SID, &amr, &ss.ACR, &ss.SourceID)
	if err != nil {
		return store.Session{}, wrap("get session", err)
	}
	ss.AuthTime, ss.CreatedAt, ss.ExpiresAt = fromMillis(auth), fromMillis(created), fromMillis(expires)
	ss.AMR = splitList(amr)
	return ss, nil
}

// DeleteSession implements store.Store. Deleting a session that does not
// exist (logging out twice) is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return wrap("delete session", err)
}
