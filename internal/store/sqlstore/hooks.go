package sqlstore

import (
	"context"
	"errors"
	"time"

	"latchkey/internal/store"
)

// errNotYet marks the webhook and commit status methods whose SQL has not
// landed yet.
var errNotYet = errors.New("sqlstore: not implemented yet")

// CreateWebhook implements store.Store.
func (s *Store) CreateWebhook(ctx context.Context, h store.Webhook) (store.Webhook, error) {
	return store.Webhook{}, errNotYet
}

// GetWebhook implements store.Store.
func (s *Store) GetWebhook(ctx context.Context, repoID, id int64) (store.Webhook, error) {
	return store.Webhook{}, errNotYet
}

// ListWebhooks implements store.Store.
func (s *Store) ListWebhooks(ctx context.Context, repoID int64, p store.Page) ([]store.Webhook, store.Cursor, error) {
	return nil, "", errNotYet
}

// ActiveWebhooks implements store.Store.
func (s *Store) ActiveWebhooks(ctx context.Context, repoID int64) ([]store.Webhook, error) {
	return nil, errNotYet
}

// UpdateWebhook implements store.Store.
func (s *Store) UpdateWebhook(ctx context.Context, repoID, id int64, fn func(store.Webhook) (store.Webhook, error)) (store.Webhook, error) {
	return store.Webhook{}, errNotYet
}

// DeleteWebhook implements store.Store.
func (s *Store) DeleteWebhook(ctx context.Context, repoID, id int64) error { return errNotYet }

// EnqueueDeliveries implements store.Store.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []store.Delivery) ([]store.Delivery, error) {
	return nil, errNotYet
}

// ClaimDeliveries implements store.Store.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	return nil, errNotYet
}

// FinishDelivery implements store.Store.
func (s *Store) FinishDelivery(ctx context.Context, id int64, r store.DeliveryResult) error {
	return errNotYet
}

// ListDeliveries implements store.Store.
func (s *Store) ListDeliveries(ctx context.Context, hookID int64, p store.Page) ([]store.Delivery, store.Cursor, error) {
	return nil, "", errNotYet
}

// AddCommitStatus implements store.Store.
func (s *Store) AddCommitStatus(ctx context.Context, cs store.CommitStatus) (store.CommitStatus, error) {
	return store.CommitStatus{}, errNotYet
}

// ListCommitStatuses implements store.Store.
func (s *Store) ListCommitStatuses(ctx context.Context, repoID int64, sha string, p store.Page) ([]store.CommitStatus, store.Cursor, error) {
	return nil, "", errNotYet
}
