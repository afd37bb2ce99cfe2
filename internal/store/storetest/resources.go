package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"latchkey/internal/store"
)

// resourceTests cover the methods that manage users, projects,
// repositories and permissions through the REST API: listing, updating and
// deleting, and what a deletion takes with it.
var resourceTests = []test{
	{"ListUsersIsOrderedByNameIgnoringCase", testListUsers},
	{"DeleteUserTakesPermissionsSessionsConsentsAndTokens", testDeleteUser},
	{"DeleteUnknownUserIsNotFound", testDeleteUserNotFound},
	{"UpdateProjectStoresWhatFnReturnsWithKeyUpperCased", testUpdateProject},
	{"UpdateProjectToTakenKeyIsAlreadyExistsAndWritesNothing", testUpdateProjectTaken},
	{"UpdateProjectFnErrorIsReturnedAndUnknownIsNotFound", testUpdateProjectErrors},
	{"DeleteProjectTakesItsReposAndPermissions", testDeleteProject},
	{"ListAllReposIsOrderedByKeyThenSlug", testListAllRepos},
	{"UpdateRepoStoresWhatFnReturnsAndKeepsItsProject", testUpdateRepo},
	{"UpdateRepoToTakenSlugIsAlreadyExistsAndWritesNothing", testUpdateRepoTaken},
	{"DeleteRepoTakesItsPermissionsOnly", testDeleteRepo},
	{"ListTargetPermissionsListsHoldersOfOneTarget", testListTargetPermissions},
}

func testListUsers(t *testing.T, s store.Store) {
	if us := listAll(t, "list users", s.ListUsers); len(us) != 0 {
		t.Fatalf("empty store lists %d users", len(us))
	}
	want := map[string]store.User{}
	for _, name := range []string{"carol", "Alice", "bob", "dave", "_x", "Zed", "émile"} {
		want[name] = mkUser(t, s, name)
	}
	us := listAll(t, "list users", s.ListUsers)
	checkPaging(t, "users", s.ListUsers, us)
	var names []string
	for _, u := range us {
		names = append(names, u.Username)
		same(t, "listed user "+u.Username, u, want[u.Username])
	}
	if w := []string{"_x", "Alice", "bob", "carol", "dave", "Zed", "émile"}; !slices.Equal(names, w) {
		t.Errorf("user names %q, want %q", names, w)
	}
}

func testDeleteUser(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	bob := mkUser(t, s, "bob")
	p := mkProject(t, s, "PROJ")
	c := mkClient(t, s, "app")
	for _, id := range []int64{u.ID, bob.ID} {
		must(t, "set permission", s.SetPermission(ctx(t), store.Permission{
			UserID: id, Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_READ"}))
		must(t, "save consent", s.SaveConsent(ctx(t), store.Consent{UserID: id, ClientID: c.ID, Scopes: []string{"REPO_READ"}, GrantedAt: now()}))
	}
	session := store.Session{ID: newHash(), UserID: u.ID, AuthTime: now(), CreatedAt: now(), ExpiresAt: now().Add(time.Hour)}
	must(t, "create session", s.CreateSession(ctx(t), session))
	access := tokenOf(t, redeem(t, s, mkCode(t, s, c, u)), store.AccessToken)
	bobAccess := tokenOf(t, redeem(t, s, mkCode(t, s, c, bob)), store.AccessToken)
	pending := mkCode(t, s, c, u)

	must(t, "delete user", s.DeleteUser(ctx(t), u.ID))

	_, err := s.GetUser(ctx(t), u.ID)
	wantErr(t, "get deleted user", err, store.ErrNotFound)
	perms, err := s.ListPermissions(ctx(t), u.ID)
	must(t, "list deleted user's permissions", err)
	if len(perms) != 0 {
		t.Errorf("deleted user still holds %v", perms)
	}
	_, err = s.GetConsent(ctx(t), u.ID, c.ID)
	wantErr(t, "get deleted user's consent", err, store.ErrNotFound)
	_, err = s.GetSession(ctx(t), session.ID)
	wantErr(t, "get deleted user's session", err, store.ErrNotFound)
	_, _, err = s.GetToken(ctx(t), access.Hash)
	wantErr(t, "get deleted user's token", err, store.ErrNotFound)
	_, err = s.RedeemAuthCode(ctx(t), codeBy(t, s, pending), now(), failIssue(t))
	wantErr(t, "redeem deleted user's code", err, store.ErrNotFound)

	_, _, err = s.GetToken(ctx(t), bobAccess.Hash)
	must(t, "get another user's token", err)
	_, err = s.GetConsent(ctx(t), bob.ID, c.ID)
	must(t, "get another user's consent", err)
}

func testDeleteUserNotFound(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	wantErr(t, "delete unknown user", s.DeleteUser(ctx(t), u.ID+1000), store.ErrNotFound)
	must(t, "delete user", s.DeleteUser(ctx(t), u.ID))
	wantErr(t, "delete user twice", s.DeleteUser(ctx(t), u.ID), store.ErrNotFound)
}

func testUpdateProject(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	r := mkRepo(t, s, p, "repo")
	got, err := s.UpdateProject(ctx(t), p.ID, func(old store.Project) (store.Project, error) {
		same(t, "project given to fn", old, p)
		old.Key, old.Name, old.Description, old.Public = "renamed", "New name", "New description", true
		old.ID, old.CreatedAt = 4242, now().Add(-time.Hour) // ignored
		return old, nil
	})
	must(t, "update project", err)
	want := p
	want.Key, want.Name, want.Description, want.Public = "RENAMED", "New name", "New description", true
	same(t, "updated project", got, want)
	stored, err := s.GetProjectByKey(ctx(t), "renamed")
	must(t, "get renamed project", err)
	same(t, "stored project", stored, want)
	_, err = s.GetProjectByKey(ctx(t), "PROJ")
	wantErr(t, "get project by old key", err, store.ErrNotFound)
	moved, err := s.GetRepo(ctx(t), "RENAMED", "repo")
	must(t, "get repo under the new key", err)
	if moved.ID != r.ID || moved.ProjectKey != "RENAMED" {
		t.Errorf("repo after rename = %+v, want ID %d under RENAMED", moved, r.ID)
	}
}

func testUpdateProjectTaken(t *testing.T, s store.Store) {
	mkProject(t, s, "ONE")
	two := mkProject(t, s, "TWO")
	_, err := s.UpdateProject(ctx(t), two.ID, func(p store.Project) (store.Project, error) {
		p.Key, p.Name = "one", "changed"
		return p, nil
	})
	wantErr(t, "rename TWO to one", err, store.ErrAlreadyExists)
	got, err := s.GetProjectByKey(ctx(t), "TWO")
	must(t, "get TWO", err)
	same(t, "TWO after failed rename", got, two)
}

func testUpdateProjectErrors(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	boom := errors.New("boom")
	_, err := s.UpdateProject(ctx(t), p.ID, func(p store.Project) (store.Project, error) {
		p.Name = "changed"
		return p, boom
	})
	wantErr(t, "update with failing fn", err, boom)
	got, err := s.GetProjectByKey(ctx(t), "PROJ")
	must(t, "get project", err)
	same(t, "project after failed update", got, p)
	called := false
	_, err = s.UpdateProject(ctx(t), p.ID+1000, func(p store.Project) (store.Project, error) {
		called = true
		return p, nil
	})
	wantErr(t, "update unknown project", err, store.ErrNotFound)
	if called {
		t.Error("fn was called for an unknown project")
	}
}

func testDeleteProject(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	p := mkProject(t, s, "PROJ")
	q := mkProject(t, s, "KEEP")
	r := mkRepo(t, s, p, "repo")
	kept := mkRepo(t, s, q, "repo")
	for _, perm := range []store.Permission{
		{UserID: u.ID, Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_ADMIN"},
		{UserID: u.ID, Target: store.TargetRepo, TargetID: r.ID, Name: "REPO_WRITE"},
		{UserID: u.ID, Target: store.TargetProject, TargetID: q.ID, Name: "PROJECT_READ"},
		{UserID: u.ID, Target: store.TargetRepo, TargetID: kept.ID, Name: "REPO_ADMIN"},
		{UserID: u.ID, Target: store.TargetGlobal, Name: "PROJECT_CREATE"},
	} {
		must(t, "set permission", s.SetPermission(ctx(t), perm))
	}
	must(t, "delete project", s.DeleteProject(ctx(t), p.ID))
	_, err := s.GetProjectByKey(ctx(t), "PROJ")
	wantErr(t, "get deleted project", err, store.ErrNotFound)
	_, err = s.GetRepo(ctx(t), "PROJ", "repo")
	wantErr(t, "get repo of deleted project", err, store.ErrNotFound)
	perms, err := s.ListPermissions(ctx(t), u.ID)
	must(t, "list permissions", err)
	var left []string
	for _, perm := range perms {
		left = append(left, perm.Name)
	}
	slices.Sort(left)
	if want := []string{"PROJECT_CREATE", "PROJECT_READ", "REPO_ADMIN"}; !slices.Equal(left, want) {
		t.Errorf("permissions left %q, want %q", left, want)
	}
	wantErr(t, "delete project twice", s.DeleteProject(ctx(t), p.ID), store.ErrNotFound)
}

func testListAllRepos(t *testing.T, s store.Store) {
	if rs := listAll(t, "list all repos", s.ListAllRepos); len(rs) != 0 {
		t.Fatalf("empty store lists %d repos", len(rs))
	}
	b := mkProject(t, s, "BBB")
	a := mkProject(t, s, "AAA")
	mkProject(t, s, "EMPTY")
	mkRepo(t, s, b, "one")
	mkRepo(t, s, a, "zed")
	mkRepo(t, s, b, "Alpha")
	mkRepo(t, s, a, "mid")
	rs := listAll(t, "list all repos", s.ListAllRepos)
	checkPaging(t, "all repos", s.ListAllRepos, rs)
	var names []string
	for _, r := range rs {
		names = append(names, r.ProjectKey+"/"+r.Slug)
	}
	if want := []string{"AAA/mid", "AAA/zed", "BBB/Alpha", "BBB/one"}; !slices.Equal(names, want) {
		t.Errorf("repos %q, want %q", names, want)
	}
}

func testUpdateRepo(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	q := mkProject(t, s, "OTHER")
	r := mkRepo(t, s, p, "repo")
	got, err := s.UpdateRepo(ctx(t), r.ID, func(old store.Repo) (store.Repo, error) {
		same(t, "repo given to fn", old, r)
		old.Slug, old.Name, old.Public = "Renamed", "Renamed repo", true
		old.ProjectID, old.ProjectKey = q.ID, q.Key // ignored: a repository stays in its project
		return old, nil
	})
	must(t, "update repo", err)
	want := r
	want.Slug, want.Name, want.Public = "Renamed", "Renamed repo", true
	same(t, "updated repo", got, want)
	stored, err := s.GetRepo(ctx(t), "PROJ", "renamed")
	must(t, "get renamed repo", err)
	same(t, "stored repo", stored, want)
	_, err = s.GetRepo(ctx(t), "PROJ", "repo")
	wantErr(t, "get repo by old slug", err, store.ErrNotFound)
	_, err = s.UpdateRepo(ctx(t), r.ID+1000, func(r store.Repo) (store.Repo, error) { return r, nil })
	wantErr(t, "update unknown repo", err, store.ErrNotFound)
}

func testUpdateRepoTaken(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	mkRepo(t, s, p, "one")
	two := mkRepo(t, s, p, "two")
	_, err := s.UpdateRepo(ctx(t), two.ID, func(r store.Repo) (store.Repo, error) {
		r.Slug, r.Name = "ONE", "changed"
		return r, nil
	})
	wantErr(t, "rename two to ONE", err, store.ErrAlreadyExists)
	got, err := s.GetRepo(ctx(t), "PROJ", "two")
	must(t, "get two", err)
	same(t, "two after failed rename", got, two)
}

func testDeleteRepo(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	p := mkProject(t, s, "PROJ")
	r := mkRepo(t, s, p, "gone")
	kept := mkRepo(t, s, p, "kept")
	for _, perm := range []store.Permission{
		{UserID: u.ID, Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_READ"},
		{UserID: u.ID, Target: store.TargetRepo, TargetID: r.ID, Name: "REPO_WRITE"},
		{UserID: u.ID, Target: store.TargetRepo, TargetID: kept.ID, Name: "REPO_ADMIN"},
	} {
		must(t, "set permission", s.SetPermission(ctx(t), perm))
	}
	must(t, "delete repo", s.DeleteRepo(ctx(t), r.ID))
	_, err := s.GetRepo(ctx(t), "PROJ", "gone")
	wantErr(t, "get deleted repo", err, store.ErrNotFound)
	same(t, "repos left", listAll(t, "list repos", store.Bind(s.ListRepos, p.ID)), []store.Repo{kept})
	perms, err := s.ListPermissions(ctx(t), u.ID)
	must(t, "list permissions", err)
	var left []string
	for _, perm := range perms {
		left = append(left, perm.Name)
	}
	slices.Sort(left)
	if want := []string{"PROJECT_READ", "REPO_ADMIN"}; !slices.Equal(left, want) {
		t.Errorf("permissions left %q, want %q", left, want)
	}
	wantErr(t, "delete repo twice", s.DeleteRepo(ctx(t), r.ID), store.ErrNotFound)
}

func testListTargetPermissions(t *testing.T, s store.Store) {
	alice := mkUser(t, s, "alice")
	bob := mkUser(t, s, "bob")
	p := mkProject(t, s, "PROJ")
	r := mkRepo(t, s, p, "repo")
	set := []store.Permission{
		{UserID: bob.ID, Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_WRITE"},
		{UserID: alice.ID, Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_ADMIN"},
		{UserID: alice.ID, Target: store.TargetRepo, TargetID: r.ID, Name: "REPO_READ"},
		{UserID: bob.ID, Target: store.TargetGlobal, Name: "ADMIN"},
	}
	for _, perm := range set {
		must(t, "set permission", s.SetPermission(ctx(t), perm))
	}
	on := func(kind store.TargetKind, id int64) store.List[store.Permission] {
		return func(c context.Context, pg store.Page) ([]store.Permission, store.Cursor, error) {
			return s.ListTargetPermissions(c, kind, id, pg)
		}
	}
	checkPaging(t, "project permissions", on(store.TargetProject, p.ID), []store.Permission{set[1], set[0]})
	checkPaging(t, "repo permissions", on(store.TargetRepo, r.ID), []store.Permission{set[2]})
	checkPaging(t, "global permissions", on(store.TargetGlobal, 0), []store.Permission{set[3]})
	if got := listAll(t, "list permissions of an unknown repo", on(store.TargetRepo, r.ID+1000)); len(got) != 0 {
		t.Errorf("unknown repo has permissions %v", got)
	}
}
