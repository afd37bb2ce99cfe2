package storetest

import (
	"testing"
	"time"

	"latchkey/internal/store"
)

// identityTests cover what issue 16 added: identity sources, external
// identities, permissions granted by a source's group mapping, and the
// sessions that went through a source.
var identityTests = []test{
	{"SourcesRoundTripInOrder", testSourcesRoundTrip},
	{"SourceNamesAreUnique", testSourceNamesUnique},
	{"UpdateSourceKeepsKind", testUpdateSource},
	{"DeleteSourceInUse", testDeleteSourceInUse},
	{"UserSourceRoundTrip", testUserSource},
	{"LinkIdentities", testLinkIdentities},
	{"SyncSourcePermissions", testSyncSourcePermissions},
	{"AdministratorPermissionsWin", testAdminPermissionsWin},
	{"DeleteSourceSessions", testDeleteSourceSessions},
}

func mkSource(t *testing.T, s store.Store, name string, kind store.SourceKind, position int) store.IdentitySource {
	t.Helper()
	src, err := s.CreateIdentitySource(ctx(t), store.IdentitySource{
		Name: name, DisplayName: "Source " + name, Kind: kind, Enabled: true, Position: position,
		Config: []byte(`{"url":"ldap://example.org"}`), Secret: []byte{1, 2, 3}, CreatedAt: now(),
	})
	must(t, "create source "+name, err)
	return src
}

func testSourcesRoundTrip(t *testing.T, s store.Store) {
	b := mkSource(t, s, "corp", store.SourceLDAP, 2)
	a := mkSource(t, s, "keycloak", store.SourceOIDC, 1)
	got, err := s.GetIdentitySource(ctx(t), b.ID)
	must(t, "get source", err)
	same(t, "source", got, b)
	byName, err := s.GetIdentitySourceByName(ctx(t), "KEYCLOAK")
	must(t, "get source by name", err)
	same(t, "source by name", byName, a)
	list, err := s.ListIdentitySources(ctx(t))
	must(t, "list sources", err)
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("sources not in position order: %+v", list)
	}
	_, err = s.GetIdentitySource(ctx(t), 9999)
	wantErr(t, "missing source", err, store.ErrNotFound)
}

func testSourceNamesUnique(t *testing.T, s store.Store) {
	mkSource(t, s, "corp", store.SourceLDAP, 0)
	_, err := s.CreateIdentitySource(ctx(t), store.IdentitySource{Name: "Corp", Kind: store.SourceOIDC, CreatedAt: now()})
	wantErr(t, "taken name", err, store.ErrAlreadyExists)
	other := mkSource(t, s, "other", store.SourceOIDC, 0)
	_, err = s.UpdateIdentitySource(ctx(t), other.ID, func(src store.IdentitySource) (store.IdentitySource, error) {
		src.Name = "CORP"
		return src, nil
	})
	wantErr(t, "rename to a taken name", err, store.ErrAlreadyExists)
}

func testUpdateSource(t *testing.T, s store.Store) {
	src := mkSource(t, s, "corp", store.SourceLDAP, 0)
	at := now().Add(time.Minute)
	got, err := s.UpdateIdentitySource(ctx(t), src.ID, func(x store.IdentitySource) (store.IdentitySource, error) {
		x.Kind = store.SourceOIDC // ignored
		x.Enabled, x.Position, x.DisplayName = false, 7, "Corporate directory"
		x.Config, x.Secret = []byte(`{"url":"ldaps://dir.example.org"}`), []byte{9}
		x.UpdatedAt, x.SyncedAt, x.SyncError = at, at, "cannot connect"
		return x, nil
	})
	must(t, "update source", err)
	if got.Kind != store.SourceLDAP {
		t.Errorf("kind changed to %q", got.Kind)
	}
	again, err := s.GetIdentitySource(ctx(t), src.ID)
	must(t, "get source", err)
	same(t, "updated source", again, got)
	if again.Enabled || again.Position != 7 || string(again.Config) != `{"url":"ldaps://dir.example.org"}` ||
		len(again.Secret) != 1 || again.SyncError != "cannot connect" || !again.SyncedAt.Equal(at) {
		t.Errorf("update not kept: %+v", again)
	}
}

func testDeleteSourceInUse(t *testing.T, s store.Store) {
	src := mkSource(t, s, "corp", store.SourceLDAP, 0)
	u := mkUser(t, s, "ada")
	_, err := s.UpdateUser(ctx(t), u.ID, func(x store.User) (store.User, error) { x.SourceID = src.ID; return x, nil })
	must(t, "move user to source", err)
	wantErr(t, "delete source in use", s.DeleteIdentitySource(ctx(t), src.ID), store.ErrInUse)
	other := mkSource(t, s, "keycloak", store.SourceOIDC, 0)
	local := mkUser(t, s, "bob")
	must(t, "link", s.LinkIdentity(ctx(t), store.ExternalIdentity{SourceID: other.ID, Subject: "sub-1", UserID: local.ID, CreatedAt: now()}))
	p := mkProject(t, s, "PRJ")
	_, err = s.SyncSourcePermissions(ctx(t), local.ID, other.ID,
		[]store.Permission{{Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_WRITE"}})
	must(t, "sync permissions", err)
	must(t, "delete unused source", s.DeleteIdentitySource(ctx(t), other.ID))
	_, err = s.GetLinkedIdentity(ctx(t), other.ID, "sub-1")
	wantErr(t, "identity after delete", err, store.ErrNotFound)
	perms, err := s.ListPermissions(ctx(t), local.ID)
	must(t, "list permissions", err)
	if len(perms) != 0 {
		t.Errorf("permissions of a deleted source remain: %+v", perms)
	}
	wantErr(t, "delete twice", s.DeleteIdentitySource(ctx(t), other.ID), store.ErrNotFound)
}

func testUserSource(t *testing.T, s store.Store) {
	src := mkSource(t, s, "corp", store.SourceLDAP, 0)
	u, err := s.CreateUser(ctx(t), store.User{Username: "ada", DisplayName: "Ada", SourceID: src.ID, CreatedAt: now()})
	must(t, "create user", err)
	got, err := s.GetUser(ctx(t), u.ID)
	must(t, "get user", err)
	if got.SourceID != src.ID {
		t.Fatalf("source = %d, want %d", got.SourceID, src.ID)
	}
	mkUser(t, s, "local")
	users, _, err := s.ListSourceUsers(ctx(t), src.ID, store.Page{Limit: 10})
	must(t, "list source users", err)
	if len(users) != 1 || users[0].ID != u.ID {
		t.Errorf("source users = %+v", users)
	}
	local, _, err := s.ListSourceUsers(ctx(t), 0, store.Page{Limit: 10})
	must(t, "list local users", err)
	if len(local) != 1 || local[0].Username != "local" {
		t.Errorf("local users = %+v", local)
	}
}

func testLinkIdentities(t *testing.T, s store.Store) {
	a, b := mkSource(t, s, "a", store.SourceOIDC, 0), mkSource(t, s, "b", store.SourceOIDC, 0)
	u, v := mkUser(t, s, "ada"), mkUser(t, s, "bob")
	link := store.ExternalIdentity{SourceID: a.ID, Subject: "Sub-1", UserID: u.ID, CreatedAt: now()}
	must(t, "link", s.LinkIdentity(ctx(t), link))
	got, err := s.GetLinkedIdentity(ctx(t), a.ID, "Sub-1")
	must(t, "get link", err)
	same(t, "link", got, link)
	_, err = s.GetLinkedIdentity(ctx(t), a.ID, "sub-1")
	wantErr(t, "subjects compare exactly", err, store.ErrNotFound)
	wantErr(t, "subject linked twice", s.LinkIdentity(ctx(t),
		store.ExternalIdentity{SourceID: a.ID, Subject: "Sub-1", UserID: v.ID, CreatedAt: now()}), store.ErrAlreadyExists)
	wantErr(t, "second identity in a source", s.LinkIdentity(ctx(t),
		store.ExternalIdentity{SourceID: a.ID, Subject: "Sub-2", UserID: u.ID, CreatedAt: now()}), store.ErrAlreadyExists)
	wantErr(t, "missing user", s.LinkIdentity(ctx(t),
		store.ExternalIdentity{SourceID: a.ID, Subject: "Sub-3", UserID: 9999, CreatedAt: now()}), store.ErrNotFound)
	must(t, "link in b", s.LinkIdentity(ctx(t), store.ExternalIdentity{SourceID: b.ID, Subject: "x", UserID: u.ID, CreatedAt: now()}))
	list, err := s.ListUserIdentities(ctx(t), u.ID)
	must(t, "list identities", err)
	if len(list) != 2 || list[0].SourceID != a.ID || list[1].SourceID != b.ID {
		t.Errorf("identities = %+v", list)
	}
	must(t, "unlink", s.UnlinkIdentity(ctx(t), u.ID, a.ID))
	wantErr(t, "unlink twice", s.UnlinkIdentity(ctx(t), u.ID, a.ID), store.ErrNotFound)
	must(t, "relink to another user", s.LinkIdentity(ctx(t),
		store.ExternalIdentity{SourceID: a.ID, Subject: "Sub-1", UserID: v.ID, CreatedAt: now()}))
	must(t, "delete user", s.DeleteUser(ctx(t), v.ID))
	_, err = s.GetLinkedIdentity(ctx(t), a.ID, "Sub-1")
	wantErr(t, "link of a deleted user", err, store.ErrNotFound)
}

func testSyncSourcePermissions(t *testing.T, s store.Store) {
	src := mkSource(t, s, "corp", store.SourceLDAP, 0)
	u := mkUser(t, s, "ada")
	p1, p2 := mkProject(t, s, "ONE"), mkProject(t, s, "TWO")
	perm := func(kind store.TargetKind, id int64, name string) store.Permission {
		return store.Permission{Target: kind, TargetID: id, Name: name}
	}
	got, err := s.SyncSourcePermissions(ctx(t), u.ID, src.ID, []store.Permission{
		perm(store.TargetGlobal, 0, "SYS_ADMIN"), perm(store.TargetProject, p1.ID, "PROJECT_WRITE"),
	})
	must(t, "first sync", err)
	if len(got) != 2 || got[0].SourceID != src.ID || got[1].SourceID != src.ID {
		t.Fatalf("after first sync: %+v", got)
	}
	// Changed groups: the admin right goes, the project permission
	// changes, a new one comes.
	got, err = s.SyncSourcePermissions(ctx(t), u.ID, src.ID, []store.Permission{
		perm(store.TargetProject, p1.ID, "PROJECT_READ"), perm(store.TargetProject, p2.ID, "PROJECT_ADMIN"),
	})
	must(t, "second sync", err)
	want := []store.Permission{
		{UserID: u.ID, Target: store.TargetProject, TargetID: p1.ID, Name: "PROJECT_READ", SourceID: src.ID},
		{UserID: u.ID, Target: store.TargetProject, TargetID: p2.ID, Name: "PROJECT_ADMIN", SourceID: src.ID},
	}
	same(t, "after second sync", got, want)
	listed, err := s.ListPermissions(ctx(t), u.ID)
	must(t, "list permissions", err)
	same(t, "listed", listed, want)
	got, err = s.SyncSourcePermissions(ctx(t), u.ID, src.ID, nil)
	must(t, "empty sync", err)
	if len(got) != 0 {
		t.Errorf("after leaving every group: %+v", got)
	}
	_, err = s.SyncSourcePermissions(ctx(t), 9999, src.ID, nil)
	wantErr(t, "missing user", err, store.ErrNotFound)
}

func testAdminPermissionsWin(t *testing.T, s store.Store) {
	a, b := mkSource(t, s, "a", store.SourceLDAP, 0), mkSource(t, s, "b", store.SourceOIDC, 0)
	u := mkUser(t, s, "ada")
	p := mkProject(t, s, "ONE")
	must(t, "admin sets", s.SetPermission(ctx(t),
		store.Permission{UserID: u.ID, Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_ADMIN", SourceID: a.ID}))
	got, err := s.SyncSourcePermissions(ctx(t), u.ID, a.ID, []store.Permission{
		{Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_READ"},
		{Target: store.TargetGlobal, Name: "PROJECT_CREATE"},
	})
	must(t, "sync", err)
	want := []store.Permission{
		{UserID: u.ID, Target: store.TargetGlobal, Name: "PROJECT_CREATE", SourceID: a.ID},
		{UserID: u.ID, Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_ADMIN"},
	}
	same(t, "the administrator's permission stays", got, want)
	got, err = s.SyncSourcePermissions(ctx(t), u.ID, a.ID, nil)
	must(t, "sync to nothing", err)
	same(t, "the administrator's permission survives", got, want[1:])
	// Another source cannot take over what a first one granted.
	_, err = s.SyncSourcePermissions(ctx(t), u.ID, a.ID, []store.Permission{{Target: store.TargetGlobal, Name: "SYS_ADMIN"}})
	must(t, "a grants", err)
	got, err = s.SyncSourcePermissions(ctx(t), u.ID, b.ID, []store.Permission{{Target: store.TargetGlobal, Name: "LICENSED_USER"}})
	must(t, "b tries", err)
	if got[0].Name != "SYS_ADMIN" || got[0].SourceID != a.ID {
		t.Errorf("another source changed a's permission: %+v", got)
	}
	// An administrator who sets a permission takes it over from the source.
	must(t, "admin takes over", s.SetPermission(ctx(t),
		store.Permission{UserID: u.ID, Target: store.TargetGlobal, Name: "SYS_ADMIN"}))
	got, err = s.SyncSourcePermissions(ctx(t), u.ID, a.ID, nil)
	must(t, "sync after take-over", err)
	if len(got) != 2 || got[0].Name != "SYS_ADMIN" || got[0].SourceID != 0 {
		t.Errorf("the administrator's take-over did not hold: %+v", got)
	}
}

func testDeleteSourceSessions(t *testing.T, s store.Store) {
	src := mkSource(t, s, "corp", store.SourceLDAP, 0)
	member, linked, other := mkUser(t, s, "ada"), mkUser(t, s, "bob"), mkUser(t, s, "eve")
	_, err := s.UpdateUser(ctx(t), member.ID, func(x store.User) (store.User, error) { x.SourceID = src.ID; return x, nil })
	must(t, "move user", err)
	at := now()
	mk := func(user int64, source int64) string {
		id := newHash()
		must(t, "create session", s.CreateSession(ctx(t), store.Session{ID: id, UserID: user, AuthTime: at,
			CreatedAt: at, ExpiresAt: at.Add(time.Hour), SourceID: source}))
		return id
	}
	s1, s2, s3, s4 := mk(member.ID, src.ID), mk(member.ID, 0), mk(linked.ID, src.ID), mk(linked.ID, 0)
	s5 := mk(other.ID, 0)
	got, err := s.GetSession(ctx(t), s3)
	must(t, "get session", err)
	if got.SourceID != src.ID {
		t.Errorf("session source = %d", got.SourceID)
	}
	pl := store.PendingLogin{Hash: newHash(), UserID: linked.ID, AMR: []string{"pwd"}, CreatedAt: at,
		ExpiresAt: at.Add(time.Minute), SourceID: src.ID}
	must(t, "pending", s.CreatePendingLogin(ctx(t), pl))
	gp, err := s.GetPendingLogin(ctx(t), pl.Hash)
	must(t, "get pending", err)
	same(t, "pending login", gp, pl)
	n, err := s.DeleteSourceSessions(ctx(t), src.ID)
	must(t, "delete source sessions", err)
	if n != 3 {
		t.Errorf("deleted %d sessions, want 3", n)
	}
	for _, id := range []string{s1, s2, s3} {
		_, err := s.GetSession(ctx(t), id)
		wantErr(t, "session of the source", err, store.ErrNotFound)
	}
	for _, id := range []string{s4, s5} {
		_, err := s.GetSession(ctx(t), id)
		must(t, "session kept", err)
	}
	_, err = s.GetPendingLogin(ctx(t), pl.Hash)
	wantErr(t, "pending sign-in through the source", err, store.ErrNotFound)
}
