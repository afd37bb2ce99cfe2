package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"latchkey/internal/store"
)

// selfServiceTests cover what the settings and admin pages need: a user's
// clients, authorizations and sessions, and when a family was last used.
var selfServiceTests = []test{
	{"ListClientsByOwnerListsOnlyThatOwnersInCreationOrder", testListClientsByOwner},
	{"RevokeClientFamiliesKillsEveryUsersFamilyOfThatClientOnly", testRevokeClientFamilies},
	{"ListFamiliesByUserListsLiveFamiliesNewestFirstWithClientName", testListFamiliesByUser},
	{"ListFamiliesByUserSkipsRevokedExpiredAndRotatedAway", testListFamiliesSkipsDead},
	{"TouchFamilyRecordsLastUseAndNeverMovesBack", testTouchFamily},
	{"TouchUnknownFamilyIsNotFound", testTouchFamilyNotFound},
	{"RevokeUserClientRevokesFamiliesAndForgetsConsent", testRevokeUserClient},
	{"RevokeUserClientTwiceIsNoError", testRevokeUserClientTwice},
	{"RevokeUserFamiliesEndsEveryAuthorizationOfThatUserOnly", testRevokeUserFamilies},
	{"RevokeUserFamiliesTwiceIsNoErrorAndKeepsTheFirstTime", testRevokeUserFamiliesTwice},
	{"ListConsentsByUserNewestFirst", testListConsentsByUser},
	{"DeleteUserSessionsKeepsTheExceptedOneAndOtherUsers", testDeleteUserSessions},
}

// auditTests cover the audit trail.
var auditTests = []test{
	{"AppendSetsIDAndTimeAndListRoundTripsEveryField", testAppendAudit},
	{"ListIsNewestFirstInPagesByCursor", testListAuditPages},
	{"AuditOutlivesTheUserAndClientItNames", testAuditOutlivesUser},
	{"DeleteBeforeRemovesOnlyOldEventsInBatches", testDeleteAuditBefore},
}

func testDeleteAuditBefore(t *testing.T, s store.Store) {
	t0 := now()
	for i := range 5 {
		_, err := s.AppendAudit(ctx(t), store.AuditEvent{At: t0.Add(time.Duration(i-3) * time.Hour), Event: "login"})
		must(t, "append", err)
	}
	n, err := s.DeleteAuditBefore(ctx(t), t0, 2) // three are older than t0
	must(t, "delete first batch", err)
	if n != 2 {
		t.Fatalf("first batch deleted %d, want 2", n)
	}
	n, err = s.DeleteAuditBefore(ctx(t), t0, 2)
	must(t, "delete second batch", err)
	if n != 1 {
		t.Fatalf("second batch deleted %d, want 1", n)
	}
	left := listAll(t, "list", s.ListAudit)
	if len(left) != 2 || left[1].At.Before(t0) {
		t.Fatalf("left %+v", left)
	}
}

// mkFamily writes a live family of u and c (an access and a refresh
// token) created at the given time.
func mkFamily(t *testing.T, s store.Store, c store.Client, u store.User, created time.Time) store.Issue {
	t.Helper()
	scopes := []string{"REPO_READ", "openid"}
	iss, err := s.CreateFamily(ctx(t), store.Issue{
		Family: store.TokenFamily{ClientID: c.ID, UserID: u.ID, Scopes: scopes, CreatedAt: created},
		Tokens: newTokens(scopes),
	}, created)
	must(t, "create family", err)
	return iss
}

// families lists the live families of a user at now.
func families(s store.Store, userID int64, at time.Time) store.List[store.UserFamily] {
	return func(c context.Context, p store.Page) ([]store.UserFamily, store.Cursor, error) {
		return s.ListFamiliesByUser(c, userID, at, p)
	}
}

// familyIDs lists the IDs of fs in order.
func familyIDs(fs []store.UserFamily) []int64 {
	var out []int64
	for _, f := range fs {
		out = append(out, f.Family.ID)
	}
	return out
}

func testListClientsByOwner(t *testing.T, s store.Store) {
	alice, bob := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	var want []string
	for i := range 3 {
		id := fmt.Sprintf("alice-%d", i)
		_, err := s.CreateClient(ctx(t), store.Client{ID: id, Name: id, OwnerUserID: alice.ID, CreatedAt: now()})
		must(t, "create client", err)
		want = append(want, id)
		_, err = s.CreateClient(ctx(t), store.Client{ID: fmt.Sprintf("bob-%d", i), OwnerUserID: bob.ID})
		must(t, "create client", err)
	}
	mkClient(t, s, "admin-registered")
	cs := listAll(t, "list alice's clients", store.Bind(s.ListClientsByOwner, alice.ID))
	checkPaging(t, "alice's clients", store.Bind(s.ListClientsByOwner, alice.ID), cs)
	var got []string
	for _, c := range cs {
		got = append(got, c.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("alice's clients = %q, want %q", got, want)
	}
	if none := listAll(t, "list clients of nobody", store.Bind(s.ListClientsByOwner, alice.ID+bob.ID+100)); len(none) != 0 {
		t.Errorf("a user without clients lists %d", len(none))
	}
}

func testRevokeClientFamilies(t *testing.T, s store.Store) {
	app, other := mkClient(t, s, "app"), mkClient(t, s, "other")
	alice, bob := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	a, b := mkFamily(t, s, app, alice, now()), mkFamily(t, s, app, bob, now())
	keep := mkFamily(t, s, other, alice, now())
	earlier := now().Add(-time.Hour)
	must(t, "revoke one family first", s.RevokeFamily(ctx(t), b.Family.ID, earlier))
	n, err := s.RevokeClientFamilies(ctx(t), "app", now())
	must(t, "revoke client's families", err)
	if n != 1 {
		t.Errorf("revoked %d families, want 1 (the other was already revoked)", n)
	}
	for _, iss := range []store.Issue{a, b} {
		_, fam, err := s.GetToken(ctx(t), iss.Tokens[0].Hash)
		must(t, "get token", err)
		if !fam.Revoked() {
			t.Errorf("family %d of the client is live", fam.ID)
		}
	}
	_, fam, err := s.GetToken(ctx(t), b.Tokens[0].Hash)
	must(t, "get token", err)
	if !fam.RevokedAt.Equal(earlier.Truncate(time.Millisecond)) {
		t.Errorf("an earlier revocation time changed to %v", fam.RevokedAt)
	}
	_, fam, err = s.GetToken(ctx(t), keep.Tokens[0].Hash)
	must(t, "get token", err)
	if fam.Revoked() {
		t.Error("another client's family was revoked")
	}
}

func testListFamiliesByUser(t *testing.T, s store.Store) {
	app := mkClient(t, s, "app")
	other, err := s.CreateClient(ctx(t), store.Client{ID: "other", Name: "Other App"})
	must(t, "create client", err)
	alice, bob := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	at := now()
	old := mkFamily(t, s, app, alice, at.Add(-2*time.Hour))
	recent := mkFamily(t, s, other, alice, at.Add(-time.Hour))
	mkFamily(t, s, app, bob, at)
	fs := listAll(t, "list alice's families", families(s, alice.ID, at))
	checkPaging(t, "alice's families", families(s, alice.ID, at), fs)
	if got, want := familyIDs(fs), []int64{recent.Family.ID, old.Family.ID}; !slices.Equal(got, want) {
		t.Fatalf("alice's families = %v, want %v (newest first)", got, want)
	}
	same(t, "listed family", fs[0].Family, recent.Family)
	if fs[0].ClientName != "Other App" || fs[1].ClientName != app.Name {
		t.Errorf("client names = %q, %q; want %q, %q", fs[0].ClientName, fs[1].ClientName, "Other App", app.Name)
	}
}

func testListFamiliesSkipsDead(t *testing.T, s store.Store) {
	app := mkClient(t, s, "app")
	alice := mkUser(t, s, "alice")
	at := now()
	revoked := mkFamily(t, s, app, alice, at)
	must(t, "revoke", s.RevokeFamily(ctx(t), revoked.Family.ID, at))
	expired, err := s.CreateFamily(ctx(t), store.Issue{
		Family: store.TokenFamily{ClientID: app.ID, UserID: alice.ID, Scopes: []string{"REPO_READ"}},
		Tokens: []store.Token{{Hash: newHash(), Kind: store.AccessToken, ExpiresAt: at.Add(-time.Minute)}},
	}, at)
	must(t, "create expired family", err)
	rotated := mkFamily(t, s, app, alice, at)
	_, err = s.RotateRefreshToken(ctx(t), refreshBy(t, s, rotated.Tokens[1].Hash), at, func(store.TokenFamily, store.Token) (store.Issue, error) {
		// The new generation's only token has already expired; the old
		// refresh token is kept (for reuse detection) and must not count.
		return store.Issue{Tokens: []store.Token{{Hash: newHash(), Kind: store.AccessToken, ExpiresAt: at.Add(-time.Second)}}}, nil
	})
	must(t, "rotate", err)
	live := mkFamily(t, s, app, alice, at)
	fs := listAll(t, "list families", families(s, alice.ID, at))
	if got, want := familyIDs(fs), []int64{live.Family.ID}; !slices.Equal(got, want) {
		t.Errorf("live families = %v, want %v (revoked %d, expired %d, rotated %d left out)",
			got, want, revoked.Family.ID, expired.Family.ID, rotated.Family.ID)
	}
}

func testTouchFamily(t *testing.T, s store.Store) {
	iss := mkFamily(t, s, mkClient(t, s, "app"), mkUser(t, s, "alice"), now())
	_, fam, err := s.GetToken(ctx(t), iss.Tokens[0].Hash)
	must(t, "get token", err)
	if !fam.LastUsedAt.IsZero() {
		t.Fatalf("a new family was last used at %v, want never", fam.LastUsedAt)
	}
	used := now()
	must(t, "touch", s.TouchFamily(ctx(t), iss.Family.ID, used))
	must(t, "touch with an older time", s.TouchFamily(ctx(t), iss.Family.ID, used.Add(-time.Hour)))
	_, fam, err = s.GetToken(ctx(t), iss.Tokens[0].Hash)
	must(t, "get token", err)
	if !fam.LastUsedAt.Equal(used) {
		t.Errorf("last used at %v, want %v", fam.LastUsedAt, used)
	}
	fs := listAll(t, "list families", families(s, fam.UserID, used))
	if len(fs) != 1 || !fs[0].Family.LastUsedAt.Equal(used) {
		t.Errorf("listed families %+v, want one last used at %v", fs, used)
	}
}

func testTouchFamilyNotFound(t *testing.T, s store.Store) {
	iss := mkFamily(t, s, mkClient(t, s, "app"), mkUser(t, s, "alice"), now())
	wantErr(t, "touch unknown family", s.TouchFamily(ctx(t), iss.Family.ID+1000, now()), store.ErrNotFound)
}

func testRevokeUserClient(t *testing.T, s store.Store) {
	app, other := mkClient(t, s, "app"), mkClient(t, s, "other")
	alice, bob := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	at := now()
	gone := []store.Issue{mkFamily(t, s, app, alice, at), mkFamily(t, s, app, alice, at)}
	kept := []store.Issue{mkFamily(t, s, other, alice, at), mkFamily(t, s, app, bob, at)}
	for _, c := range []struct {
		user   store.User
		client string
	}{{alice, "app"}, {alice, "other"}, {bob, "app"}} {
		must(t, "save consent", s.SaveConsent(ctx(t), store.Consent{
			UserID: c.user.ID, ClientID: c.client, Scopes: []string{"REPO_READ"}, GrantedAt: at}))
	}
	n, err := s.RevokeUserClient(ctx(t), alice.ID, "app", at)
	must(t, "revoke alice's app", err)
	if n != 2 {
		t.Errorf("revoked %d families, want 2", n)
	}
	for i, iss := range append(gone, kept...) {
		_, fam, err := s.GetToken(ctx(t), iss.Tokens[0].Hash)
		must(t, "get token", err)
		if want := i < len(gone); fam.Revoked() != want {
			t.Errorf("family %d (user %d, client %s) revoked = %v, want %v", fam.ID, fam.UserID, fam.ClientID, fam.Revoked(), want)
		}
	}
	_, err = s.GetConsent(ctx(t), alice.ID, "app")
	wantErr(t, "alice's forgotten consent", err, store.ErrNotFound)
	_, err = s.GetConsent(ctx(t), alice.ID, "other")
	must(t, "alice's other consent", err)
	_, err = s.GetConsent(ctx(t), bob.ID, "app")
	must(t, "bob's consent", err)
}

func testRevokeUserClientTwice(t *testing.T, s store.Store) {
	app, alice := mkClient(t, s, "app"), mkUser(t, s, "alice")
	mkFamily(t, s, app, alice, now())
	_, err := s.RevokeUserClient(ctx(t), alice.ID, "app", now())
	must(t, "revoke", err)
	n, err := s.RevokeUserClient(ctx(t), alice.ID, "app", now())
	must(t, "revoke again", err)
	if n != 0 {
		t.Errorf("second revocation revoked %d families, want 0", n)
	}
}

// testRevokeUserFamilies checks "sign out everywhere": every family,
// outstanding code, approved device code and consent of alice goes, for
// every client; bob's stay.
func testRevokeUserFamilies(t *testing.T, s store.Store) {
	app, other := mkClient(t, s, "app"), mkClient(t, s, "other")
	alice, bob := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	at := now()
	gone := []store.Issue{mkFamily(t, s, app, alice, at), mkFamily(t, s, other, alice, at)}
	kept := mkFamily(t, s, app, bob, at)
	aliceCode, bobCode := mkCode(t, s, app, alice), mkCode(t, s, app, bob)
	device := approvedDevice(t, s, alice)
	for _, c := range []struct {
		user   store.User
		client string
	}{{alice, "app"}, {alice, "other"}, {bob, "app"}} {
		must(t, "save consent", s.SaveConsent(ctx(t), store.Consent{
			UserID: c.user.ID, ClientID: c.client, Scopes: []string{"REPO_READ"}, GrantedAt: at}))
	}
	n, err := s.RevokeUserFamilies(ctx(t), alice.ID, at)
	must(t, "revoke alice's families", err)
	if n != len(gone) {
		t.Errorf("revoked %d families, want %d", n, len(gone))
	}
	for _, iss := range gone {
		wantLive(t, s, false, iss.Tokens...)
	}
	wantLive(t, s, true, kept.Tokens...)
	if fs := listAll(t, "alice's families", families(s, alice.ID, at)); len(fs) != 0 {
		t.Errorf("alice still has %d live families", len(fs))
	}
	_, err = s.RedeemAuthCode(ctx(t), codeBy(t, s, aliceCode), at, issueFromCode)
	wantErr(t, "redeem alice's outstanding code", err, store.ErrCodeReused)
	_, err = s.RedeemAuthCode(ctx(t), codeBy(t, s, bobCode), at, issueFromCode)
	must(t, "redeem bob's code", err)
	d, err := s.GetDeviceCode(ctx(t), device.Hash)
	must(t, "get device code", err)
	if d.Status != store.DeviceDenied {
		t.Errorf("alice's approved device code is %s, want %s", d.Status, store.DeviceDenied)
	}
	for _, client := range []string{"app", "other"} {
		_, err = s.GetConsent(ctx(t), alice.ID, client)
		wantErr(t, "alice's forgotten consent for "+client, err, store.ErrNotFound)
	}
	_, err = s.GetConsent(ctx(t), bob.ID, "app")
	must(t, "bob's consent", err)
}

// approvedDevice writes a device authorization that u approved.
func approvedDevice(t *testing.T, s store.Store, u store.User) store.DeviceCode {
	t.Helper()
	d := mkDevice(t, s, "WXYZBCDF")
	d, err := s.UpdateDeviceCode(ctx(t), d.Hash, now(), func(d store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
		d.Status, d.UserID, d.AuthTime = store.DeviceApproved, u.ID, now()
		return d, nil, nil
	})
	must(t, "approve device code", err)
	return d
}

func testRevokeUserFamiliesTwice(t *testing.T, s store.Store) {
	app, alice := mkClient(t, s, "app"), mkUser(t, s, "alice")
	iss := mkFamily(t, s, app, alice, now())
	first := now()
	_, err := s.RevokeUserFamilies(ctx(t), alice.ID, first)
	must(t, "revoke", err)
	n, err := s.RevokeUserFamilies(ctx(t), alice.ID, first.Add(time.Hour))
	must(t, "revoke again", err)
	if n != 0 {
		t.Errorf("second revocation revoked %d families, want 0", n)
	}
	if fam := family(t, s, iss.Tokens[0].Hash); !fam.RevokedAt.Equal(first) {
		t.Errorf("revoked at %v, want the first time %v", fam.RevokedAt, first)
	}
}

func testListConsentsByUser(t *testing.T, s store.Store) {
	mkClient(t, s, "a")
	mkClient(t, s, "b")
	alice, bob := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	at := now()
	older := store.Consent{UserID: alice.ID, ClientID: "a", Scopes: []string{"REPO_READ"}, GrantedAt: at.Add(-time.Hour)}
	newer := store.Consent{UserID: alice.ID, ClientID: "b", Scopes: []string{"openid", "profile"}, GrantedAt: at}
	for _, c := range []store.Consent{older, newer, {UserID: bob.ID, ClientID: "a", GrantedAt: at}} {
		must(t, "save consent", s.SaveConsent(ctx(t), c))
	}
	checkPaging(t, "alice's consents", store.Bind(s.ListConsentsByUser, alice.ID), []store.Consent{newer, older})
}

func testDeleteUserSessions(t *testing.T, s store.Store) {
	alice, bob := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	exp := now().Add(time.Hour)
	keep := mkSession(t, s, alice, exp)
	gone := []string{mkSession(t, s, alice, exp), mkSession(t, s, alice, exp)}
	bobs := mkSession(t, s, bob, exp)
	n, err := s.DeleteUserSessions(ctx(t), alice.ID, keep)
	must(t, "delete alice's other sessions", err)
	if n != len(gone) {
		t.Errorf("deleted %d sessions, want %d", n, len(gone))
	}
	for _, id := range gone {
		_, err := s.GetSession(ctx(t), id)
		wantErr(t, "get deleted session", err, store.ErrNotFound)
	}
	for _, id := range []string{keep, bobs} {
		_, err := s.GetSession(ctx(t), id)
		must(t, "get kept session", err)
	}
	n, err = s.DeleteUserSessions(ctx(t), alice.ID, "")
	must(t, "delete all of alice's sessions", err)
	if n != 1 {
		t.Errorf("deleted %d sessions, want 1", n)
	}
}

func testAppendAudit(t *testing.T, s store.Store) {
	in := store.AuditEvent{At: now().Add(-time.Minute), Event: "client.secret_regenerated", UserID: 7,
		Username: "alice", ClientID: "app", Remote: "2001:db8::1", Detail: `name "My App" ü`}
	e, err := s.AppendAudit(ctx(t), in)
	must(t, "append", err)
	if e.ID == 0 {
		t.Fatal("append left ID zero")
	}
	in.ID = e.ID
	same(t, "appended event", e, in)
	bare, err := s.AppendAudit(ctx(t), store.AuditEvent{At: now(), Event: "login.failed"})
	must(t, "append bare event", err)
	if bare.At.IsZero() || bare.ID <= e.ID {
		t.Errorf("bare event has At %v, ID %d (first ID %d); want At set and a larger ID", bare.At, bare.ID, e.ID)
	}
	checkPaging(t, "listed events", s.ListAudit, []store.AuditEvent{bare, in})
}

func testListAuditPages(t *testing.T, s store.Store) {
	ids := appendEvents(t, s, 7)
	var pages [][]int64
	for p := (store.Page{Limit: 3}); ; {
		es, next, err := s.ListAudit(ctx(t), p)
		must(t, "list", err)
		pages = append(pages, eventIDs(es))
		if next == "" {
			break
		}
		p.After = next
	}
	if want := [][]int64{ids[:3], ids[3:6], ids[6:]}; fmt.Sprint(pages) != fmt.Sprint(want) {
		t.Errorf("pages of 3: %v, want %v", pages, want)
	}
	checkPaging(t, "events", s.ListAudit, listAll(t, "list", s.ListAudit))
}

func testAuditOutlivesUser(t *testing.T, s store.Store) {
	alice := mkUser(t, s, "alice")
	mkClient(t, s, "app")
	e, err := s.AppendAudit(ctx(t), store.AuditEvent{Event: "client.deleted", UserID: alice.ID, Username: "alice", ClientID: "app"})
	must(t, "append", err)
	must(t, "delete client", s.DeleteClient(ctx(t), "app"))
	must(t, "delete user", s.DeleteUser(ctx(t), alice.ID))
	same(t, "events after deletions", listAll(t, "list", s.ListAudit), []store.AuditEvent{e})
}
