package sqlstore

import (
	"context"

	"latchkey/internal/store"
)

// Webhooks, their deliveries and commit statuses belong to a repository:
// their rows reference it with ON DELETE CASCADE (a delivery references
// its webhook), so DeleteRepo and DeleteProject take them along.

const webhookColumns = `id, repo_id, kind, name, url, secret, events, config, active, creator_id,
	created_at, updated_at`

func scanWebhook(r rowScanner) (store.Webhook, error) {
	var h store.Webhook
	var kind, events string
	var created, updated int64
	err := r.Scan(&h.ID, &h.RepoID, &kind, &h.Name, &h.URL, &h.Secret, &events, &h.Config, &h.Active,
		&h.CreatorID, &created, &updated)
	if err != nil {
		return store.Webhook{}, err
	}
	h.Kind = store.HookKind(kind)
	if h.Events, err = fromJSONList(events); err != nil {
		return store.Webhook{}, err
	}
	h.Secret = noBytes(h.Secret)
	h.CreatedAt, h.UpdatedAt = fromMillis(created), fromMillis(updated)
	return h, nil
}

// storedWebhook returns h as it reads back.
func storedWebhook(h store.Webhook) store.Webhook {
	h.Secret = noBytes(h.Secret)
	if len(h.Events) == 0 {
		h.Events = nil
	}
	h.CreatedAt, h.UpdatedAt = truncate(h.CreatedAt), truncate(h.UpdatedAt)
	return h
}

// CreateWebhook implements store.Store. ErrNotFound if the repository
// does not exist.
func (s *Store) CreateWebhook(ctx context.Context, h store.Webhook) (store.Webhook, error) {
	h = storedWebhook(h)
	id, err := s.insertID(ctx, `INSERT INTO webhooks
		(repo_id, kind, name, url, secret, events, config, active, creator_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		h.RepoID, string(h.Kind), h.Name, h.URL, someBytes(h.Secret), jsonList(h.Events), h.Config,
		flag(h.Active), h.CreatorID, millis(h.CreatedAt), millis(h.UpdatedAt))
	if err != nil {
		return store.Webhook{}, wrap("create webhook", err)
	}
	h.ID = id
	return h, nil
}

// GetWebhook implements store.Store.
func (s *Store) GetWebhook(ctx context.Context, repoID, id int64) (store.Webhook, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	h, err := scanWebhook(s.readRow(ctx, `SELECT `+webhookColumns+` FROM webhooks
		WHERE id = $1 AND repo_id = $2`, id, repoID))
	return h, wrap("get webhook", err)
}

// ListWebhooks implements store.Store.
func (s *Store) ListWebhooks(ctx context.Context, repoID int64, p store.Page) ([]store.Webhook, store.Cursor, error) {
	var after int64
	if err := readCursor(p.After, &after); err != nil {
		return nil, "", wrap("list webhooks", err)
	}
	return listPage(ctx, s, "list webhooks", p, `SELECT `+webhookColumns+` FROM webhooks
		WHERE repo_id = $1 AND id > $2 ORDER BY id LIMIT CAST($3 AS INTEGER)`,
		func(r rowScanner) (keyed[store.Webhook], error) {
			h, err := scanWebhook(r)
			return keyed[store.Webhook]{h, cursorOf(h.ID)}, err
		}, repoID, after)
}

// ActiveWebhooks implements store.Store.
func (s *Store) ActiveWebhooks(ctx context.Context, repoID int64) ([]store.Webhook, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT `+webhookColumns+` FROM webhooks
		WHERE repo_id = $1 AND active = 1 ORDER BY id`, repoID)
	if err != nil {
		return nil, wrap("list active webhooks", err)
	}
	hs, err := collect(rows, scanWebhook)
	return hs, wrap("list active webhooks", err)
}

// UpdateWebhook implements store.Store.
func (s *Store) UpdateWebhook(ctx context.Context, repoID, id int64,
	fn func(store.Webhook) (store.Webhook, error)) (store.Webhook, error) {
	var out store.Webhook
	err := s.Transact(ctx, func(tx Tx) error {
		old, err := scanWebhook(tx.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks
			WHERE id = $1 AND repo_id = $2`+s.dialect.forUpdate(), id, repoID))
		if err != nil {
			return err
		}
		h, err := fn(old)
		if err != nil {
			return &callbackError{err}
		}
		h.ID, h.RepoID, h.Kind, h.CreatorID, h.CreatedAt = old.ID, old.RepoID, old.Kind, old.CreatorID, old.CreatedAt
		h = storedWebhook(h)
		_, err = tx.ExecContext(ctx, `UPDATE webhooks SET name = $2, url = $3, secret = $4, events = $5,
			config = $6, active = $7, updated_at = $8 WHERE id = $1`,
			h.ID, h.Name, h.URL, someBytes(h.Secret), jsonList(h.Events), h.Config, flag(h.Active),
			millis(h.UpdatedAt))
		out = h
		return err
	})
	if err != nil {
		return store.Webhook{}, finish("update webhook", err)
	}
	return out, nil
}

// DeleteWebhook implements store.Store. Its deliveries go by their
// foreign key. ErrNotFound if the repository has no such webhook.
func (s *Store) DeleteWebhook(ctx context.Context, repoID, id int64) error {
	res, err := s.exec(ctx, `DELETE FROM webhooks WHERE id = $1 AND repo_id = $2`, id, repoID)
	return wrap("delete webhook", oneRow(res, err))
}

// someBytes returns b, or an empty slice for nil: a nil []byte is NULL
// to the drivers, and the byte columns are NOT NULL.
func someBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// noBytes returns nil for an empty b: how an empty byte column reads back.
func noBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
