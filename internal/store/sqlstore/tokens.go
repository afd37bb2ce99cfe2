package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"latchkey/internal/store"
)

const familyColumns = `f.id, f.client_id, f.user_id, f.scopes, f.generation, f.auth_time, f.nonce,
	f.created_at, f.revoked_at, f.last_used_at, f.lineage, f.resources, f.sid, f.amr, f.acr, f.rotated_at,
	f.previous_refresh`

// familyRow receives a token_families row.
type familyRow struct {
	f                                                 store.TokenFamily
	scopes, resources, amr                            string
	authTime, createdAt, revokedAt, lastUsed, rotated int64
}

func (r *familyRow) dest() []any {
	return []any{&r.f.ID, &r.f.ClientID, &r.f.UserID, &r.scopes, &r.f.Generation, &r.authTime,
		&r.f.Nonce, &r.createdAt, &r.revokedAt, &r.lastUsed, &r.f.Lineage, &r.resources,
		&r.f.SignIn.SID, &r.amr, &r.f.SignIn.ACR, &r.rotated, &r.f.PreviousRefresh}
}

func (r *familyRow) value() store.TokenFamily {
	f := r.f
	f.Scopes, f.Resources, f.SignIn.AMR = splitList(r.scopes), splitList(r.resources), splitList(r.amr)
	f.RotatedAt = fromMillis(r.rotated)
	f.AuthTime, f.CreatedAt, f.RevokedAt = fromMillis(r.authTime), fromMillis(r.createdAt), fromMillis(r.revokedAt)
	f.LastUsedAt = fromMillis(r.lastUsed)
	return f
}

const tokenColumns = `t.hash, t.kind, t.family_id, t.generation, t.scopes, t.created_at, t.expires_at, t.resources`

// tokenRow receives a tokens row.
type tokenRow struct {
	t                  store.Token
	scopes, resources  string
	createdAt, expires int64
}

func (r *tokenRow) dest() []any {
	return []any{&r.t.Hash, &r.t.Kind, &r.t.FamilyID, &r.t.Generation, &r.scopes, &r.createdAt, &r.expires, &r.resources}
}

func (r *tokenRow) value() store.Token {
	t := r.t
	t.Scopes, t.Resources = splitList(r.scopes), splitList(r.resources)
	t.CreatedAt, t.ExpiresAt = fromMillis(r.createdAt), fromMillis(r.expires)
	return t
}

// GetToken implements store.Store. It returns the rotated refresh tokens
// a family without a lineage keeps (their Generation is below the
// family's); other tokens of earlier generations are deleted on rotation
// and are ErrNotFound.
func (s *Store) GetToken(ctx context.Context, hash string) (store.Token, store.TokenFamily, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tf, err := cached(ctx, s, cacheKey{kind: keyToken, s: hash}, cloneTokenAndFamily,
		func(ctx context.Context) (tokenAndFamily, []cacheTag, error) {
			t, f, err := s.getToken(ctx, hash)
			return tokenAndFamily{t, f}, tokenTags(t, familyTag(f.ID)), err
		})
	return tf.t, tf.f, err
}

type tokenAndFamily struct {
	t store.Token
	f store.TokenFamily
}

func cloneTokenAndFamily(v tokenAndFamily) tokenAndFamily {
	return tokenAndFamily{cloneToken(v.t), cloneFamily(v.f)}
}

func (s *Store) getToken(ctx context.Context, hash string) (store.Token, store.TokenFamily, error) {
	var tr tokenRow
	var fr familyRow
	err := s.readRow(ctx, `SELECT `+tokenColumns+`, `+familyColumns+`
		FROM tokens t JOIN token_families f ON f.id = t.family_id
		WHERE t.hash = $1`, hash).Scan(append(tr.dest(), fr.dest()...)...)
	if err != nil {
		return store.Token{}, store.TokenFamily{}, wrap("get token", err)
	}
	return tr.value(), fr.value(), nil
}

// GetBearer implements store.Store with one join over token, family,
// client and user.
func (s *Store) GetBearer(ctx context.Context, hash string) (store.Bearer, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return cached(ctx, s, cacheKey{kind: keyBearer, s: hash}, cloneBearer,
		func(ctx context.Context) (store.Bearer, []cacheTag, error) {
			b, err := s.getBearer(ctx, hash)
			return b, tokenTags(b.Token, familyTag(b.Family.ID), userTag(b.User.ID), clientTag(b.Family.ClientID)), err
		})
}

// tokenTags are the cache tags of a read of tok: none (not cached) for a
// refresh token, which is read to be rotated away.
func tokenTags(tok store.Token, tags ...cacheTag) []cacheTag {
	if tok.Kind == store.RefreshToken {
		return nil
	}
	return tags
}

func cloneBearer(b store.Bearer) store.Bearer {
	b.Token, b.Family = cloneToken(b.Token), cloneFamily(b.Family)
	return b
}

func (s *Store) getBearer(ctx context.Context, hash string) (store.Bearer, error) {
	var tr tokenRow
	var fr familyRow
	var b store.Bearer
	var userCreated int64
	dest := append(tr.dest(), fr.dest()...)
	dest = append(dest, &b.ClientSuspended, &b.User.ID, &b.User.Username, &b.User.Email, &b.User.EmailVerified, &b.User.DisplayName,
		&b.User.PasswordHash, &b.User.Disabled, &userCreated)
	err := s.readRow(ctx, `SELECT `+tokenColumns+`, `+familyColumns+`, c.suspended,
		u.id, u.username, u.email, u.email_verified, u.display_name, u.password_hash, u.disabled, u.created_at
		FROM tokens t JOIN token_families f ON f.id = t.family_id
		JOIN clients c ON c.id = f.client_id JOIN users u ON u.id = f.user_id
		WHERE t.hash = $1`, hash).Scan(dest...)
	if err != nil {
		return store.Bearer{}, wrap("get bearer", err)
	}
	b.Token, b.Family, b.User.CreatedAt = tr.value(), fr.value(), fromMillis(userCreated)
	return b, nil
}

// RevokeFamily implements store.Store. ErrNotFound if the family does not exist.
func (s *Store) RevokeFamily(ctx context.Context, familyID int64, now time.Time) error {
	if now.IsZero() {
		return wrap("revoke family", errZeroNow)
	}
	res, err := s.exec(ctx, `UPDATE token_families
		SET revoked_at = CASE WHEN revoked_at = 0 THEN $2 ELSE revoked_at END
		WHERE id = $1`, familyID, millis(now))
	return wrap("revoke family", oneRow(res, err))
}

// revokeFamily revokes a family inside a transaction; revoking twice keeps
// the first time.
func revokeFamily(ctx context.Context, tx Tx, familyID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE token_families SET revoked_at = $2
		WHERE id = $1 AND revoked_at = 0`, familyID, millis(now))
	return err
}

// RotateRefreshToken implements store.Store. The family row is locked (FOR
// UPDATE on PostgreSQL, the write lock on SQLite) before its generation is
// compared, so that of concurrent rotations with one token exactly one
// passes; the others find the generation advanced (or their token gone,
// and its lineage the family's) and revoke the family. Only the new tokens
// of iss are written: the family's stored fields other than Generation
// (and Lineage, when it had none) do not change.
func (s *Store) RotateRefreshToken(ctx context.Context, p store.Presented, now time.Time,
	issue func(store.TokenFamily, store.Token) (store.Issue, error)) (store.Issue, error) {
	if now.IsZero() {
		return store.Issue{}, wrap("rotate refresh token", errZeroNow)
	}
	if s.dialect == Postgres {
		if out, done, err := s.rotateAtOnce(ctx, p, now, issue); done {
			return out, wrap("rotate refresh token", err)
		}
	}
	var out store.Issue
	err := s.Transact(ctx, func(tx Tx) error {
		if s.dialect == SQLite {
			// From the caller's read, the lock held: the common case needs
			// no read of its own. Anything else is decided below.
			if done, err := rotateHandedOver(ctx, tx, p, now, issue, &out); done || err != nil {
				return err
			}
		}
		tok, fam, err := s.lockRefreshToken(ctx, tx, p)
		switch {
		case err != nil:
			return err
		case fam.ClientID != p.ClientID:
			return store.ErrWrongClient // before any write: no reuse revocation
		case fam.Revoked():
			return store.ErrRevoked
		case (tok.Hash == "" || tok.Generation != fam.Generation) && inGrace(p, fam, now):
			// The refresh token the last rotation replaced, again and
			// soon: a retry whose answer was lost, or a second tab. It
			// gets tokens of the current generation beside the ones that
			// rotation issued; the family does not advance.
			cur, err := currentRefresh(ctx, tx, fam)
			if errors.Is(err, sql.ErrNoRows) { // nothing live to stand beside: a reuse after all
				if err := revokeFamily(ctx, tx, fam.ID, now); err != nil {
					return err
				}
				return committed(store.ErrTokenReused)
			}
			if err != nil {
				return err
			}
			iss, err := issue(fam, cur)
			if err != nil {
				return &callbackError{err}
			}
			toks, err := insertTokens(ctx, tx, fam, iss.Tokens, now)
			out = store.Issue{Family: fam, Tokens: toks}
			return err
		case tok.Hash == "" || tok.Generation != fam.Generation:
			if err := revokeFamily(ctx, tx, fam.ID, now); err != nil {
				return err
			}
			return committed(store.ErrTokenReused)
		}
		iss, err := issue(fam, tok)
		if err != nil {
			return &callbackError{err}
		}
		out, err = advance(ctx, tx, fam, iss, p.Hash, now)
		return err
	})
	if err != nil {
		return store.Issue{}, finish("rotate refresh token", err)
	}
	return out, nil
}

// lockRefreshToken reads a refresh token and locks its family row, in
// one statement. A token that is not stored but carries the lineage of a
// family is returned as the zero Token with that family: one of its
// rotated refresh tokens.
//
// On PostgreSQL the token is read from the statement's snapshot and the
// family as it is once locked (FOR UPDATE OF f waits for a concurrent
// rotation and then reads its result), as a read of the token followed by
// a locking read of the family would.
func (s *Store) lockRefreshToken(ctx context.Context, tx Tx, p store.Presented) (store.Token, store.TokenFamily, error) {
	var tr tokenRow
	var fr familyRow
	err := tx.QueryRowContext(ctx, `SELECT `+tokenColumns+`, `+familyColumns+` FROM tokens t
		JOIN token_families f ON f.id = t.family_id
		WHERE t.hash = $1 AND t.kind = $2`+s.dialect.forUpdateOf("f"), p.Hash, string(store.RefreshToken)).Scan(append(tr.dest(), fr.dest()...)...)
	switch {
	case err == nil:
		return tr.value(), fr.value(), nil
	case !errors.Is(err, sql.ErrNoRows) || p.Lineage == "":
		return store.Token{}, store.TokenFamily{}, err
	}
	err = tx.QueryRowContext(ctx, `SELECT `+familyColumns+` FROM token_families f
		WHERE f.lineage = $1 AND f.lineage <> ''`+s.dialect.forUpdate(), p.Lineage).Scan(fr.dest()...)
	if err != nil {
		return store.Token{}, store.TokenFamily{}, err
	}
	return store.Token{}, fr.value(), nil
}

// advance moves fam to its next generation with the tokens of iss as its
// live tokens (see nextGeneration).
func advance(ctx context.Context, tx Tx, fam store.TokenFamily, iss store.Issue, replaced string, now time.Time) (store.Issue, error) {
	r := nextGeneration(fam, iss, replaced, now)
	if _, err := tx.ExecContext(ctx, r.update, r.args...); err != nil {
		return store.Issue{}, err
	}
	return supersede(ctx, tx, r, iss, now)
}

// supersede deletes the superseded generation's tokens of the family that
// r moved on and inserts those of iss.
func supersede(ctx context.Context, tx Tx, r rotation, iss store.Issue, now time.Time) (store.Issue, error) {
	// Only the generation just superseded can still hold access tokens (or,
	// with a lineage, refresh tokens): each earlier rotation deleted those
	// before it (and the cleaner deletes any stragglers). Naming that one
	// generation keeps this an index lookup.
	kinds := `kind = $3`
	if len(r.kinds) == 2 {
		kinds = `kind IN ($3, $4)`
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE family_id = $1 AND generation = $2 AND `+kinds,
		append([]any{r.fam.ID, r.fam.Generation - 1}, r.kinds...)...); err != nil {
		return store.Issue{}, err
	}
	toks, err := insertTokens(ctx, tx, r.fam, iss.Tokens, now)
	if err != nil {
		return store.Issue{}, err
	}
	return store.Issue{Family: r.fam, Tokens: toks}, nil
}

// rotateHandedOver rotates from the read the caller handed over (see
// handedOver), inside tx, if that read still holds: the family's UPDATE
// is the check, and nothing else is written when it changes no row.
// done is false, with nothing written, when the read does not hold, was
// not given, or issue refused it.
func rotateHandedOver(ctx context.Context, tx Tx, p store.Presented, now time.Time,
	issue func(store.TokenFamily, store.Token) (store.Issue, error), out *store.Issue) (done bool, err error) {
	tok, fam, ok := handedOver(p)
	if !ok {
		return false, nil
	}
	iss, err := issue(fam, tok)
	if err != nil {
		return false, nil // the locked read decides, and calls issue again
	}
	r := nextGeneration(fam, iss, p.Hash, now)
	res, err := tx.ExecContext(ctx, ifCurrent(r.update, len(r.args)), append(r.args, fam.Generation)...)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, err
	}
	*out, err = supersede(ctx, tx, r, iss, now)
	return err == nil, err
}

// rotation is what moving a family to its next generation writes.
type rotation struct {
	fam    store.TokenFamily // the family as it is after
	update string            // rotateFamily or rotateFamilyWithLineage
	args   []any             // update's
	kinds  []any             // of the superseded generation's tokens, which are deleted
}

// nextGeneration returns the rotation of fam to the generation of iss's
// tokens, replacing the refresh token whose hash is replaced. The
// superseded generation's access tokens are deleted, and its refresh
// tokens too when the family has a lineage already (their reuse is
// recognized by it); a family without one takes iss's.
func nextGeneration(fam store.TokenFamily, iss store.Issue, replaced string, now time.Time) rotation {
	fam.Generation++
	fam.RotatedAt, fam.PreviousRefresh = truncate(now), replaced
	r := rotation{update: rotateFamily, kinds: []any{string(store.AccessToken)}}
	// The lineage is written only when the family takes one: SQLite
	// rewrites the entry of an indexed column named in SET even when its
	// value stays, a random page of the lineage index on every rotation.
	r.args = []any{fam.ID, fam.Generation, millis(fam.RotatedAt), fam.PreviousRefresh}
	if fam.Lineage != "" {
		r.kinds = append(r.kinds, string(store.RefreshToken))
	} else if iss.Family.Lineage != "" {
		fam.Lineage = iss.Family.Lineage
		r.update, r.args = rotateFamilyWithLineage, append(r.args, fam.Lineage)
	}
	r.fam = fam
	return r
}

// The statements that move a family to its next generation: the second
// also gives it its lineage.
const (
	rotateFamily            = `UPDATE token_families SET generation = $2, rotated_at = $3, previous_refresh = $4 WHERE id = $1`
	rotateFamilyWithLineage = `UPDATE token_families SET generation = $2, rotated_at = $3, previous_refresh = $4, lineage = $5 WHERE id = $1`
)

// insertFamily inserts a new family at generation 1 and returns it as stored.
func insertFamily(ctx context.Context, tx Tx, f store.TokenFamily, now time.Time) (store.TokenFamily, error) {
	f, args := newFamilyValues(f, now)
	var err error
	f.ID, err = tx.newID(ctx, `INSERT INTO token_families `+newFamilyColumns+` VALUES `+newFamilyPlaceholders, args...)
	return f, err
}

// The columns a new family is inserted with, and their placeholders.
const (
	newFamilyColumns      = `(client_id, user_id, scopes, generation, auth_time, nonce, created_at, lineage, resources, sid, amr, acr)`
	newFamilyPlaceholders = `($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
	newFamilyParams       = 12 // the placeholders of newFamilyPlaceholders
)

// newFamilyValues returns f as a new family at generation 1 is stored,
// and the values of newFamilyColumns for it.
func newFamilyValues(f store.TokenFamily, now time.Time) (store.TokenFamily, []any) {
	f.Generation = 1
	f.AuthTime, f.CreatedAt, f.RevokedAt, f.LastUsedAt = truncate(f.AuthTime), orTime(f.CreatedAt, now), time.Time{}, time.Time{}
	return f, []any{f.ClientID, f.UserID, joinList(f.Scopes), f.Generation, millis(f.AuthTime), f.Nonce,
		millis(f.CreatedAt), f.Lineage, joinList(f.Resources), f.SignIn.SID, joinList(f.SignIn.AMR), f.SignIn.ACR}
}

// insertTokens inserts toks as fam's current generation, in one
// statement, and returns them as stored.
func insertTokens(ctx context.Context, tx Tx, fam store.TokenFamily, toks []store.Token, now time.Time) ([]store.Token, error) {
	out, args, err := tokenRows(fam, toks, now, nil)
	if err != nil || len(toks) == 0 {
		return out, err
	}
	if _, err := tx.ExecContext(ctx, tokenInserts.get(len(toks)), args...); err != nil {
		return nil, err
	}
	return out, nil
}

// tokenRows returns toks as they are stored as fam's current generation,
// and args with the tokenInsertColumns values of each appended.
func tokenRows(fam store.TokenFamily, toks []store.Token, now time.Time, args []any) ([]store.Token, []any, error) {
	out := make([]store.Token, 0, len(toks))
	for _, t := range toks {
		if t.Kind != store.AccessToken && t.Kind != store.RefreshToken {
			return nil, nil, fmt.Errorf("token kind %q", t.Kind)
		}
		t.FamilyID, t.Generation = fam.ID, fam.Generation
		t.CreatedAt, t.ExpiresAt = orTime(t.CreatedAt, now), truncate(t.ExpiresAt)
		args = append(args, t.Hash, string(t.Kind), t.FamilyID, t.Generation, joinList(t.Scopes),
			millis(t.CreatedAt), millis(t.ExpiresAt), joinList(t.Resources))
		out = append(out, t)
	}
	return out, args, nil
}

// tokenInsertNames are the columns insertTokens writes per token, in the
// order of tokenRows' values; tokenInsertColumns is their number.
const (
	tokenInsertNames   = `hash, kind, family_id, generation, scopes, created_at, expires_at, resources`
	tokenInsertColumns = 8
)

// tokenInserts holds the statements that insert one and two tokens (an
// access token, with or without a refresh token).
var tokenInserts = memoize(buildTokenInsert, 1, 2)

// buildTokenInsert builds the statement that inserts n tokens.
func buildTokenInsert(n int) string {
	return `INSERT INTO tokens (` + tokenInsertNames + `) VALUES ` + tokenValues(n, 0, false)
}

// tokenValueTypes are the PostgreSQL types of the tokenInsertColumns.
var tokenValueTypes = [tokenInsertColumns]string{"text", "text", "bigint", "bigint", "text", "bigint", "bigint", "text"}

// tokenValues returns the VALUES rows of n tokens, tokenInsertColumns
// placeholders each, numbered from after+1; typed (PostgreSQL casts) for
// a VALUES list that is not an INSERT's own.
func tokenValues(n, after int, typed bool) string {
	var q strings.Builder
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(")
		for c := range tokenInsertColumns {
			if c > 0 {
				q.WriteString(", ")
			}
			q.WriteString("$" + strconv.Itoa(after+i*tokenInsertColumns+c+1))
			if typed {
				q.WriteString("::" + tokenValueTypes[c])
			}
		}
		q.WriteString(")")
	}
	return q.String()
}

// inGrace reports whether the presented refresh token is the one the
// family's last rotation replaced, presented within the grace period.
func inGrace(p store.Presented, fam store.TokenFamily, now time.Time) bool {
	return p.Grace > 0 && fam.PreviousRefresh != "" && p.Hash == fam.PreviousRefresh && !fam.RotatedAt.IsZero() &&
		now.Sub(fam.RotatedAt) < p.Grace
}

// currentRefresh reads a refresh token of the family's current
// generation (the one its last rotation issued).
func currentRefresh(ctx context.Context, tx Tx, fam store.TokenFamily) (store.Token, error) {
	var tr tokenRow
	err := tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens t
		WHERE t.family_id = $1 AND t.generation = $2 AND t.kind = $3 ORDER BY t.created_at LIMIT 1`,
		fam.ID, fam.Generation, string(store.RefreshToken)).Scan(tr.dest()...)
	if err != nil {
		return store.Token{}, err
	}
	return tr.value(), nil
}

// GetCurrentRefresh implements store.Store.
func (s *Store) GetCurrentRefresh(ctx context.Context, lineage string) (store.Token, store.TokenFamily, error) {
	if lineage == "" {
		return store.Token{}, store.TokenFamily{}, wrap("get current refresh token", store.ErrNotFound)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var tr tokenRow
	var fr familyRow
	err := s.readRow(ctx, `SELECT `+tokenColumns+`, `+familyColumns+`
		FROM token_families f JOIN tokens t ON t.family_id = f.id AND t.generation = f.generation AND t.kind = $2
		WHERE f.lineage = $1 AND f.lineage <> '' ORDER BY t.created_at LIMIT 1`, lineage, string(store.RefreshToken)).Scan(append(tr.dest(), fr.dest()...)...)
	if err != nil {
		return store.Token{}, store.TokenFamily{}, wrap("get current refresh token", err)
	}
	return tr.value(), fr.value(), nil
}
