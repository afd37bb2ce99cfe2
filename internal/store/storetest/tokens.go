package storetest

import (
	"errors"
	"testing"
	"time"

	"latchkey/internal/store"
)

// mkCode stores a fresh authorization code for client and user and returns its hash.
func mkCode(t *testing.T, s store.Store, c store.Client, u store.User) string {
	t.Helper()
	at := now()
	code := store.AuthCode{
		Hash: newHash(), ClientID: c.ID, UserID: u.ID, RedirectURI: "https://app.example.com/callback",
		RedirectURISent: true, Scopes: []string{"REPO_READ", "openid"}, Nonce: "n-0S6_WzA2Mj",
		AuthTime: at.Add(-time.Minute), CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute),
	}
	must(t, "create auth code", s.CreateAuthCode(ctx(t), code))
	return code.Hash
}

// newTokens returns a fresh access and refresh token for an Issue.
func newTokens(scopes []string) []store.Token {
	at := now()
	return []store.Token{
		{Hash: newHash(), Kind: store.AccessToken, Scopes: scopes, CreatedAt: at, ExpiresAt: at.Add(time.Hour)},
		{Hash: newHash(), Kind: store.RefreshToken, Scopes: scopes, CreatedAt: at, ExpiresAt: at.Add(90 * 24 * time.Hour)},
	}
}

// issueFromCode is a RedeemAuthCode callback that grants the code's scopes.
func issueFromCode(c store.AuthCode) (store.Issue, error) {
	return store.Issue{
		Family: store.TokenFamily{Scopes: c.Scopes, AuthTime: c.AuthTime, Nonce: c.Nonce, Lineage: newHash()},
		Tokens: newTokens(c.Scopes),
	}, nil
}

// issueRotation is a RotateRefreshToken callback that keeps the token's scopes.
func issueRotation(_ store.TokenFamily, tok store.Token) (store.Issue, error) {
	return store.Issue{Tokens: newTokens(tok.Scopes)}, nil
}

// codeBy presents the code as the client it was issued to does (an
// unknown code as client "app").
func codeBy(t *testing.T, s store.Store, hash string) store.Presented {
	t.Helper()
	c, err := s.GetAuthCode(ctx(t), hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Presented{Hash: hash, ClientID: "app"}
	}
	must(t, "get auth code", err)
	return store.Presented{Hash: hash, ClientID: c.ClientID}
}

// refreshBy presents the token as the client of its family does (an
// unknown token as client "app").
func refreshBy(t *testing.T, s store.Store, hash string) store.Presented {
	t.Helper()
	tok, fam, err := s.GetToken(ctx(t), hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Presented{Hash: hash, ClientID: "app"}
	}
	must(t, "get token", err)
	if tok.Kind != store.RefreshToken {
		return store.Presented{Hash: hash, ClientID: fam.ClientID} // carries no handle
	}
	return store.Presented{Hash: hash, ClientID: fam.ClientID, Lineage: fam.Lineage}
}

// refreshOf presents the refresh token of iss as its client does, with
// the lineage its handle would give.
func refreshOf(t *testing.T, iss store.Issue) store.Presented {
	t.Helper()
	return store.Presented{Hash: tokenOf(t, iss, store.RefreshToken).Hash, ClientID: iss.Family.ClientID, Lineage: iss.Family.Lineage}
}

// failIssue is a callback for calls that must not reach it.
func failIssue(t *testing.T) func(store.AuthCode) (store.Issue, error) {
	return func(store.AuthCode) (store.Issue, error) {
		t.Error("issue called")
		return store.Issue{}, errors.New("issue must not be called")
	}
}

// failRotation is a callback for rotations that must not reach it.
func failRotation(t *testing.T) func(store.TokenFamily, store.Token) (store.Issue, error) {
	return func(store.TokenFamily, store.Token) (store.Issue, error) {
		t.Error("issue called")
		return store.Issue{}, errors.New("issue must not be called")
	}
}

// redeem redeems the code and returns what was issued.
func redeem(t *testing.T, s store.Store, hash string) store.Issue {
	t.Helper()
	iss, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, hash), now(), issueFromCode)
	must(t, "redeem code", err)
	return iss
}

// rotate rotates the refresh token and returns what was issued.
func rotate(t *testing.T, s store.Store, hash string) store.Issue {
	t.Helper()
	iss, err := s.RotateRefreshToken(ctx(t), refreshBy(t, s, hash), now(), issueRotation)
	must(t, "rotate refresh token", err)
	return iss
}

// tokenOf returns the issue's token of the given kind.
func tokenOf(t *testing.T, iss store.Issue, kind store.TokenKind) store.Token {
	t.Helper()
	for _, tok := range iss.Tokens {
		if tok.Kind == kind {
			return tok
		}
	}
	t.Fatalf("no %s token in %+v", kind, iss)
	return store.Token{}
}

// grant sets up a user, a client and one redeemed code.
func grant(t *testing.T, s store.Store) store.Issue {
	t.Helper()
	return redeem(t, s, mkCode(t, s, mkClient(t, s, "app"), mkUser(t, s, "alice")))
}

// live reports whether the token may be used, as the protocol decides:
// it exists, its family is not revoked and it is of the current generation.
func live(t *testing.T, s store.Store, hash string) bool {
	t.Helper()
	tok, fam, err := s.GetToken(ctx(t), hash)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	must(t, "get token", err)
	return !fam.Revoked() && tok.Generation == fam.Generation
}

// wantLive checks the liveness of each token.
func wantLive(t *testing.T, s store.Store, want bool, toks ...store.Token) {
	t.Helper()
	for _, tok := range toks {
		if got := live(t, s, tok.Hash); got != want {
			t.Errorf("%s token of generation %d: live = %v, want %v", tok.Kind, tok.Generation, got, want)
		}
	}
}

// family returns the token's family.
func family(t *testing.T, s store.Store, hash string) store.TokenFamily {
	t.Helper()
	_, fam, err := s.GetToken(ctx(t), hash)
	must(t, "get token", err)
	return fam
}

var authCodeTests = []test{
	{"CreateTakenHashIsAlreadyExists", testCodeTaken},
	{"RedeemIssuesFamilyAtGenerationOne", testRedeem},
	{"RedeemUnknownIsNotFound", testRedeemUnknown},
	{"GetReturnsTheCodeBeforeAndAfterRedemption", testGetAuthCode},
	{"SecondRedeemIsCodeReusedAndRevokesFamily", testRedeemTwice},
	{"IssueErrorBurnsCodeAndWritesNothingElse", testRedeemBurned},
	{"AnotherClientIsWrongClientBeforeReuseAndWritesNothing", testRedeemWrongClient},
}

// testRedeemWrongClient: only the client a code was issued to can redeem
// it, burn it or set off its reuse detection. Another client presenting
// it, unused or used, gets ErrWrongClient and nothing changes.
func testRedeemWrongClient(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	mkClient(t, s, "attacker")
	hash := mkCode(t, s, c, u)
	before, err := s.GetAuthCode(ctx(t), hash)
	must(t, "get code", err)
	byAttacker := store.Presented{Hash: hash, ClientID: "attacker"}
	_, err = s.RedeemAuthCode(ctx(t), byAttacker, now(), failIssue(t))
	wantErr(t, "another client redeems an unused code", err, store.ErrWrongClient)
	after, err := s.GetAuthCode(ctx(t), hash)
	must(t, "get code", err)
	same(t, "code after another client presented it", after, before)
	iss := redeem(t, s, hash)
	_, err = s.RedeemAuthCode(ctx(t), byAttacker, now(), failIssue(t))
	wantErr(t, "another client replays the used code", err, store.ErrWrongClient)
	wantLive(t, s, true, iss.Tokens...)
	same(t, "family after another client replayed its code", family(t, s, iss.Tokens[0].Hash), iss.Family)
	_, err = s.RedeemAuthCode(ctx(t), store.Presented{Hash: newHash(), ClientID: "attacker"}, now(), failIssue(t))
	wantErr(t, "another client presents an unknown code", err, store.ErrNotFound)
	_, err = s.RedeemAuthCode(ctx(t), codeBy(t, s, hash), now(), failIssue(t))
	wantErr(t, "the code's own client replays it", err, store.ErrCodeReused)
}

func testCodeTaken(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	hash := mkCode(t, s, c, u)
	err := s.CreateAuthCode(ctx(t), store.AuthCode{Hash: hash, ClientID: c.ID, UserID: u.ID,
		CreatedAt: now(), ExpiresAt: now().Add(time.Minute)})
	wantErr(t, "create code with taken hash", err, store.ErrAlreadyExists)
}

func testRedeem(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	at := now()
	code := store.AuthCode{
		Hash: newHash(), ClientID: c.ID, UserID: u.ID, RedirectURI: "http://127.0.0.1:8080/cb",
		RedirectURISent: true, Scopes: []string{"REPO_WRITE", "openid", "email"},
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", ChallengeMethod: "S256",
		Nonce: "nonce", AuthTime: at.Add(-time.Minute), CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute),
	}
	must(t, "create code", s.CreateAuthCode(ctx(t), code))
	var want store.Issue
	iss, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, code.Hash), at, func(got store.AuthCode) (store.Issue, error) {
		same(t, "code given to issue", got, code)
		want, _ = issueFromCode(got)
		return want, nil
	})
	must(t, "redeem code", err)
	if iss.Family.ID == 0 || iss.Family.CreatedAt.IsZero() {
		t.Fatalf("family ID %d, CreatedAt %v; want both set", iss.Family.ID, iss.Family.CreatedAt)
	}
	want.Family.ID, want.Family.ClientID, want.Family.UserID = iss.Family.ID, c.ID, u.ID
	want.Family.Generation, want.Family.CreatedAt = 1, iss.Family.CreatedAt
	for i := range want.Tokens {
		want.Tokens[i].FamilyID, want.Tokens[i].Generation = iss.Family.ID, 1
	}
	same(t, "issue", iss, want)
	for _, tok := range iss.Tokens {
		gotTok, gotFam, err := s.GetToken(ctx(t), tok.Hash)
		must(t, "get token", err)
		same(t, "stored token", gotTok, tok)
		same(t, "stored family", gotFam, iss.Family)
	}
}

func testRedeemUnknown(t *testing.T, s store.Store) {
	_, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, newHash()), now(), failIssue(t))
	wantErr(t, "redeem unknown code", err, store.ErrNotFound)
}

func testGetAuthCode(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	at := now()
	code := store.AuthCode{Hash: newHash(), ClientID: c.ID, UserID: u.ID, RedirectURI: "https://app.example.com/cb",
		Scopes: []string{"REPO_READ"}, Nonce: "n", AuthTime: at.Add(-time.Minute), CreatedAt: at, ExpiresAt: at.Add(time.Minute)}
	must(t, "create code", s.CreateAuthCode(ctx(t), code))
	got, err := s.GetAuthCode(ctx(t), code.Hash)
	must(t, "get code", err)
	same(t, "stored code", got, code)
	iss := redeem(t, s, code.Hash)
	got, err = s.GetAuthCode(ctx(t), code.Hash)
	must(t, "get redeemed code", err)
	code.UsedAt, code.FamilyID = got.UsedAt, iss.Family.ID
	same(t, "redeemed code", got, code)
	if got.UsedAt.IsZero() {
		t.Error("a redeemed code has no UsedAt")
	}
	_, err = s.GetAuthCode(ctx(t), newHash())
	wantErr(t, "get unknown code", err, store.ErrNotFound)
}

func testRedeemTwice(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	hash := mkCode(t, s, c, u)
	iss := redeem(t, s, hash)
	wantLive(t, s, true, iss.Tokens...)
	_, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, hash), now(), failIssue(t))
	wantErr(t, "redeem code again", err, store.ErrCodeReused)
	wantLive(t, s, false, iss.Tokens...)
	if fam := family(t, s, iss.Tokens[0].Hash); !fam.Revoked() {
		t.Error("family of a reused code is not revoked")
	}
	_, err = s.RedeemAuthCode(ctx(t), codeBy(t, s, hash), now(), failIssue(t))
	wantErr(t, "redeem code a third time", err, store.ErrCodeReused)
}

func testRedeemBurned(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	hash := mkCode(t, s, c, u)
	boom := errors.New("code expired")
	var unwritten store.Issue
	_, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, hash), now(), func(code store.AuthCode) (store.Issue, error) {
		unwritten, _ = issueFromCode(code)
		return unwritten, boom
	})
	wantErr(t, "redeem with failing issue", err, boom)
	for _, tok := range unwritten.Tokens {
		_, _, err := s.GetToken(ctx(t), tok.Hash)
		wantErr(t, "get token issue returned with its error", err, store.ErrNotFound)
	}
	_, err = s.RedeemAuthCode(ctx(t), codeBy(t, s, hash), now(), failIssue(t))
	wantErr(t, "redeem burned code", err, store.ErrCodeReused)
}

var refreshTests = []test{
	{"RotationAdvancesGeneration", testRotate},
	{"RotationEndsEarlierGenerations", testRotateEndsOld},
	{"ReuseIsTokenReusedAndRevokesFamilyWithNewestTokens", testRotateReuse},
	{"RevokedFamilyIsRevoked", testRotateRevoked},
	{"UnknownOrAccessTokenIsNotFound", testRotateNotFound},
	{"IssueErrorWritesNothing", testRotateIssueError},
	{"AnotherClientIsWrongClientBeforeReuseAndWritesNothing", testRotateWrongClient},
}

// testRotateWrongClient: only the client of a family can rotate its
// refresh token or set off its reuse detection. Another client presenting
// the current or a rotated refresh token gets ErrWrongClient and nothing
// changes.
func testRotateWrongClient(t *testing.T, s store.Store) {
	first := grant(t, s)
	mkClient(t, s, "attacker")
	rt := tokenOf(t, first, store.RefreshToken)
	byAttacker := store.Presented{Hash: rt.Hash, ClientID: "attacker", Lineage: first.Family.Lineage}
	_, err := s.RotateRefreshToken(ctx(t), byAttacker, now(), failRotation(t))
	wantErr(t, "another client rotates the current token", err, store.ErrWrongClient)
	same(t, "family after another client presented its token", family(t, s, rt.Hash), first.Family)
	second := rotate(t, s, rt.Hash)
	_, err = s.RotateRefreshToken(ctx(t), byAttacker, now(), failRotation(t))
	wantErr(t, "another client replays the rotated token", err, store.ErrWrongClient)
	wantLive(t, s, true, second.Tokens...)
	same(t, "family after another client replayed a rotated token", family(t, s, second.Tokens[0].Hash), second.Family)
	_, err = s.RotateRefreshToken(ctx(t), refreshOf(t, first), now(), failRotation(t))
	wantErr(t, "the family's own client replays the rotated token", err, store.ErrTokenReused)
}

func testRotate(t *testing.T, s store.Store) {
	first := grant(t, s)
	old := tokenOf(t, first, store.RefreshToken)
	var want store.Issue
	at := now()
	iss, err := s.RotateRefreshToken(ctx(t), refreshBy(t, s, old.Hash), at, func(fam store.TokenFamily, tok store.Token) (store.Issue, error) {
		same(t, "family given to issue", fam, first.Family)
		same(t, "token given to issue", tok, old)
		want = store.Issue{Tokens: newTokens([]string{"REPO_READ"})}
		return want, nil
	})
	must(t, "rotate", err)
	want.Family = first.Family
	want.Family.Generation = 2
	want.Family.RotatedAt, want.Family.PreviousRefresh = at, old.Hash // for the refresh grace period
	for i := range want.Tokens {
		want.Tokens[i].FamilyID, want.Tokens[i].Generation = first.Family.ID, 2
	}
	same(t, "issue", iss, want)
	for _, tok := range iss.Tokens {
		gotTok, gotFam, err := s.GetToken(ctx(t), tok.Hash)
		must(t, "get token", err)
		same(t, "stored token", gotTok, tok)
		same(t, "stored family", gotFam, want.Family)
	}
	third := rotate(t, s, tokenOf(t, iss, store.RefreshToken).Hash)
	if third.Family.Generation != 3 || third.Tokens[0].Generation != 3 {
		t.Errorf("second rotation: family generation %d, token generation %d; want 3 and 3",
			third.Family.Generation, third.Tokens[0].Generation)
	}
}

func testRotateEndsOld(t *testing.T, s store.Store) {
	first := grant(t, s)
	second := rotate(t, s, tokenOf(t, first, store.RefreshToken).Hash)
	wantLive(t, s, false, first.Tokens...)
	wantLive(t, s, true, second.Tokens...)
	third := rotate(t, s, tokenOf(t, second, store.RefreshToken).Hash)
	wantLive(t, s, false, first.Tokens...)
	wantLive(t, s, false, second.Tokens...)
	wantLive(t, s, true, third.Tokens...)
}

func testRotateReuse(t *testing.T, s store.Store) {
	first := grant(t, s)
	second := rotate(t, s, tokenOf(t, first, store.RefreshToken).Hash)
	third := rotate(t, s, tokenOf(t, second, store.RefreshToken).Hash)
	_, err := s.RotateRefreshToken(ctx(t), refreshOf(t, first), now(), failRotation(t))
	wantErr(t, "rotate a rotated token", err, store.ErrTokenReused)
	wantLive(t, s, false, third.Tokens...)
	if fam := family(t, s, third.Tokens[0].Hash); !fam.Revoked() {
		t.Error("family not revoked after reuse")
	}
	_, err = s.RotateRefreshToken(ctx(t), refreshOf(t, third), now(), failRotation(t))
	wantErr(t, "rotate newest token of revoked family", err, store.ErrRevoked)
}

func testRotateRevoked(t *testing.T, s store.Store) {
	first := grant(t, s)
	must(t, "revoke family", s.RevokeFamily(ctx(t), first.Family.ID, now()))
	_, err := s.RotateRefreshToken(ctx(t), refreshOf(t, first), now(), failRotation(t))
	wantErr(t, "rotate in revoked family", err, store.ErrRevoked)
}

func testRotateNotFound(t *testing.T, s store.Store) {
	first := grant(t, s)
	_, err := s.RotateRefreshToken(ctx(t), refreshBy(t, s, newHash()), now(), failRotation(t))
	wantErr(t, "rotate unknown token", err, store.ErrNotFound)
	_, err = s.RotateRefreshToken(ctx(t), refreshBy(t, s, tokenOf(t, first, store.AccessToken).Hash), now(), failRotation(t))
	wantErr(t, "rotate access token", err, store.ErrNotFound)
	wantLive(t, s, true, first.Tokens...)
}

func testRotateIssueError(t *testing.T, s store.Store) {
	first := grant(t, s)
	rt := tokenOf(t, first, store.RefreshToken)
	boom := errors.New("scope widened")
	var unwritten store.Issue
	_, err := s.RotateRefreshToken(ctx(t), refreshBy(t, s, rt.Hash), now(), func(fam store.TokenFamily, tok store.Token) (store.Issue, error) {
		unwritten, _ = issueRotation(fam, tok)
		return unwritten, boom
	})
	wantErr(t, "rotate with failing issue", err, boom)
	for _, tok := range unwritten.Tokens {
		_, _, err := s.GetToken(ctx(t), tok.Hash)
		wantErr(t, "get token issue returned with its error", err, store.ErrNotFound)
	}
	wantLive(t, s, true, first.Tokens...)
	same(t, "family after failed rotation", family(t, s, rt.Hash), first.Family)
	second := rotate(t, s, rt.Hash)
	if second.Family.Generation != 2 {
		t.Errorf("generation after failed and successful rotation = %d, want 2", second.Family.Generation)
	}
}

var tokenTests = []test{
	{"GetUnknownIsNotFound", testGetTokenUnknown},
	{"RevokeFamilyEndsEveryTokenAndTwiceIsFine", testRevokeFamily},
	{"RevokeUnknownFamilyIsNotFound", testRevokeUnknown},
	{"GetBearerJoinsTokenFamilyUserAndClientState", testGetBearer},
}

func testGetBearer(t *testing.T, s store.Store) {
	iss := grant(t, s)
	_, err := s.GetBearer(ctx(t), newHash())
	wantErr(t, "get unknown bearer", err, store.ErrNotFound)
	tok := iss.Tokens[0]
	b, err := s.GetBearer(ctx(t), tok.Hash)
	must(t, "get bearer", err)
	wantTok, wantFam, err := s.GetToken(ctx(t), tok.Hash)
	must(t, "get token", err)
	wantUser, err := s.GetUser(ctx(t), wantFam.UserID)
	must(t, "get user", err)
	same(t, "bearer", b, store.Bearer{Token: wantTok, Family: wantFam, User: wantUser})
	_, err = s.UpdateClient(ctx(t), wantFam.ClientID, func(c store.Client) (store.Client, error) {
		c.Suspended = true
		return c, nil
	})
	must(t, "suspend client", err)
	_, err = s.UpdateUser(ctx(t), wantUser.ID, func(u store.User) (store.User, error) {
		u.Disabled = true
		return u, nil
	})
	must(t, "disable user", err)
	b, err = s.GetBearer(ctx(t), tok.Hash)
	must(t, "get bearer again", err)
	if !b.ClientSuspended || !b.User.Disabled {
		t.Fatalf("bearer after suspending the client and disabling the user: %+v", b)
	}
}

func testGetTokenUnknown(t *testing.T, s store.Store) {
	grant(t, s)
	_, _, err := s.GetToken(ctx(t), newHash())
	wantErr(t, "get unknown token", err, store.ErrNotFound)
}

func testRevokeFamily(t *testing.T, s store.Store) {
	first := grant(t, s)
	other := redeem(t, s, mkCode(t, s, mkClient(t, s, "other"), mkUser(t, s, "bob")))
	at := now().Add(-time.Second)
	must(t, "revoke family", s.RevokeFamily(ctx(t), first.Family.ID, at))
	wantLive(t, s, false, first.Tokens...)
	wantLive(t, s, true, other.Tokens...)
	must(t, "revoke family again", s.RevokeFamily(ctx(t), first.Family.ID, now()))
	fam := family(t, s, first.Tokens[0].Hash)
	if !fam.RevokedAt.Equal(at) {
		t.Errorf("RevokedAt = %v, want the first revocation %v", fam.RevokedAt, at)
	}
}

func testRevokeUnknown(t *testing.T, s store.Store) {
	first := grant(t, s)
	err := s.RevokeFamily(ctx(t), first.Family.ID+1000, now())
	wantErr(t, "revoke unknown family", err, store.ErrNotFound)
}
