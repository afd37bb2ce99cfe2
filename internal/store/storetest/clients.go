package storetest

import (
	"errors"
	"testing"
	"time"

	"latchkey/internal/store"
)

var clientTests = []test{
	{"CreateAndGetRoundTripEveryField", testCreateClient},
	{"IDTakenIsAlreadyExists", testClientTaken},
	{"UnknownClientIsNotFound", testClientNotFound},
	{"UpdateStoresWhatFnReturns", testUpdateClient},
	{"UpdateFnErrorIsReturnedAndWritesNothing", testUpdateClientFnError},
	{"ListIsInCreationOrder", testListClients},
	{"DeleteCascadesToCodesConsentsFamiliesTokens", testDeleteClient},
	{"DeleteUnknownIsNotFound", testDeleteClientNotFound},
}

// mkClient registers a confidential client with the given ID.
func mkClient(t *testing.T, s store.Store, id string) store.Client {
	t.Helper()
	c, err := s.CreateClient(ctx(t), store.Client{
		ID: id, Name: "App " + id, SecretHash: newHash(),
		RedirectURIs: []string{"https://app.example.com/callback"},
		Scopes:       []string{"REPO_READ", "REPO_WRITE", "openid"}, DefaultScopes: []string{"PUBLIC_REPOS"},
		GrantTypes: []string{"authorization_code", "refresh_token"},
	})
	must(t, "create client "+id, err)
	return c
}

func testCreateClient(t *testing.T, s store.Store) {
	owner := mkUser(t, s, "owner")
	in := store.Client{
		ID: "client-1", Name: "My App", SecretHash: newHash(), Public: true,
		RedirectURIs: []string{
			"https://app.example.com/cb?x=\"a b\"&y=1",
			"http://127.0.0.1/callback",
			"com.example.app:/oauth2redirect/ü",
		},
		Scopes:        []string{"REPO_READ", "read:user", "openid"},
		DefaultScopes: []string{"PUBLIC_REPOS"},
		GrantTypes:    []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"},
		PKCERequired:  true, OwnerUserID: owner.ID, Suspended: true,
		CreatedAt: now().Add(-time.Hour),
	}
	c, err := s.CreateClient(ctx(t), in)
	must(t, "create client", err)
	same(t, "created client", c, in)
	got, err := s.GetClient(ctx(t), "client-1")
	must(t, "get client", err)
	same(t, "stored client", got, in)

	bare, err := s.CreateClient(ctx(t), store.Client{ID: "bare", CreatedAt: now()})
	must(t, "create bare client", err)
	if bare.CreatedAt.IsZero() {
		t.Error("create client left CreatedAt zero")
	}
	got, err = s.GetClient(ctx(t), "bare")
	must(t, "get bare client", err)
	same(t, "stored bare client", got, bare)
}

func testClientTaken(t *testing.T, s store.Store) {
	mkClient(t, s, "app")
	_, err := s.CreateClient(ctx(t), store.Client{ID: "app", Name: "Other"})
	wantErr(t, "create client with taken ID", err, store.ErrAlreadyExists)
}

func testClientNotFound(t *testing.T, s store.Store) {
	mkClient(t, s, "app")
	_, err := s.GetClient(ctx(t), "nope")
	wantErr(t, "get unknown client", err, store.ErrNotFound)
	_, err = s.UpdateClient(ctx(t), "nope", func(c store.Client) (store.Client, error) { return c, nil })
	wantErr(t, "update unknown client", err, store.ErrNotFound)
}

func testUpdateClient(t *testing.T, s store.Store) {
	c := mkClient(t, s, "app")
	secret := newHash()
	got, err := s.UpdateClient(ctx(t), "app", func(old store.Client) (store.Client, error) {
		same(t, "client given to fn", old, c)
		old.SecretHash, old.Suspended, old.Name = secret, true, "Renamed"
		old.RedirectURIs = append(old.RedirectURIs, "http://[::1]/cb")
		return old, nil
	})
	must(t, "update client", err)
	want := c
	want.SecretHash, want.Suspended, want.Name = secret, true, "Renamed"
	want.RedirectURIs = []string{"https://app.example.com/callback", "http://[::1]/cb"}
	same(t, "updated client", got, want)
	stored, err := s.GetClient(ctx(t), "app")
	must(t, "get client", err)
	same(t, "stored client", stored, want)
}

func testUpdateClientFnError(t *testing.T, s store.Store) {
	c := mkClient(t, s, "app")
	boom := errors.New("boom")
	_, err := s.UpdateClient(ctx(t), "app", func(c store.Client) (store.Client, error) {
		c.Name = "changed"
		return c, boom
	})
	wantErr(t, "update with failing fn", err, boom)
	got, err := s.GetClient(ctx(t), "app")
	must(t, "get client", err)
	same(t, "client after failed update", got, c)
}

func testListClients(t *testing.T, s store.Store) {
	if cs := listAll(t, "list clients", s.ListClients); len(cs) != 0 {
		t.Fatalf("empty store lists %d clients", len(cs))
	}
	at := now()
	var want []string
	for _, id := range []string{"charlie", "alpha", "bravo"} {
		_, err := s.CreateClient(ctx(t), store.Client{ID: id, CreatedAt: at})
		must(t, "create client "+id, err)
		want = append(want, id)
	}
	cs := listAll(t, "list clients", s.ListClients)
	checkPaging(t, "clients", s.ListClients, cs)
	var got []string
	for _, c := range cs {
		got = append(got, c.ID)
	}
	same(t, "client IDs", got, want)
}

func testDeleteClient(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	doomed, kept := mkClient(t, s, "doomed"), mkClient(t, s, "kept")
	pending := mkCode(t, s, doomed, u)
	redeemed := redeem(t, s, mkCode(t, s, doomed, u))
	keptIssue := redeem(t, s, mkCode(t, s, kept, u))
	for _, c := range []store.Client{doomed, kept} {
		must(t, "save consent", s.SaveConsent(ctx(t), store.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"REPO_READ"}}))
	}

	must(t, "delete client", s.DeleteClient(ctx(t), "doomed"))

	_, err := s.GetClient(ctx(t), "doomed")
	wantErr(t, "get deleted client", err, store.ErrNotFound)
	_, err = s.GetConsent(ctx(t), u.ID, "doomed")
	wantErr(t, "get consent of deleted client", err, store.ErrNotFound)
	for _, tok := range redeemed.Tokens {
		_, _, err = s.GetToken(ctx(t), tok.Hash)
		wantErr(t, "get token of deleted client", err, store.ErrNotFound)
	}
	_, err = s.RedeemAuthCode(ctx(t), codeBy(t, s, pending), now(), failIssue(t))
	wantErr(t, "redeem code of deleted client", err, store.ErrNotFound)

	_, err = s.GetConsent(ctx(t), u.ID, "kept")
	must(t, "get consent of kept client", err)
	for _, tok := range keptIssue.Tokens {
		_, _, err = s.GetToken(ctx(t), tok.Hash)
		must(t, "get token of kept client", err)
	}
}

func testDeleteClientNotFound(t *testing.T, s store.Store) {
	mkClient(t, s, "app")
	err := s.DeleteClient(ctx(t), "nope")
	wantErr(t, "delete unknown client", err, store.ErrNotFound)
}

var consentTests = []test{
	{"MissingIsNotFound", testConsentNotFound},
	{"SaveThenGet", testSaveConsent},
	{"SaveReplaces", testReplaceConsent},
}

func testConsentNotFound(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	c := mkClient(t, s, "app")
	_, err := s.GetConsent(ctx(t), u.ID, c.ID)
	wantErr(t, "get missing consent", err, store.ErrNotFound)
}

func testSaveConsent(t *testing.T, s store.Store) {
	u, other := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	c := mkClient(t, s, "app")
	in := store.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"REPO_READ", "openid"}, GrantedAt: now()}
	must(t, "save consent", s.SaveConsent(ctx(t), in))
	got, err := s.GetConsent(ctx(t), u.ID, c.ID)
	must(t, "get consent", err)
	same(t, "consent", got, in)
	_, err = s.GetConsent(ctx(t), other.ID, c.ID)
	wantErr(t, "get other user's consent", err, store.ErrNotFound)
}

func testReplaceConsent(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	c := mkClient(t, s, "app")
	first := store.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"REPO_READ"}, GrantedAt: now().Add(-time.Hour)}
	must(t, "save consent", s.SaveConsent(ctx(t), first))
	second := store.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"REPO_WRITE", "openid"}, GrantedAt: now()}
	must(t, "save consent again", s.SaveConsent(ctx(t), second))
	got, err := s.GetConsent(ctx(t), u.ID, c.ID)
	must(t, "get consent", err)
	same(t, "replaced consent", got, second)
}

var sessionTests = []test{
	{"CreateGetDelete", testSession},
	{"ExpiredSessionIsStillReturned", testExpiredSession},
	{"IDTakenIsAlreadyExists", testSessionTaken},
}

func testSession(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	at := now()
	in := store.Session{ID: newHash(), UserID: u.ID, AuthTime: at.Add(-time.Minute), CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, "create session", s.CreateSession(ctx(t), in))
	got, err := s.GetSession(ctx(t), in.ID)
	must(t, "get session", err)
	same(t, "session", got, in)
	must(t, "delete session", s.DeleteSession(ctx(t), in.ID))
	_, err = s.GetSession(ctx(t), in.ID)
	wantErr(t, "get deleted session", err, store.ErrNotFound)
	must(t, "delete session again", s.DeleteSession(ctx(t), in.ID))
}

func testExpiredSession(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	at := now().Add(-48 * time.Hour)
	in := store.Session{ID: newHash(), UserID: u.ID, AuthTime: at, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, "create session", s.CreateSession(ctx(t), in))
	got, err := s.GetSession(ctx(t), in.ID)
	must(t, "get expired session", err)
	same(t, "expired session", got, in)
}

func testSessionTaken(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	in := store.Session{ID: newHash(), UserID: u.ID, AuthTime: now(), CreatedAt: now(), ExpiresAt: now().Add(time.Hour)}
	must(t, "create session", s.CreateSession(ctx(t), in))
	err := s.CreateSession(ctx(t), in)
	wantErr(t, "create session with taken ID", err, store.ErrAlreadyExists)
}
