package sqlstore

import (
	"context"
	"time"

	"latchkey/internal/store"
)

// CreateSigningKey implements store.Store. ErrAlreadyExists on a taken ID.
func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return wrap("create signing key", s.Transact(ctx, func(tx Tx) error {
		return insertSigningKey(ctx, tx, k)
	}))
}

func insertSigningKey(ctx context.Context, tx Tx, k store.SigningKey) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys
		(id, algorithm, private_key, public_key, created_at, activate_at, retire_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.Algorithm, k.PrivateKey, string(k.PublicKey), millis(k.CreatedAt),
		millis(k.ActivateAt), millis(k.RetireAt))
	return err
}

// ListSigningKeys implements store.Store: every key, oldest activation first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT id, algorithm, private_key, public_key,
		created_at, activate_at, retire_at FROM signing_keys ORDER BY activate_at, id`)
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	defer rows.Close()
	var keys []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var pub string
		var created, activate, retire int64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &pub, &created, &activate, &retire); err != nil {
			return nil, wrap("list signing keys", err)
		}
		k.PublicKey = []byte(pub)
		k.CreatedAt, k.ActivateAt, k.RetireAt = fromMillis(created), fromMillis(activate), fromMillis(retire)
		keys = append(keys, k)
	}
	return keys, wrap("list signing keys", rows.Err())
}

// RotateSigningKey implements store.Store: in one transaction every key
// without a retirement time gets retireAt, and next is inserted.
func (s *Store) RotateSigningKey(ctx context.Context, next store.SigningKey, retireAt time.Time) error {
	return wrap("rotate signing key", s.Transact(ctx, func(tx Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retire_at = $1 WHERE retire_at = 0`, millis(retireAt)); err != nil {
			return err
		}
		return insertSigningKey(ctx, tx, next)
	}))
}

// DeleteRetiredSigningKeys implements store.Store: keys retired before t
// are no longer published and can go.
func (s *Store) DeleteRetiredSigningKeys(ctx context.Context, before time.Time) error {
	_, err := s.exec(ctx, `DELETE FROM signing_keys WHERE retire_at <> 0 AND retire_at < $1`, millis(before))
	return wrap("delete retired signing keys", err)
}
