package storetest

import (
	"testing"
	"time"

	"latchkey/internal/store"
)

// timeTests cover the rule that the store reads no clock: it keeps the
// times it is given and writes its own only from a now argument.
var timeTests = []test{
	{"ZeroTimesOfCreatedRowsStayZero", testZeroTimesStay},
	{"RedemptionAndRotationStampTheirNow", testStampsAreNow},
	{"ZeroNowIsRefusedWhereItWouldMeanNever", testZeroNowRefused},
}

func testZeroTimesStay(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	got, err := s.GetUser(ctx(t), u.ID)
	must(t, "get user", err)
	p := mkProject(t, s, "PROJ")
	r := mkRepo(t, s, p, "repo")
	c, err := s.CreateClient(ctx(t), store.Client{ID: "bare"})
	must(t, "create client", err)
	e, err := s.AppendAudit(ctx(t), store.AuditEvent{Event: "login.failed"})
	must(t, "append", err)
	must(t, "save consent", s.SaveConsent(ctx(t), store.Consent{UserID: u.ID, ClientID: c.ID}))
	consent, err := s.GetConsent(ctx(t), u.ID, c.ID)
	must(t, "get consent", err)
	for what, at := range map[string]time.Time{
		"user": u.CreatedAt, "stored user": got.CreatedAt, "project": p.CreatedAt, "repo": r.CreatedAt,
		"client": c.CreatedAt, "audit event": e.At, "consent": consent.GrantedAt,
	} {
		if !at.IsZero() {
			t.Errorf("%s created without a time has time %v, want zero", what, at)
		}
	}
	if es := listAll(t, "list", s.ListAudit); len(es) != 1 || !es[0].At.IsZero() {
		t.Errorf("listed events %+v, want one without a time", es)
	}
}

func testStampsAreNow(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	hash := mkCode(t, s, c, u)
	redeemed := now().Add(-time.Hour) // another clock than the wall's
	iss, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, hash), redeemed, func(ac store.AuthCode) (store.Issue, error) {
		return store.Issue{Family: store.TokenFamily{Scopes: ac.Scopes},
			Tokens: []store.Token{{Hash: newHash(), Kind: store.RefreshToken, ExpiresAt: redeemed.Add(time.Hour)}}}, nil
	})
	must(t, "redeem", err)
	code, err := s.GetAuthCode(ctx(t), hash)
	must(t, "get code", err)
	if !code.UsedAt.Equal(redeemed) || code.FamilyID != iss.Family.ID {
		t.Errorf("code used at %v with family %d, want %v and %d", code.UsedAt, code.FamilyID, redeemed, iss.Family.ID)
	}
	if !iss.Family.CreatedAt.Equal(redeemed) || !iss.Tokens[0].CreatedAt.Equal(redeemed) {
		t.Errorf("family created at %v, token at %v; want %v", iss.Family.CreatedAt, iss.Tokens[0].CreatedAt, redeemed)
	}
	rotated := redeemed.Add(time.Minute)
	next, err := s.RotateRefreshToken(ctx(t), refreshBy(t, s, iss.Tokens[0].Hash), rotated, func(store.TokenFamily, store.Token) (store.Issue, error) {
		return store.Issue{Tokens: []store.Token{{Hash: newHash(), Kind: store.AccessToken, ExpiresAt: rotated.Add(time.Hour)}}}, nil
	})
	must(t, "rotate", err)
	if !next.Tokens[0].CreatedAt.Equal(rotated) {
		t.Errorf("rotated token created at %v, want %v", next.Tokens[0].CreatedAt, rotated)
	}
	reused := rotated.Add(time.Minute)
	_, err = s.RotateRefreshToken(ctx(t), refreshBy(t, s, iss.Tokens[0].Hash), reused, failRotation(t))
	wantErr(t, "reuse", err, store.ErrTokenReused)
	_, fam, err := s.GetToken(ctx(t), next.Tokens[0].Hash)
	must(t, "get token", err)
	if !fam.RevokedAt.Equal(reused) {
		t.Errorf("family revoked at %v, want %v", fam.RevokedAt, reused)
	}
}

func testZeroNowRefused(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	hash := mkCode(t, s, c, u)
	if _, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, hash), time.Time{}, failIssue(t)); err == nil {
		t.Error("a redemption at the zero time was accepted")
	}
	iss, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, hash), now(), issueFromCode)
	must(t, "redeem after the refused attempt", err)
	if _, err := s.RotateRefreshToken(ctx(t), refreshOf(t, iss), time.Time{}, failRotation(t)); err == nil {
		t.Error("a rotation at the zero time was accepted")
	}
	if err := s.RevokeFamily(ctx(t), iss.Family.ID, time.Time{}); err == nil {
		t.Error("a revocation at the zero time was accepted")
	}
	if _, err := s.RevokeUserClient(ctx(t), u.ID, c.ID, time.Time{}); err == nil {
		t.Error("revoking a user's client at the zero time was accepted")
	}
	if _, err := s.RevokeClientFamilies(ctx(t), c.ID, time.Time{}); err == nil {
		t.Error("revoking a client's families at the zero time was accepted")
	}
	if _, err := s.RevokeUserFamilies(ctx(t), u.ID, time.Time{}); err == nil {
		t.Error("revoking a user's families at the zero time was accepted")
	}
	wantLive(t, s, true, iss.Tokens...)
}
