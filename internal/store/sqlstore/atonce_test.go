package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"latchkey/internal/store"
	"latchkey/internal/store/sqlstore"
)

// TestGrantsAtOnce: on PostgreSQL a code redemption and a refresh rotation
// of the common case are each one statement (atonce.go); what is not the
// common case falls back to the transactional path, which decides it: a
// code presented again is reuse and revokes its family, and so is the
// refresh token just rotated. On SQLite nothing is written at once.
func TestGrantsAtOnce(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := t.Context()
			c, u, now := setUp(t, s)
			code := store.Presented{Hash: mkCode(t, s, c, u, now), ClientID: c.ID}
			issue := func(run int) store.Issue {
				return store.Issue{Family: store.TokenFamily{Lineage: "lineage-1"},
					Tokens: []store.Token{token(store.AccessToken, run, now), token(store.RefreshToken, run, now)}}
			}
			want := uint64(0)
			if name == "PostgreSQL" {
				want = 1
			}

			first := must(s.RedeemAuthCode(ctx, code, now, func(store.AuthCode) (store.Issue, error) { return issue(1), nil }))(t)
			if got := sqlstore.GrantsAtOnce(s); got != want {
				t.Errorf("after a redemption: %d grants at once, want %d", got, want)
			}
			refresh := store.Presented{Hash: first.Tokens[1].Hash, ClientID: c.ID, Lineage: "lineage-1"}
			next := must(s.RotateRefreshToken(ctx, refresh, now, func(store.TokenFamily, store.Token) (store.Issue, error) { return issue(2), nil }))(t)
			if got := sqlstore.GrantsAtOnce(s); got != 2*want {
				t.Errorf("after a rotation: %d grants at once, want %d", got, 2*want)
			}
			if next.Family.ID != first.Family.ID || next.Family.Generation != 2 || next.Family.Lineage != "lineage-1" ||
				next.Family.PreviousRefresh != refresh.Hash || len(next.Tokens) != 2 || next.Tokens[0].Generation != 2 {
				t.Errorf("rotation returned %+v", next)
			}
			// The superseded generation is gone, the new one is stored.
			for _, tok := range first.Tokens {
				if _, _, err := s.GetToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("superseded %s token: %v, want not found", tok.Kind, err)
				}
			}
			for _, tok := range next.Tokens {
				if got, fam, err := s.GetToken(ctx, tok.Hash); err != nil || got.Generation != 2 || fam.Generation != 2 || fam.Revoked() {
					t.Errorf("new %s token: %+v %+v %v", tok.Kind, got, fam, err)
				}
			}

			// Not the common case: the transactional path decides.
			if _, err := s.RotateRefreshToken(ctx, refresh, now, func(store.TokenFamily, store.Token) (store.Issue, error) { return issue(3), nil }); !errors.Is(err, store.ErrTokenReused) {
				t.Errorf("the rotated refresh token again: %v, want ErrTokenReused", err)
			}
			if _, err := s.RedeemAuthCode(ctx, code, now, func(store.AuthCode) (store.Issue, error) { return issue(4), nil }); !errors.Is(err, store.ErrCodeReused) {
				t.Errorf("the code again: %v, want ErrCodeReused", err)
			}
			if _, fam, err := s.GetToken(ctx, next.Tokens[0].Hash); err != nil || !fam.Revoked() {
				t.Errorf("the family after reuse: %+v %v, want revoked", fam, err)
			}
			if got := sqlstore.GrantsAtOnce(s); got != 2*want {
				t.Errorf("after the refusals: %d grants at once, want %d", got, 2*want)
			}
		})
	}
}

// TestGrantsAtOnceWriteNothingOnceOvertaken: the statement of a grant at
// once writes only if what its read saw still holds. Each case changes the
// row from inside the callback, between the read and the statement (the
// callback's first run: the transactional path's run holds the row's lock,
// and calls it again): the statement must write nothing, and the
// transactional path decides as for any late caller.
func TestGrantsAtOnceWriteNothingOnceOvertaken(t *testing.T) {
	open := backends(t)["PostgreSQL"]
	issue := func(label string, now time.Time) store.Issue {
		return store.Issue{Family: store.TokenFamily{Lineage: "lineage-" + label},
			Tokens: []store.Token{{Hash: newHash(label + "-access"), Kind: store.AccessToken, ExpiresAt: now.Add(time.Hour)},
				{Hash: newHash(label), Kind: store.RefreshToken, ExpiresAt: now.Add(time.Hour)}}}
	}
	// grant redeems a fresh code of c and u and returns the refresh token.
	grant := func(t *testing.T, s *sqlstore.Store, c store.Client, u store.User, now time.Time) (store.Issue, store.Presented) {
		code := store.Presented{Hash: mkCode(t, s, c, u, now), ClientID: c.ID}
		iss := must(s.RedeemAuthCode(t.Context(), code, now, func(store.AuthCode) (store.Issue, error) { return issue("first", now), nil }))(t)
		return iss, store.Presented{Hash: iss.Tokens[1].Hash, ClientID: c.ID, Lineage: "lineage-first"}
	}

	t.Run("a code redeemed meanwhile", func(t *testing.T) {
		s := open(t)
		c, u, now := setUp(t, s)
		code := store.Presented{Hash: mkCode(t, s, c, u, now), ClientID: c.ID}
		runs := 0
		var inner store.Issue
		_, err := s.RedeemAuthCode(t.Context(), code, now, func(store.AuthCode) (store.Issue, error) {
			if runs++; runs == 1 {
				inner = must(s.RedeemAuthCode(t.Context(), code, now, func(store.AuthCode) (store.Issue, error) { return issue("inner", now), nil }))(t)
			}
			return issue("outer", now), nil
		})
		if !errors.Is(err, store.ErrCodeReused) {
			t.Fatalf("the overtaken redemption: %v, want ErrCodeReused", err)
		}
		if _, fam, err := s.GetToken(t.Context(), inner.Tokens[1].Hash); err != nil || !fam.Revoked() {
			t.Errorf("the family of the redemption that overtook: %+v %v, want revoked", fam, err)
		}
		if _, _, err := s.GetToken(t.Context(), newHash("outer")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the overtaken redemption's token: %v, want not found", err)
		}
	})

	t.Run("a refresh token rotated meanwhile", func(t *testing.T) {
		s := open(t)
		c, u, now := setUp(t, s)
		_, refresh := grant(t, s, c, u, now)
		runs := 0
		_, err := s.RotateRefreshToken(t.Context(), refresh, now, func(store.TokenFamily, store.Token) (store.Issue, error) {
			if runs++; runs == 1 {
				must(s.RotateRefreshToken(t.Context(), refresh, now, func(store.TokenFamily, store.Token) (store.Issue, error) { return issue("inner", now), nil }))(t)
			}
			return issue("outer", now), nil
		})
		if !errors.Is(err, store.ErrTokenReused) {
			t.Fatalf("the overtaken rotation: %v, want ErrTokenReused", err)
		}
		if _, fam, err := s.GetToken(t.Context(), newHash("inner")); err != nil || !fam.Revoked() || fam.Generation != 2 {
			t.Errorf("the family: %+v %v, want revoked at generation 2", fam, err)
		}
		if _, _, err := s.GetToken(t.Context(), newHash("outer")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the overtaken rotation's token: %v, want not found", err)
		}
	})

	t.Run("a family revoked meanwhile", func(t *testing.T) {
		s := open(t)
		c, u, now := setUp(t, s)
		first, refresh := grant(t, s, c, u, now)
		runs := 0
		_, err := s.RotateRefreshToken(t.Context(), refresh, now, func(store.TokenFamily, store.Token) (store.Issue, error) {
			if runs++; runs == 1 {
				if err := s.RevokeFamily(t.Context(), first.Family.ID, now); err != nil {
					t.Fatal(err)
				}
			}
			return issue("outer", now), nil
		})
		if !errors.Is(err, store.ErrRevoked) {
			t.Fatalf("rotation in a family revoked meanwhile: %v, want ErrRevoked", err)
		}
		if _, fam, err := s.GetToken(t.Context(), refresh.Hash); err != nil || fam.Generation != 1 {
			t.Errorf("the family: %+v %v, want still at generation 1 with its refresh token", fam, err)
		}
		if _, _, err := s.GetToken(t.Context(), newHash("outer")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the token of the rotation: %v, want not found", err)
		}
	})
}

// TestGrantsAtOnceFromAStaleRead: a read the caller hands over
// (store.Presented.Code, Token, Family) that no longer holds writes
// nothing; the grant is decided as it would be without it. On SQLite the
// rotation starts from the handed-over read too, inside the writer's
// transaction; nothing there counts as written at once.
func TestGrantsAtOnceFromAStaleRead(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			testGrantsFromAStaleRead(t, s, name == "PostgreSQL")
		})
	}
}

func testGrantsFromAStaleRead(t *testing.T, s *sqlstore.Store, atOnce bool) {
	wantAtOnce := func(n uint64) uint64 {
		if atOnce {
			return n
		}
		return 0
	}
	ctx := t.Context()
	c, u, now := setUp(t, s)
	issue := func(label string) store.Issue {
		return store.Issue{Family: store.TokenFamily{Lineage: "lineage-" + label},
			Tokens: []store.Token{{Hash: newHash(label + "-access"), Kind: store.AccessToken, ExpiresAt: now.Add(time.Hour)},
				{Hash: newHash(label), Kind: store.RefreshToken, ExpiresAt: now.Add(time.Hour)}}}
	}
	hash := mkCode(t, s, c, u, now)
	read := must(s.GetAuthCode(ctx, hash))(t)
	code := store.Presented{Hash: hash, ClientID: c.ID, Code: &read}
	must(s.RedeemAuthCode(ctx, code, now, func(store.AuthCode) (store.Issue, error) { return issue("first"), nil }))(t)
	if got := sqlstore.GrantsAtOnce(s); got != wantAtOnce(1) {
		t.Fatalf("a redemption from the caller's read: %d grants at once, want %d", got, wantAtOnce(1))
	}
	// The same read again: the code is used now.
	if _, err := s.RedeemAuthCode(ctx, code, now, func(store.AuthCode) (store.Issue, error) { return issue("again"), nil }); !errors.Is(err, store.ErrCodeReused) {
		t.Errorf("a redemption from a read of the code before its use: %v, want ErrCodeReused", err)
	}

	second, err := s.RedeemAuthCode(ctx, store.Presented{Hash: mkCodeNamed(t, s, c, u, now, "second"), ClientID: c.ID}, now,
		func(store.AuthCode) (store.Issue, error) { return issue("second"), nil })
	if err != nil {
		t.Fatal(err)
	}
	b := must(s.GetBearer(ctx, second.Tokens[1].Hash))(t)
	refresh := store.Presented{Hash: b.Token.Hash, ClientID: c.ID, Lineage: "lineage-second", Token: &b.Token, Family: &b.Family}
	must(s.RotateRefreshToken(ctx, refresh, now, func(store.TokenFamily, store.Token) (store.Issue, error) { return issue("rotated"), nil }))(t)
	if got := sqlstore.GrantsAtOnce(s); got != wantAtOnce(3) {
		t.Errorf("a rotation from the caller's read: %d grants at once, want %d", got, wantAtOnce(3))
	}
	// The same read again: the family moved on.
	if _, err := s.RotateRefreshToken(ctx, refresh, now, func(store.TokenFamily, store.Token) (store.Issue, error) { return issue("stale"), nil }); !errors.Is(err, store.ErrTokenReused) {
		t.Errorf("a rotation from a read of the family before the last rotation: %v, want ErrTokenReused", err)
	}
	// An access token handed over as the refresh token read is not one.
	third, err := s.RedeemAuthCode(ctx, store.Presented{Hash: mkCodeNamed(t, s, c, u, now, "third"), ClientID: c.ID}, now,
		func(store.AuthCode) (store.Issue, error) { return issue("third"), nil })
	if err != nil {
		t.Fatal(err)
	}
	a := must(s.GetBearer(ctx, third.Tokens[0].Hash))(t)
	if _, err := s.RotateRefreshToken(ctx, store.Presented{Hash: a.Token.Hash, ClientID: c.ID, Token: &a.Token, Family: &a.Family}, now,
		func(store.TokenFamily, store.Token) (store.Issue, error) { return issue("access"), nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an access token presented as a refresh token: %v, want ErrNotFound", err)
	}
	if got := sqlstore.GrantsAtOnce(s); got != wantAtOnce(4) {
		t.Errorf("after the refusals: %d grants at once, want %d", got, wantAtOnce(4))
	}
	if _, fam, err := s.GetToken(ctx, third.Tokens[1].Hash); err != nil || fam.Generation != 1 || fam.Revoked() {
		t.Errorf("the family whose access token was presented: %+v %v, want untouched", fam, err)
	}
}

// mkCodeNamed is mkCode for a code of its own name.
func mkCodeNamed(t *testing.T, s *sqlstore.Store, c store.Client, u store.User, now time.Time, name string) string {
	t.Helper()
	hash := newHash("code-" + name)
	if err := s.CreateAuthCode(t.Context(), store.AuthCode{Hash: hash, ClientID: c.ID, UserID: u.ID,
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	return hash
}
