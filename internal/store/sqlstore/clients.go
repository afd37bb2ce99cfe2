package sqlstore

import (
	"context"
	"slices"

	"latchkey/internal/store"
)

const clientColumns = `id, name, secret_hash, public, redirect_uris, scopes, default_scopes,
	grant_types, pkce_required, owner_user_id, suspended, created_at, origin, application_type,
	client_uri, registration_token_hash, metadata_expires_at, trusted, post_logout_redirect_uris,
	backchannel_logout_uri, backchannel_logout_session_required`

func scanClient(r rowScanner) (store.Client, error) {
	var c store.Client
	var uris, scopes, defaults, grants, origin, logoutURIs string
	var created, metadataExpires int64
	err := r.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, &uris, &scopes, &defaults,
		&grants, &c.PKCERequired, &c.OwnerUserID, &c.Suspended, &created, &origin, &c.ApplicationType,
		&c.ClientURI, &c.RegistrationTokenHash, &metadataExpires, &c.Trusted, &logoutURIs,
		&c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired)
	if err != nil {
		return store.Client{}, err
	}
	if c.PostLogoutRedirectURIs, err = fromJSONList(logoutURIs); err != nil {
		return store.Client{}, err
	}
	if c.RedirectURIs, err = fromJSONList(uris); err != nil {
		return store.Client{}, err
	}
	c.Scopes, c.DefaultScopes, c.GrantTypes = splitList(scopes), splitList(defaults), splitList(grants)
	c.CreatedAt, c.MetadataExpiresAt, c.Origin = fromMillis(created), fromMillis(metadataExpires), store.ClientOrigin(origin)
	return c, nil
}

// CreateClient implements store.Store.
func (s *Store) CreateClient(ctx context.Context, c store.Client) (store.Client, error) {
	c.CreatedAt = truncate(c.CreatedAt)
	_, err := s.exec(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
		c.ID, c.Name, c.SecretHash, flag(c.Public), jsonList(c.RedirectURIs), joinList(c.Scopes),
		joinList(c.DefaultScopes), joinList(c.GrantTypes), flag(c.PKCERequired), c.OwnerUserID,
		flag(c.Suspended), millis(c.CreatedAt), string(c.Origin), c.ApplicationType, c.ClientURI,
		c.RegistrationTokenHash, millis(c.MetadataExpiresAt), flag(c.Trusted), jsonList(c.PostLogoutRedirectURIs),
		c.BackchannelLogoutURI, flag(c.BackchannelLogoutSessionRequired))
	if err != nil {
		return store.Client{}, wrap("create client", err)
	}
	return c, nil
}

// GetClient implements store.Store.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return cached(ctx, s, cacheKey{kind: keyClient, s: id}, cloneClient,
		func(ctx context.Context) (store.Client, []cacheTag, error) {
			c, err := scanClient(s.readRow(ctx,
				`SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
			return c, []cacheTag{clientTag(id)}, wrap("get client", err)
		})
}

func cloneClient(c store.Client) store.Client {
	c.RedirectURIs, c.Scopes, c.DefaultScopes = slices.Clone(c.RedirectURIs), slices.Clone(c.Scopes), slices.Clone(c.DefaultScopes)
	c.GrantTypes, c.PostLogoutRedirectURIs = slices.Clone(c.GrantTypes), slices.Clone(c.PostLogoutRedirectURIs)
	return c
}

// UpdateClient implements store.Store. fn cannot change ID or CreatedAt.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	var out store.Client
	err := s.Transact(ctx, func(tx Tx) error {
		old, err := scanClient(tx.QueryRowContext(ctx,
			`SELECT `+clientColumns+` FROM clients WHERE id = $1`+s.dialect.forUpdate(), id))
		if err != nil {
			return err
		}
		c, err := fn(old)
		if err != nil {
			return &callbackError{err}
		}
		c.ID, c.CreatedAt = old.ID, old.CreatedAt
		_, err = tx.ExecContext(ctx, `UPDATE clients SET name = $2, secret_hash = $3, public = $4,
			redirect_uris = $5, scopes = $6, default_scopes = $7, grant_types = $8,
			pkce_required = $9, owner_user_id = $10, suspended = $11, origin = $12, application_type = $13,
			client_uri = $14, registration_token_hash = $15, metadata_expires_at = $16, trusted = $17,
			post_logout_redirect_uris = $18, backchannel_logout_uri = $19, backchannel_logout_session_required = $20
			WHERE id = $1`,
			c.ID, c.Name, c.SecretHash, flag(c.Public), jsonList(c.RedirectURIs), joinList(c.Scopes),
			joinList(c.DefaultScopes), joinList(c.GrantTypes), flag(c.PKCERequired), c.OwnerUserID,
			flag(c.Suspended), string(c.Origin), c.ApplicationType, c.ClientURI, c.RegistrationTokenHash,
			millis(c.MetadataExpiresAt), flag(c.Trusted), jsonList(c.PostLogoutRedirectURIs), c.BackchannelLogoutURI,
			flag(c.BackchannelLogoutSessionRequired))
		out = c
		return err
	})
	if err != nil {
		return store.Client{}, finish("update client", err)
	}
	return out, nil
}

// ListClients implements store.Store. Creation order is the order of the
// clients' row numbers (pk), which is the key of both client lists.
func (s *Store) ListClients(ctx context.Context, p store.Page) ([]store.Client, store.Cursor, error) {
	var after int64
	if err := readCursor(p.After, &after); err != nil {
		return nil, "", wrap("list clients", err)
	}
	return listPage(ctx, s, "list clients", p, `SELECT `+clientColumns+`, pk FROM clients
		WHERE pk > $1 ORDER BY pk LIMIT CAST($2 AS INTEGER)`, scanClientKey, after)
}

// scanClientKey reads clientColumns followed by pk.
func scanClientKey(r rowScanner) (keyed[store.Client], error) {
	var pk int64
	c, err := scanClient(extraScanner{r, []any{&pk}})
	return keyed[store.Client]{c, cursorOf(pk)}, err
}

// DeleteClient implements store.Store; the schema's foreign keys cascade to
// the client's codes, consents, token families and their tokens.
// ErrNotFound if the client does not exist.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	return wrap("delete client", oneRow(res, err))
}
