package sqlstore

import (
	"context"

	"latchkey/internal/store"
)

// GetConsent implements store.Store.
func (s *Store) GetConsent(ctx context.Context, userID int64, clientID string) (store.Consent, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	c := store.Consent{UserID: userID, ClientID: clientID}
	var scopes, resources string
	var granted int64
	err := s.readRow(ctx, `SELECT scopes, granted_at, resources FROM consents
		WHERE user_id = $1 AND client_id = $2`, userID, clientID).Scan(&scopes, &granted, &resources)
	if err != nil {
		return store.Consent{}, wrap("get consent", err)
	}
	c.Scopes, c.GrantedAt, c.Resources = splitList(scopes), fromMillis(granted), splitList(resources)
	return c, nil
}

// SaveConsent implements store.Store. ErrNotFound if the user or the
// client does not exist.
func (s *Store) SaveConsent(ctx context.Context, c store.Consent) error {
	_, err := s.exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at, resources)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at,
			resources = excluded.resources`,
		c.UserID, c.ClientID, joinList(c.Scopes), millis(c.GrantedAt), joinList(c.Resources))
	return wrap("save consent", err)
}
