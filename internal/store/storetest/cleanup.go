package storetest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"latchkey/internal/store"
)

// cleanupTests state the rules of DeleteExpired. Expiry is driven through
// its now argument: the tokens the suite issues live an hour (access) and
// ninety days (refresh), codes ten minutes.
var cleanupTests = []test{
	{"NothingExpiredDeletesNothing", testCleanupNothing},
	{"ExpiredCodesAndSessionsGoLiveOnesStay", testCleanupCodesSessions},
	{"ExpiredAccessTokenGoesFamilyWithLiveRefreshTokenStays", testCleanupAccessToken},
	{"RotatedRefreshTokenStaysUntilExpiryAndReuseIsStillDetected", testCleanupKeepsRotated},
	{"RotatedRefreshTokenOfALineageIsGoneAndReuseIsStillDetected", testCleanupLineage},
	{"FamilyWithNothingLiveGoesWithItsTokens", testCleanupDeadFamily},
	{"FamilyWithoutCodeOrRefreshTokenGoesWhenItsAccessTokenExpires", testCleanupAccessOnlyFamily},
	{"RevokedFamilyGoesWithItsTokensOnceItsCodeIsGone", testCleanupRevokedFamily},
	{"BatchBoundsEachCall", testCleanupBatch},
	{"NonPositiveBatchIsAnError", testCleanupBadBatch},
	{"ConcurrentCallersDeleteEachRowOnce", testCleanupConcurrent},
}

// sweep calls DeleteExpired until it deletes nothing and returns the total.
func sweep(t *testing.T, s store.Store, at time.Time, batch int) int {
	t.Helper()
	total := 0
	for range 1000 {
		n, err := s.DeleteExpired(ctx(t), at, batch)
		must(t, "delete expired", err)
		if n == 0 {
			return total
		}
		total += n
	}
	t.Fatal("delete expired: still deleting after 1000 calls")
	return 0
}

// gone fails the test unless the token is unknown to the store.
func gone(t *testing.T, s store.Store, toks ...store.Token) {
	t.Helper()
	for _, tok := range toks {
		_, _, err := s.GetToken(ctx(t), tok.Hash)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s token of generation %d: get err = %v, want it deleted", tok.Kind, tok.Generation, err)
		}
	}
}

// present fails the test unless the token is still stored (live or not).
func present(t *testing.T, s store.Store, toks ...store.Token) {
	t.Helper()
	for _, tok := range toks {
		if _, _, err := s.GetToken(ctx(t), tok.Hash); err != nil {
			t.Errorf("%s token of generation %d: get err = %v, want it kept", tok.Kind, tok.Generation, err)
		}
	}
}

// mkSession stores a session of u that expires at exp.
func mkSession(t *testing.T, s store.Store, u store.User, exp time.Time) string {
	t.Helper()
	id := newHash()
	at := now()
	must(t, "create session", s.CreateSession(ctx(t), store.Session{
		ID: id, UserID: u.ID, AuthTime: at, CreatedAt: at, ExpiresAt: exp}))
	return id
}

func testCleanupNothing(t *testing.T, s store.Store) {
	first := grant(t, s)
	u, err := s.GetUser(ctx(t), first.Family.UserID)
	must(t, "get user", err)
	mkSession(t, s, u, now().Add(time.Hour))
	if n := sweep(t, s, now(), 100); n != 0 {
		t.Errorf("deleted %d rows, want 0", n)
	}
	wantLive(t, s, true, first.Tokens...)
}

func testCleanupCodesSessions(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	at := now()
	expiredCode := mkCode(t, s, c, u) // expires in 10 minutes
	liveCode := store.AuthCode{Hash: newHash(), ClientID: c.ID, UserID: u.ID, Scopes: []string{"REPO_READ"},
		CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, "create code", s.CreateAuthCode(ctx(t), liveCode))
	expiredSession := mkSession(t, s, u, at.Add(5*time.Minute))
	liveSession := mkSession(t, s, u, at.Add(time.Hour))
	expiredDevice := mkDevice(t, s, "EXPIRED1") // expires in 10 minutes
	liveDevice := store.DeviceCode{Hash: newHash(), UserCode: "LIVEDEV1", ClientID: c.ID, Scopes: []string{"REPO_READ"},
		Status: store.DevicePending, Interval: 5 * time.Second, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, "create device code", s.CreateDeviceCode(ctx(t), liveDevice))

	if n := sweep(t, s, at.Add(30*time.Minute), 100); n != 3 {
		t.Errorf("deleted %d rows, want 3 (one code, one session, one device code)", n)
	}
	_, err := s.GetDeviceCodeByUserCode(ctx(t), expiredDevice.UserCode)
	wantErr(t, "get deleted device code", err, store.ErrNotFound)
	_, err = s.GetDeviceCodeByUserCode(ctx(t), liveDevice.UserCode)
	must(t, "get live device code", err)
	_, err = s.RedeemAuthCode(ctx(t), codeBy(t, s, expiredCode), now(), failIssue(t))
	wantErr(t, "redeem deleted code", err, store.ErrNotFound)
	_, err = s.GetSession(ctx(t), expiredSession)
	wantErr(t, "get deleted session", err, store.ErrNotFound)
	_, err = s.GetSession(ctx(t), liveSession)
	must(t, "get live session", err)
	redeem(t, s, liveCode.Hash)
}

func testCleanupAccessToken(t *testing.T, s store.Store) {
	first := grant(t, s)
	sweep(t, s, now().Add(2*time.Hour), 100)
	gone(t, s, tokenOf(t, first, store.AccessToken))
	wantLive(t, s, true, tokenOf(t, first, store.RefreshToken))
	second := rotate(t, s, tokenOf(t, first, store.RefreshToken).Hash)
	wantLive(t, s, true, second.Tokens...)
}

// testCleanupKeepsRotated: a family without a lineage (issued before
// lineages) keeps its rotated refresh tokens until they expire, so that
// their reuse is detected by their rows.
func testCleanupKeepsRotated(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	first, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, mkCode(t, s, c, u)), now(), func(code store.AuthCode) (store.Issue, error) {
		iss, err := issueFromCode(code)
		iss.Family.Lineage = ""
		return iss, err
	})
	must(t, "redeem code", err)
	second := rotate(t, s, tokenOf(t, first, store.RefreshToken).Hash)
	sweep(t, s, now().Add(2*time.Hour), 100)
	present(t, s, tokenOf(t, first, store.RefreshToken), tokenOf(t, second, store.RefreshToken))
	_, err = s.RotateRefreshToken(ctx(t), refreshOf(t, first), now(), failRotation(t))
	wantErr(t, "rotate a rotated token after cleanup", err, store.ErrTokenReused)
	wantLive(t, s, false, tokenOf(t, second, store.RefreshToken))
}

// testCleanupLineage: a family with a lineage keeps no rotated refresh
// token, and its reuse is still detected after a sweep.
func testCleanupLineage(t *testing.T, s store.Store) {
	first := grant(t, s)
	second := rotate(t, s, tokenOf(t, first, store.RefreshToken).Hash)
	gone(t, s, first.Tokens...)
	sweep(t, s, now().Add(2*time.Hour), 100)
	present(t, s, tokenOf(t, second, store.RefreshToken))
	_, err := s.RotateRefreshToken(ctx(t), refreshOf(t, first), now(), failRotation(t))
	wantErr(t, "rotate a rotated token after cleanup", err, store.ErrTokenReused)
	wantLive(t, s, false, tokenOf(t, second, store.RefreshToken))
}

func testCleanupDeadFamily(t *testing.T, s store.Store) {
	first := grant(t, s)
	second := rotate(t, s, tokenOf(t, first, store.RefreshToken).Hash)
	// Another family whose refresh token outlives the sweep's horizon.
	keep := grantUntil(t, s, mkClient(t, s, "other"), mkUser(t, s, "bob"), now().Add(200*24*time.Hour))

	horizon := now().Add(91 * 24 * time.Hour)
	// Two codes, one family (its four tokens go with it, uncounted) and
	// the expired access token of keep.
	if n := sweep(t, s, horizon, 100); n != 4 {
		t.Errorf("deleted %d rows, want 4 (two codes, one family, one token)", n)
	}
	gone(t, s, first.Tokens...)
	gone(t, s, second.Tokens...)
	gone(t, s, tokenOf(t, keep, store.AccessToken))
	wantLive(t, s, true, tokenOf(t, keep, store.RefreshToken))
}

func testCleanupAccessOnlyFamily(t *testing.T, s store.Store) {
	c := mkClient(t, s, "service")
	access := newTokens([]string{"REPO_READ"})[:1] // an hour
	iss, err := s.CreateFamily(ctx(t), store.Issue{Family: store.TokenFamily{ClientID: c.ID, Scopes: []string{"REPO_READ"}}, Tokens: access}, now())
	must(t, "create family", err)
	if n := sweep(t, s, now().Add(30*time.Minute), 100); n != 0 {
		t.Errorf("deleted %d rows before the access token expired, want 0", n)
	}
	wantLive(t, s, true, iss.Tokens...)
	if n := sweep(t, s, now().Add(2*time.Hour), 100); n != 1 {
		t.Errorf("deleted %d rows, want 1 (the family)", n)
	}
	gone(t, s, iss.Tokens...)
}

func testCleanupRevokedFamily(t *testing.T, s store.Store) {
	first := grant(t, s)
	other := redeem(t, s, mkCode(t, s, mkClient(t, s, "other"), mkUser(t, s, "bob")))
	must(t, "revoke family", s.RevokeFamily(ctx(t), first.Family.ID, now()))
	// While the code that issued it is stored, the revoked family stays,
	// so that the redeemed code names it; its tokens are dead already.
	if n := sweep(t, s, now(), 100); n != 0 {
		t.Errorf("deleted %d rows while the family's code is stored, want 0", n)
	}
	present(t, s, first.Tokens...)
	wantLive(t, s, false, first.Tokens...)
	// Once the codes expired, both codes go and then the revoked family.
	if n := sweep(t, s, now().Add(11*time.Minute), 100); n != 3 {
		t.Errorf("deleted %d rows, want 3 (two codes, the revoked family)", n)
	}
	gone(t, s, first.Tokens...)
	wantLive(t, s, true, tokenOf(t, other, store.RefreshToken))
}

func testCleanupBatch(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	at := now()
	for range 25 {
		mkSession(t, s, u, at.Add(time.Minute))
	}
	for i, want := range []int{10, 10, 5, 0} {
		n, err := s.DeleteExpired(ctx(t), at.Add(time.Hour), 10)
		must(t, "delete expired", err)
		if n != want {
			t.Errorf("call %d deleted %d rows, want %d", i+1, n, want)
		}
	}
}

func testCleanupBadBatch(t *testing.T, s store.Store) {
	for _, batch := range []int{0, -1} {
		if _, err := s.DeleteExpired(ctx(t), now(), batch); err == nil {
			t.Errorf("batch %d: no error", batch)
		}
	}
}

// grantUntil redeems a fresh code of c and u whose refresh token expires at exp.
func grantUntil(t *testing.T, s store.Store, c store.Client, u store.User, exp time.Time) store.Issue {
	t.Helper()
	iss, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, mkCode(t, s, c, u)), now(), func(code store.AuthCode) (store.Issue, error) {
		iss, err := issueFromCode(code)
		for i := range iss.Tokens {
			if iss.Tokens[i].Kind == store.RefreshToken {
				iss.Tokens[i].ExpiresAt = exp
			}
		}
		return iss, err
	})
	must(t, "redeem code", err)
	return iss
}

// testCleanupConcurrent runs many cleaners at once, as several nodes do:
// together they delete every expired row exactly once, without errors, and
// leave the live rows alone.
func testCleanupConcurrent(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	const grants, sessions = 6, 30
	var dead []store.Token
	for range grants {
		dead = append(dead, redeem(t, s, mkCode(t, s, c, u)).Tokens...)
	}
	keep := grantUntil(t, s, c, u, now().Add(200*24*time.Hour))
	for range sessions {
		mkSession(t, s, u, now().Add(time.Minute))
	}
	liveSession := mkSession(t, s, u, now().Add(365*24*time.Hour))

	// At the horizon every code and every session but one has expired,
	// every family but keep has nothing live, and keep's access token has
	// expired: 7 codes + 30 sessions + 6 families + 1 token.
	horizon := now().Add(91 * 24 * time.Hour)
	const want = grants + 1 + sessions + grants + 1
	var total atomic.Int64
	errs := parallel(8, func(int) error {
		for range 1000 {
			n, err := s.DeleteExpired(ctx(t), horizon, 3)
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			total.Add(int64(n))
		}
		return errors.New("still deleting after 1000 calls")
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("cleaner %d: %v", i, err)
		}
	}
	if got := total.Load(); got != want {
		t.Errorf("cleaners deleted %d rows together, want %d", got, want)
	}
	if n := sweep(t, s, horizon, 3); n != 0 {
		t.Errorf("a sweep after the cleaners deleted %d more rows", n)
	}
	gone(t, s, dead...)
	gone(t, s, tokenOf(t, keep, store.AccessToken))
	wantLive(t, s, true, tokenOf(t, keep, store.RefreshToken))
	_, err := s.GetSession(ctx(t), liveSession)
	must(t, "get live session", err)
}
