package sqlstore

import (
	"context"
	"time"

	"latchkey/internal/store"
)

// Resource servers, initial access tokens and the clean-up of unused
// self-registered clients (issue 14).

const resourceServerColumns = `uri, name, scopes, introspection_client_id, created_at`

func scanResourceServer(r rowScanner) (store.ResourceServer, error) {
	var rs store.ResourceServer
	var scopes string
	var created int64
	if err := r.Scan(&rs.URI, &rs.Name, &scopes, &rs.IntrospectionClientID, &created); err != nil {
		return store.ResourceServer{}, err
	}
	rs.Scopes, rs.CreatedAt = splitList(scopes), fromMillis(created)
	return rs, nil
}

// CreateResourceServer implements store.Store.
func (s *Store) CreateResourceServer(ctx context.Context, rs store.ResourceServer) (store.ResourceServer, error) {
	rs.CreatedAt = truncate(rs.CreatedAt)
	_, err := s.exec(ctx, `INSERT INTO resource_servers (`+resourceServerColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		rs.URI, rs.Name, joinList(rs.Scopes), rs.IntrospectionClientID, millis(rs.CreatedAt))
	if err != nil {
		return store.ResourceServer{}, wrap("create resource server", err)
	}
	return rs, nil
}

// GetResourceServer implements store.Store.
func (s *Store) GetResourceServer(ctx context.Context, uri string) (store.ResourceServer, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rs, err := scanResourceServer(s.readRow(ctx, `SELECT `+resourceServerColumns+` FROM resource_servers WHERE uri = $1`, uri))
	return rs, wrap("get resource server", err)
}

// ListResourceServers implements store.Store.
func (s *Store) ListResourceServers(ctx context.Context) ([]store.ResourceServer, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT `+resourceServerColumns+` FROM resource_servers ORDER BY uri`)
	if err != nil {
		return nil, wrap("list resource servers", err)
	}
	defer rows.Close()
	var out []store.ResourceServer
	for rows.Next() {
		rs, err := scanResourceServer(rows)
		if err != nil {
			return nil, wrap("list resource servers", err)
		}
		out = append(out, rs)
	}
	return out, wrap("list resource servers", rows.Err())
}

// DeleteResourceServer implements store.Store.
func (s *Store) DeleteResourceServer(ctx context.Context, uri string) error {
	res, err := s.exec(ctx, `DELETE FROM resource_servers WHERE uri = $1`, uri)
	return wrap("delete resource server", oneRow(res, err))
}

// CreateInitialAccessToken implements store.Store.
func (s *Store) CreateInitialAccessToken(ctx context.Context, t store.InitialAccessToken) error {
	_, err := s.exec(ctx, `INSERT INTO initial_access_tokens (hash, label, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		t.Hash, t.Label, millis(t.CreatedAt), millis(t.ExpiresAt))
	return wrap("create initial access token", err)
}

func scanInitialAccessToken(r rowScanner) (store.InitialAccessToken, error) {
	var t store.InitialAccessToken
	var created, expires int64
	if err := r.Scan(&t.Hash, &t.Label, &created, &expires); err != nil {
		return store.InitialAccessToken{}, err
	}
	t.CreatedAt, t.ExpiresAt = fromMillis(created), fromMillis(expires)
	return t, nil
}

// GetInitialAccessToken implements store.Store.
func (s *Store) GetInitialAccessToken(ctx context.Context, hash string) (store.InitialAccessToken, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	t, err := scanInitialAccessToken(s.readRow(ctx,
		`SELECT hash, label, created_at, expires_at FROM initial_access_tokens WHERE hash = $1`, hash))
	return t, wrap("get initial access token", err)
}

// ListInitialAccessTokens implements store.Store.
func (s *Store) ListInitialAccessTokens(ctx context.Context) ([]store.InitialAccessToken, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT hash, label, created_at, expires_at FROM initial_access_tokens
		ORDER BY created_at DESC, hash`)
	if err != nil {
		return nil, wrap("list initial access tokens", err)
	}
	defer rows.Close()
	var out []store.InitialAccessToken
	for rows.Next() {
		t, err := scanInitialAccessToken(rows)
		if err != nil {
			return nil, wrap("list initial access tokens", err)
		}
		out = append(out, t)
	}
	return out, wrap("list initial access tokens", rows.Err())
}

// DeleteInitialAccessToken implements store.Store.
func (s *Store) DeleteInitialAccessToken(ctx context.Context, hash string) error {
	res, err := s.exec(ctx, `DELETE FROM initial_access_tokens WHERE hash = $1`, hash)
	return wrap("delete initial access token", oneRow(res, err))
}

// DeleteUnusedClients implements store.Store in one bounded statement;
// the schema's foreign keys cascade to the clients' codes, consents and
// families. On PostgreSQL rows another node is deleting are skipped.
func (s *Store) DeleteUnusedClients(ctx context.Context, origin store.ClientOrigin, cutoff time.Time, batch int) (int, error) {
	if batch < 1 {
		return 0, nil
	}
	res, err := s.exec(ctx, `DELETE FROM clients WHERE pk IN (
		SELECT c.pk FROM clients c WHERE c.origin = $1 AND c.created_at < $2
			AND NOT EXISTS (SELECT 1 FROM token_families f WHERE f.client_id = c.id
				AND (f.created_at >= $2 OR f.last_used_at >= $2))
		ORDER BY c.pk LIMIT CAST($3 AS INTEGER)`+s.dialect.skipLocked()+`)`,
		string(origin), millis(cutoff), batch)
	n, err := affected(res, err)
	return n, wrap("delete unused clients", err)
}
