package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"latchkey/internal/store"
)

// The grants at once: on PostgreSQL a new family (client credentials) is
// one statement, and the common case of a code redemption and of a
// refresh rotation is one read and one statement (a
// data-modifying WITH, which commits on its own, atomically), instead of
// a transaction of six round trips (BEGIN, a locking read, three writes,
// COMMIT). On a 2-vCPU machine the round trips, each a wake-up of the
// server and of the node, were most of a grant's cost.
//
// The read is not locked, and it is skipped when the caller hands over
// its own (store.Presented). The statement writes only if what the read saw
// still holds when it has the row locked: the code still unused, the
// family still at the generation read and not revoked. A concurrent
// writer that got there first makes PostgreSQL re-check those conditions
// on the row it committed (READ COMMITTED), so the statement then writes
// nothing. Whatever is not the common case (an unknown token or code, one
// of another client, a used code, a rotated refresh token, a revoked
// family, a callback that refuses, a statement that wrote nothing) goes
// to the transactional path, which decides it as it always has, under the
// row's lock, and calls the callback again (which its contract allows).
// So does a statement that failed as a transaction is retried for.

// createFamilyAtOnce is CreateFamily on PostgreSQL: the family and its
// tokens are inserted by one statement (a data-modifying WITH), which
// commits on its own, atomically: one round trip to the server instead of
// four (BEGIN, two INSERTs, COMMIT). A client_credentials grant is this
// one write; on a 2-vCPU machine the round trips were most of its cost.
func (s *Store) createFamilyAtOnce(ctx context.Context, iss store.Issue, now time.Time) (store.Issue, error) {
	f, args := newFamilyValues(iss.Family, now)
	// The tokens' family_id values are placeholders: the statement takes
	// the new family's id.
	toks, args, err := tokenRows(f, iss.Tokens, now, args)
	if err != nil {
		return store.Issue{}, err
	}
	if f.ID, err = s.insertID(ctx, familyStatements.get(len(toks)), args...); err != nil {
		return store.Issue{}, err
	}
	for i := range toks {
		toks[i].FamilyID = f.ID
	}
	return store.Issue{Family: f, Tokens: toks}, nil
}

// buildFamilyInsertWithTokens builds the PostgreSQL statement that
// inserts a family (the values of newFamilyColumns, $1 to $12) and n
// tokens of it (tokenInsertColumns values each, family_id unused) and
// returns the family's id.
func buildFamilyInsertWithTokens(n int) string {
	q := `WITH f AS (INSERT INTO token_families ` + newFamilyColumns + ` VALUES ` + newFamilyPlaceholders + ` RETURNING id)`
	return q + insertTokensOf(n, newFamilyParams) + ` SELECT id FROM f`
}

// redeemAtOnce is RedeemAuthCode's common case on PostgreSQL. done is
// false when the transactional path must decide.
func (s *Store) redeemAtOnce(ctx context.Context, p store.Presented, now time.Time,
	issue func(store.AuthCode) (store.Issue, error)) (out store.Issue, done bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var code store.AuthCode
	if p.Code != nil && p.Code.Hash == p.Hash {
		code = *p.Code
	} else if code, err = scanCode(s.readRow(ctx, `SELECT `+codeColumns+` FROM auth_codes WHERE hash = $1`, p.Hash)); err != nil {
		return store.Issue{}, false, nil
	}
	if code.ClientID != p.ClientID || !code.UsedAt.IsZero() {
		return store.Issue{}, false, nil
	}
	iss, err := issue(code)
	if err != nil {
		return store.Issue{}, false, nil // the transactional path burns the code
	}
	f := iss.Family
	f.ClientID, f.UserID = code.ClientID, code.UserID
	f, args := newFamilyValues(f, now)
	toks, args, err := tokenRows(f, iss.Tokens, now, args)
	if err != nil {
		return store.Issue{}, false, nil
	}
	args = append(args, millis(now), p.Hash)
	id, err := s.writeAtOnce(ctx, redeemStatements.get(len(toks)), args...)
	switch {
	case errors.Is(err, sql.ErrNoRows) || isRetryable(err): // redeemed since the read, or to be tried again
		return store.Issue{}, false, nil
	case err != nil:
		return store.Issue{}, true, err
	}
	s.atOnce.Add(1)
	f.ID = id
	for i := range toks {
		toks[i].FamilyID = id
	}
	return store.Issue{Family: f, Tokens: toks}, true, nil
}

// buildRedeem builds the statement of redeemAtOnce for n tokens: $1 to
// $12 the values of newFamilyColumns, then n tokens (tokenInsertColumns
// values each, family_id unused), then the time of use and the code's
// hash. The family's id is drawn first, so that the code is burned and
// linked to its family in one UPDATE; the family and its tokens are
// written only if that UPDATE found the code unused. It returns the
// family's id, or no row. The UPDATE names the code by its hash alone: a
// code's client never changes (the read checked it). With the client as
// a second condition (an indexed column) the statement's cost grew with
// the codes stored: 302 redemptions/s at 8 connections after 16 000
// codes were minted, 1 542/s without it.
func buildRedeem(n int) string {
	after := newFamilyParams + n*tokenInsertColumns
	used, hash := "$"+strconv.Itoa(after+1), "$"+strconv.Itoa(after+2)
	q := `WITH n AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('token_families', 'id')) AS id),
	c AS (UPDATE auth_codes SET used_at = ` + used + `, family_id = (SELECT id FROM n)
		WHERE hash = ` + hash + ` AND used_at = 0 RETURNING 1),
	f AS (INSERT INTO token_families (id, ` + strings.Trim(newFamilyColumns, "()") + `)
		SELECT n.id, ` + typedPlaceholders(0, newFamilyTypes[:]) + ` FROM n WHERE EXISTS (SELECT 1 FROM c) RETURNING id)`
	return q + insertTokensOf(n, newFamilyParams) + ` SELECT id FROM f`
}

// rotateAtOnce is RotateRefreshToken's common case on PostgreSQL: a
// refresh token of the family's current generation, presented by the
// family's client, the family not revoked. done is false when the
// transactional path must decide.
func (s *Store) rotateAtOnce(ctx context.Context, p store.Presented, now time.Time,
	issue func(store.TokenFamily, store.Token) (store.Issue, error)) (out store.Issue, done bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tok, fam, ok := handedOver(p)
	if !ok {
		var tr tokenRow
		var fr familyRow
		err = s.readRow(ctx, `SELECT `+tokenColumns+`, `+familyColumns+` FROM tokens t
			JOIN token_families f ON f.id = t.family_id
			WHERE t.hash = $1 AND t.kind = $2`, p.Hash, string(store.RefreshToken)).Scan(append(tr.dest(), fr.dest()...)...)
		if err != nil {
			return store.Issue{}, false, nil
		}
		if tok, fam = tr.value(), fr.value(); !rotatable(p, tok, fam) {
			return store.Issue{}, false, nil
		}
	}
	iss, err := issue(fam, tok)
	if err != nil {
		return store.Issue{}, false, nil
	}
	r := nextGeneration(fam, iss, p.Hash, now)
	toks, args, err := tokenRows(r.fam, iss.Tokens, now, append(r.args, fam.Generation))
	if err != nil {
		return store.Issue{}, false, nil
	}
	args = append(args, r.kinds...)
	_, err = s.writeAtOnce(ctx, rotateStatements.get(rotateShape{len(r.args), len(r.kinds), len(toks)}), args...)
	switch {
	case errors.Is(err, sql.ErrNoRows) || isRetryable(err): // rotated or revoked since the read, or to be tried again
		return store.Issue{}, false, nil
	case err != nil:
		return store.Issue{}, true, err
	}
	s.atOnce.Add(1)
	return store.Issue{Family: r.fam, Tokens: toks}, true, nil
}

// writeAtOnce runs the statement of a grant at once and returns the id it
// returns. A failure the transactional path would retry (a serialization
// failure, a deadlock) is not retried here: the caller falls back to that
// path, which runs the grant's callback again.
func (s *Store) writeAtOnce(ctx context.Context, query string, args ...any) (id int64, err error) {
	if err := checkText(args); err != nil {
		return 0, err
	}
	if s.beforeCommit != nil { // a test's failure of the commit
		if err := s.beforeCommit(); err != nil {
			return 0, err
		}
	}
	id, err = s.queryID(ctx, query, args...)
	return id, gone(ctx, err)
}

// handedOver returns the refresh token and family the caller read
// (store.Presented) if they can start a rotation (rotatable).
func handedOver(p store.Presented) (store.Token, store.TokenFamily, bool) {
	if p.Token == nil || p.Family == nil || p.Token.Hash != p.Hash || !rotatable(p, *p.Token, *p.Family) {
		return store.Token{}, store.TokenFamily{}, false
	}
	return *p.Token, *p.Family, true
}

// rotatable reports whether a read of tok and fam starts a rotation of
// the common case: a refresh token of the family's current generation,
// presented by the family's client, the family not revoked.
func rotatable(p store.Presented, tok store.Token, fam store.TokenFamily) bool {
	return tok.Kind == store.RefreshToken && tok.FamilyID == fam.ID && fam.ClientID == p.ClientID &&
		!fam.Revoked() && tok.Generation == fam.Generation
}

// ifCurrent makes update (nextGeneration's, with n parameters) apply only
// to a family still at the generation it rotates from (parameter n+1)
// and not revoked.
func ifCurrent(update string, n int) string {
	return update + ` AND generation = $` + strconv.Itoa(n+1) + ` AND revoked_at = 0`
}

// rotateShape is what the statement of rotateAtOnce depends on: the
// number of arguments of the family's UPDATE, of token kinds deleted, of
// tokens inserted.
type rotateShape struct{ update, kinds, tokens int }

// buildRotate builds the statement of rotateAtOnce: the family's UPDATE
// ($1 to $update, nextGeneration's), applied only if the family is still
// at the generation read ($update+1) and not revoked; then the tokens
// (tokenInsertColumns values each) inserted and the superseded
// generation's tokens of the given kinds (the last parameters) deleted,
// both only if the UPDATE applied. It returns the family's id, or no row.
func buildRotate(sh rotateShape) string {
	prev := "$" + strconv.Itoa(sh.update+1)
	after := sh.update + 1 + sh.tokens*tokenInsertColumns
	kinds := make([]string, sh.kinds)
	for i := range kinds {
		kinds[i] = "$" + strconv.Itoa(after+i+1)
	}
	update := rotateFamily
	if sh.update > 4 {
		update = rotateFamilyWithLineage
	}
	q := `WITH f AS (` + ifCurrent(update, sh.update) + ` RETURNING id),
	d AS (DELETE FROM tokens WHERE family_id = (SELECT id FROM f) AND generation = ` + prev + `
		AND kind IN (` + strings.Join(kinds, ", ") + `))`
	return q + insertTokensOf(sh.tokens, sh.update+1) + ` SELECT id FROM f`
}

// insertTokensOf is the part of a WITH that inserts n tokens (their
// values numbered from after+1) into the family its CTE f returns; none
// if f returns no row.
func insertTokensOf(n, after int) string {
	if n == 0 {
		return ``
	}
	return `, t AS (INSERT INTO tokens (` + tokenInsertNames + `)
		SELECT v.hash, v.kind, f.id, v.generation, v.scopes, v.created_at, v.expires_at, v.resources FROM f, (VALUES ` +
		tokenValues(n, after, true) + `) AS v (` + tokenInsertNames + `))`
}

// newFamilyTypes are the PostgreSQL types of newFamilyColumns.
var newFamilyTypes = [newFamilyParams]string{"text", "bigint", "text", "bigint", "bigint", "text", "bigint",
	"text", "text", "text", "text", "text"}

// typedPlaceholders returns placeholders numbered from after+1, one per
// type, each cast to it.
func typedPlaceholders(after int, types []string) string {
	ps := make([]string, len(types))
	for i, t := range types {
		ps[i] = "$" + strconv.Itoa(after+i+1) + "::" + t
	}
	return strings.Join(ps, ", ")
}

var (
	familyStatements = memoize(buildFamilyInsertWithTokens, 0, 1, 2)
	redeemStatements = memoize(buildRedeem, 0, 1, 2)
	rotateStatements = memoize(buildRotate,
		rotateShape{4, 1, 1}, rotateShape{4, 1, 2}, rotateShape{4, 2, 1}, rotateShape{4, 2, 2},
		rotateShape{5, 1, 1}, rotateShape{5, 1, 2}, rotateShape{5, 2, 1}, rotateShape{5, 2, 2})
)
