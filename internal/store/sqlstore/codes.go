package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"latchkey/internal/store"
)

const codeColumns = `hash, client_id, user_id, redirect_uri, redirect_uri_sent, scopes, code_challenge,
	challenge_method, nonce, auth_time, created_at, expires_at, used_at, COALESCE(family_id, 0), resources,
	sid, amr, acr`

func scanCode(r rowScanner) (store.AuthCode, error) {
	var c store.AuthCode
	var scopes, resources, amr string
	var auth, created, expires, used int64
	err := r.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.RedirectURISent, &scopes,
		&c.CodeChallenge, &c.ChallengeMethod, &c.Nonce, &auth, &created, &expires, &used, &c.FamilyID, &resources,
		&c.SignIn.SID, &amr, &c.SignIn.ACR)
	c.SignIn.AMR = splitList(amr)
	if err != nil {
		return store.AuthCode{}, err
	}
	c.Scopes, c.Resources = splitList(scopes), splitList(resources)
	c.AuthTime, c.CreatedAt = fromMillis(auth), fromMillis(created)
	c.ExpiresAt, c.UsedAt = fromMillis(expires), fromMillis(used)
	return c, nil
}

// CreateAuthCode implements store.Store. UsedAt and FamilyID are ignored
// (a new code is unused). ErrAlreadyExists on a taken hash, ErrNotFound if
// the client or the user does not exist.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	_, err := s.exec(ctx, `INSERT INTO auth_codes (hash, client_id, user_id, redirect_uri,
		redirect_uri_sent, scopes, code_challenge, challenge_method, nonce, auth_time, created_at, expires_at,
		resources, sid, amr, acr)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, flag(c.RedirectURISent), joinList(c.Scopes),
		c.CodeChallenge, c.ChallengeMethod, c.Nonce, millis(c.AuthTime), millis(c.CreatedAt),
		millis(c.ExpiresAt), joinList(c.Resources), c.SignIn.SID, joinList(c.SignIn.AMR), c.SignIn.ACR)
	return wrap("create auth code", err)
}

// GetAuthCode implements store.Store.
func (s *Store) GetAuthCode(ctx context.Context, hash string) (store.AuthCode, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	c, err := scanCode(s.readRow(ctx, `SELECT `+codeColumns+` FROM auth_codes WHERE hash = $1`, hash))
	if err != nil {
		return store.AuthCode{}, wrap("get auth code", err)
	}
	return c, nil
}

// errRaced reports a broken locking assumption: the code row changed
// between being locked and being marked.
var errRaced = errors.New("code redeemed concurrently despite the row lock")

// RedeemAuthCode implements store.Store. The code row is locked (FOR UPDATE
// on PostgreSQL, the write lock on SQLite) before it is checked, so of
// concurrent redemptions exactly one finds it unused. The client binding
// is checked before anything is written. issue is called with
// the code as it was before redemption (UsedAt zero). The new family takes
// its ClientID and UserID from the code and starts at generation 1. The
// expiry of the code is for issue to check.
func (s *Store) RedeemAuthCode(ctx context.Context, p store.Presented, now time.Time,
	issue func(store.AuthCode) (store.Issue, error)) (store.Issue, error) {
	if now.IsZero() {
		return store.Issue{}, wrap("redeem auth code", errZeroNow)
	}
	if s.dialect == Postgres {
		if out, done, err := s.redeemAtOnce(ctx, p, now, issue); done {
			return out, wrap("redeem auth code", err)
		}
	}
	var out store.Issue
	err := s.Transact(ctx, func(tx Tx) error {
		code, err := scanCode(tx.QueryRowContext(ctx,
			`SELECT `+codeColumns+` FROM auth_codes WHERE hash = $1`+s.dialect.forUpdate(), p.Hash))
		if err != nil {
			return err
		}
		if code.ClientID != p.ClientID {
			return store.ErrWrongClient // before any write: neither burned nor reuse
		}
		if !code.UsedAt.IsZero() {
			if err := revokeFamily(ctx, tx, code.FamilyID, now); err != nil {
				return err
			}
			return committed(store.ErrCodeReused)
		}
		iss, err := issue(code)
		if err != nil {
			if err := markUsed(ctx, tx, p.Hash, 0, now); err != nil {
				return err
			}
			return committed(&callbackError{err}) // the code stays burned
		}
		out, err = issueFromCode(ctx, tx, code, iss, now)
		return err
	})
	if err != nil {
		return store.Issue{}, finish("redeem auth code", err)
	}
	return out, nil
}

// markUsed burns the code and links it to the family issued from it
// (familyID; 0: none). The row is locked and was seen unused, so the
// update must change it; if not, the locking is broken and errRaced says so.
func markUsed(ctx context.Context, tx Tx, hash string, familyID int64, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = $2, family_id = $3 WHERE hash = $1 AND used_at = 0`,
		hash, millis(now), sql.NullInt64{Int64: familyID, Valid: familyID != 0})
	if err = oneRow(res, err); errors.Is(err, sql.ErrNoRows) {
		return errRaced
	}
	return err
}

// issueFromCode writes the family and tokens of iss and burns the code,
// linking it to the family: three statements.
func issueFromCode(ctx context.Context, tx Tx, code store.AuthCode, iss store.Issue, now time.Time) (store.Issue, error) {
	f := iss.Family
	f.ClientID, f.UserID = code.ClientID, code.UserID
	f, err := insertFamily(ctx, tx, f, now)
	if err != nil {
		return store.Issue{}, err
	}
	toks, err := insertTokens(ctx, tx, f, iss.Tokens, now)
	if err != nil {
		return store.Issue{}, err
	}
	if err := markUsed(ctx, tx, code.Hash, f.ID, now); err != nil {
		return store.Issue{}, err
	}
	return store.Issue{Family: f, Tokens: toks}, nil
}
