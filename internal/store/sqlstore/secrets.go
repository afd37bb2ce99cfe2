package sqlstore

import (
	"context"
)

// EnsureSecret implements store.Store: the first candidate stored under
// name wins, whichever node or process offered it.
func (s *Store) EnsureSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	if candidate == nil {
		candidate = []byte{}
	}
	var value []byte
	err := s.Transact(ctx, func(tx Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO NOTHING`, name, candidate); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&value)
	})
	if err != nil {
		return nil, wrap("ensure secret", err)
	}
	return value, nil
}
