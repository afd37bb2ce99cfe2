package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"latchkey/internal/store"
)

var userTests = []test{
	{"CreateSetsIDKeepsCreatedAtAndGetReturnsIt", testCreateUser},
	{"BadTextIsRefusedOnWriteAndNotFoundOnLookup", testBadText},
	{"UsernameTakenCaseInsensitivelyIsAlreadyExists", testUserTaken},
	{"GetByUsernameIgnoresCase", testUserByName},
	{"UnknownUserIsNotFound", testUserNotFound},
	{"CountCountsUsers", testCountUsers},
	{"UpdateStoresWhatFnReturns", testUpdateUser},
	{"UpdateToTakenNameIsAlreadyExistsAndWritesNothing", testUpdateUserTaken},
	{"UpdateFnErrorIsReturnedAndWritesNothing", testUpdateUserFnError},
	{"UpdateUnknownUserIsNotFound", testUpdateUserNotFound},
}

// mkUser creates a user named name.
func mkUser(t *testing.T, s store.Store, name string) store.User {
	t.Helper()
	u, err := s.CreateUser(ctx(t), store.User{
		Username: name, Email: strings.ToLower(name) + "@example.com", DisplayName: "User " + name,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
	})
	must(t, "create user "+name, err)
	return u
}

func testCreateUser(t *testing.T, s store.Store) {
	in := store.User{Username: "Alice", Email: "alice@example.com", DisplayName: "Alice A.",
		PasswordHash: "$argon2id$x", Disabled: true, CreatedAt: now().Add(-time.Hour)}
	u, err := s.CreateUser(ctx(t), in)
	must(t, "create user", err)
	if u.ID == 0 || !u.CreatedAt.Equal(in.CreatedAt) {
		t.Fatalf("create user returned ID %d, CreatedAt %v; want an ID and %v", u.ID, u.CreatedAt, in.CreatedAt)
	}
	in.ID = u.ID
	same(t, "created user", u, in)
	got, err := s.GetUser(ctx(t), u.ID)
	must(t, "get user", err)
	same(t, "stored user", got, u)
	other := mkUser(t, s, "bob")
	if other.ID == u.ID {
		t.Errorf("two users share ID %d", u.ID)
	}
}

func testUserTaken(t *testing.T, s store.Store) {
	mkUser(t, s, "Alice")
	_, err := s.CreateUser(ctx(t), store.User{Username: "aLICE"})
	wantErr(t, "create aLICE after Alice", err, store.ErrAlreadyExists)
	n, err := s.CountUsers(ctx(t))
	must(t, "count users", err)
	if n != 1 {
		t.Errorf("count users = %d, want 1", n)
	}
}

func testUserByName(t *testing.T, s store.Store) {
	u := mkUser(t, s, "Alice")
	mkUser(t, s, "bob")
	for _, name := range []string{"Alice", "alice", "ALICE"} {
		got, err := s.GetUserByUsername(ctx(t), name)
		must(t, "get user by name "+name, err)
		same(t, "user "+name, got, u)
	}
}

func testUserNotFound(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	_, err := s.GetUser(ctx(t), u.ID+1000)
	wantErr(t, "get unknown user", err, store.ErrNotFound)
	_, err = s.GetUserByUsername(ctx(t), "nobody")
	wantErr(t, "get unknown user by name", err, store.ErrNotFound)
}

func testCountUsers(t *testing.T, s store.Store) {
	for i, name := range []string{"", "a", "b", "c"} {
		if name != "" {
			mkUser(t, s, name)
		}
		n, err := s.CountUsers(ctx(t))
		must(t, "count users", err)
		if n != i {
			t.Errorf("count users = %d, want %d", n, i)
		}
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	got, err := s.UpdateUser(ctx(t), u.ID, func(old store.User) (store.User, error) {
		same(t, "user given to fn", old, u)
		old.Username, old.Email, old.Disabled, old.PasswordHash = "Alicia", "new@example.com", true, ""
		return old, nil
	})
	must(t, "update user", err)
	want := u
	want.Username, want.Email, want.Disabled, want.PasswordHash = "Alicia", "new@example.com", true, ""
	same(t, "updated user", got, want)
	stored, err := s.GetUserByUsername(ctx(t), "ALICIA")
	must(t, "get renamed user", err)
	same(t, "stored user", stored, want)
	_, err = s.GetUserByUsername(ctx(t), "alice")
	wantErr(t, "get user by old name", err, store.ErrNotFound)
}

func testUpdateUserTaken(t *testing.T, s store.Store) {
	mkUser(t, s, "alice")
	bob := mkUser(t, s, "bob")
	_, err := s.UpdateUser(ctx(t), bob.ID, func(u store.User) (store.User, error) {
		u.Username, u.Email = "ALICE", "changed@example.com"
		return u, nil
	})
	wantErr(t, "rename bob to ALICE", err, store.ErrAlreadyExists)
	got, err := s.GetUser(ctx(t), bob.ID)
	must(t, "get bob", err)
	same(t, "bob after failed rename", got, bob)
}

func testUpdateUserFnError(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	boom := errors.New("boom")
	_, err := s.UpdateUser(ctx(t), u.ID, func(u store.User) (store.User, error) {
		u.Email = "changed@example.com"
		return u, boom
	})
	wantErr(t, "update with failing fn", err, boom)
	got, err := s.GetUser(ctx(t), u.ID)
	must(t, "get user", err)
	same(t, "user after failed update", got, u)
}

func testUpdateUserNotFound(t *testing.T, s store.Store) {
	called := false
	_, err := s.UpdateUser(ctx(t), 4242, func(u store.User) (store.User, error) {
		called = true
		return u, nil
	})
	wantErr(t, "update unknown user", err, store.ErrNotFound)
	if called {
		t.Error("fn was called for an unknown user")
	}
}

var projectTests = []test{
	{"CreateUpperCasesKey", testCreateProject},
	{"KeyTakenCaseInsensitivelyIsAlreadyExists", testProjectTaken},
	{"GetByKeyIgnoresCase", testProjectByKey},
	{"ListIsOrderedByKey", testListProjects},
}

// mkProject creates a project with the given key.
func mkProject(t *testing.T, s store.Store, key string) store.Project {
	t.Helper()
	p, err := s.CreateProject(ctx(t), store.Project{Key: key, Name: "Project " + key})
	must(t, "create project "+key, err)
	return p
}

func testCreateProject(t *testing.T, s store.Store) {
	in := store.Project{Key: "proj", Name: "Project", Description: "A project", Public: true, CreatedAt: now()}
	p, err := s.CreateProject(ctx(t), in)
	must(t, "create project", err)
	if p.ID == 0 || !p.CreatedAt.Equal(in.CreatedAt) {
		t.Fatalf("create project returned ID %d, CreatedAt %v; want an ID and %v", p.ID, p.CreatedAt, in.CreatedAt)
	}
	in.ID, in.Key = p.ID, "PROJ"
	same(t, "created project", p, in)
	got, err := s.GetProjectByKey(ctx(t), "PROJ")
	must(t, "get project", err)
	same(t, "stored project", got, in)
}

func testProjectTaken(t *testing.T, s store.Store) {
	mkProject(t, s, "PROJ")
	_, err := s.CreateProject(ctx(t), store.Project{Key: "Proj"})
	wantErr(t, "create Proj after PROJ", err, store.ErrAlreadyExists)
}

func testProjectByKey(t *testing.T, s store.Store) {
	p := mkProject(t, s, "Proj")
	for _, key := range []string{"PROJ", "proj", "pRoJ"} {
		got, err := s.GetProjectByKey(ctx(t), key)
		must(t, "get project "+key, err)
		same(t, "project "+key, got, p)
	}
	_, err := s.GetProjectByKey(ctx(t), "NOPE")
	wantErr(t, "get unknown project", err, store.ErrNotFound)
}

func testListProjects(t *testing.T, s store.Store) {
	if ps := listAll(t, "list projects", s.ListProjects); len(ps) != 0 {
		t.Fatalf("empty store lists %d projects", len(ps))
	}
	for _, k := range []string{"zed", "A_B", "AB", "mid", "A1"} {
		mkProject(t, s, k)
	}
	ps := listAll(t, "list projects", s.ListProjects)
	checkPaging(t, "projects", s.ListProjects, ps)
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	if want := []string{"A1", "AB", "A_B", "MID", "ZED"}; !slices.Equal(keys, want) {
		t.Errorf("project keys %q, want %q", keys, want)
	}
}

var repoTests = []test{
	{"CreateFillsIDAndProjectKey", testCreateRepo},
	{"CreateInUnknownProjectIsNotFound", testRepoNoProject},
	{"SlugTakenInProjectIsAlreadyExists", testRepoTaken},
	{"GetIgnoresCaseOfKeyAndSlug", testGetRepo},
	{"ListIsOrderedBySlugAndPerProject", testListRepos},
}

// mkRepo creates a repository with the given slug in p.
func mkRepo(t *testing.T, s store.Store, p store.Project, slug string) store.Repo {
	t.Helper()
	r, err := s.CreateRepo(ctx(t), store.Repo{ProjectID: p.ID, Slug: slug, Name: "Repo " + slug})
	must(t, "create repo "+slug, err)
	return r
}

func testCreateRepo(t *testing.T, s store.Store) {
	p := mkProject(t, s, "proj")
	in := store.Repo{ProjectID: p.ID, Slug: "my-repo", Name: "My repo", Public: true, CreatedAt: now()}
	r, err := s.CreateRepo(ctx(t), in)
	must(t, "create repo", err)
	if r.ID == 0 || !r.CreatedAt.Equal(in.CreatedAt) {
		t.Fatalf("create repo returned ID %d, CreatedAt %v; want an ID and %v", r.ID, r.CreatedAt, in.CreatedAt)
	}
	in.ID, in.ProjectKey = r.ID, "PROJ"
	same(t, "created repo", r, in)
}

func testRepoNoProject(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	_, err := s.CreateRepo(ctx(t), store.Repo{ProjectID: p.ID + 1000, Slug: "r"})
	wantErr(t, "create repo in unknown project", err, store.ErrNotFound)
}

func testRepoTaken(t *testing.T, s store.Store) {
	p := mkProject(t, s, "ONE")
	q := mkProject(t, s, "TWO")
	mkRepo(t, s, p, "repo")
	_, err := s.CreateRepo(ctx(t), store.Repo{ProjectID: p.ID, Slug: "REPO"})
	wantErr(t, "create REPO after repo", err, store.ErrAlreadyExists)
	mkRepo(t, s, q, "repo") // the same slug in another project is fine
}

func testGetRepo(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	r := mkRepo(t, s, p, "My-Repo")
	got, err := s.GetRepo(ctx(t), "proj", "MY-REPO")
	must(t, "get repo", err)
	same(t, "stored repo", got, r)
	_, err = s.GetRepo(ctx(t), "proj", "other")
	wantErr(t, "get unknown slug", err, store.ErrNotFound)
	_, err = s.GetRepo(ctx(t), "OTHER", "my-repo")
	wantErr(t, "get repo of unknown project", err, store.ErrNotFound)
}

func testListRepos(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	q := mkProject(t, s, "OTHER")
	if rs := listAll(t, "list repos", store.Bind(s.ListRepos, p.ID)); len(rs) != 0 {
		t.Fatalf("empty project lists %d repos", len(rs))
	}
	for _, slug := range []string{"zeta", "alpha", "mid"} {
		mkRepo(t, s, p, slug)
	}
	mkRepo(t, s, q, "beta")
	rs := listAll(t, "list repos", store.Bind(s.ListRepos, p.ID))
	checkPaging(t, "repos of a project", store.Bind(s.ListRepos, p.ID), rs)
	var slugs []string
	for _, r := range rs {
		slugs = append(slugs, r.Slug)
		if r.ProjectKey != "PROJ" {
			t.Errorf("repo %s has ProjectKey %q, want PROJ", r.Slug, r.ProjectKey)
		}
	}
	if want := []string{"alpha", "mid", "zeta"}; !slices.Equal(slugs, want) {
		t.Errorf("repo slugs %q, want %q", slugs, want)
	}
}

var permissionTests = []test{
	{"SetAddsOnePerTargetAndReplaces", testSetPermission},
	{"DeleteRemovesAndMissingIsNotFound", testDeletePermission},
}

func testSetPermission(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	other := mkUser(t, s, "bob")
	p := mkProject(t, s, "PROJ")
	r := mkRepo(t, s, p, "repo")
	set := []store.Permission{
		{UserID: u.ID, Target: store.TargetGlobal, Name: "LICENSED_USER"},
		{UserID: u.ID, Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_READ"},
		{UserID: u.ID, Target: store.TargetRepo, TargetID: r.ID, Name: "REPO_WRITE"},
		{UserID: u.ID, Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_ADMIN"},
		{UserID: u.ID, Target: store.TargetGlobal, Name: "SYS_ADMIN"},
	}
	for _, perm := range set {
		must(t, "set permission "+perm.Name, s.SetPermission(ctx(t), perm))
	}
	got, err := s.ListPermissions(ctx(t), u.ID)
	must(t, "list permissions", err)
	want := []store.Permission{set[2], set[3], set[4]}
	sortPermissions(got)
	sortPermissions(want)
	same(t, "permissions", got, want)
	got, err = s.ListPermissions(ctx(t), other.ID)
	must(t, "list other's permissions", err)
	if len(got) != 0 {
		t.Errorf("other user holds %v", got)
	}
}

func sortPermissions(ps []store.Permission) {
	slices.SortFunc(ps, func(a, b store.Permission) int {
		if c := strings.Compare(string(a.Target), string(b.Target)); c != 0 {
			return c
		}
		return int(a.TargetID - b.TargetID)
	})
}

func testDeletePermission(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	p := mkProject(t, s, "PROJ")
	keep := store.Permission{UserID: u.ID, Target: store.TargetGlobal, Name: "ADMIN"}
	must(t, "set global", s.SetPermission(ctx(t), keep))
	must(t, "set project", s.SetPermission(ctx(t),
		store.Permission{UserID: u.ID, Target: store.TargetProject, TargetID: p.ID, Name: "PROJECT_WRITE"}))
	must(t, "delete project permission", s.DeletePermission(ctx(t), u.ID, store.TargetProject, p.ID))
	got, err := s.ListPermissions(ctx(t), u.ID)
	must(t, "list permissions", err)
	same(t, "permissions", got, []store.Permission{keep})
	err = s.DeletePermission(ctx(t), u.ID, store.TargetProject, p.ID)
	wantErr(t, "delete missing permission", err, store.ErrNotFound)
}

// testBadText: a NUL byte or invalid UTF-8, which PostgreSQL cannot store,
// is refused with ErrInvalidText when written and simply not found when
// looked up, on every backend alike.
func testBadText(t *testing.T, s store.Store) {
	for _, bad := range []string{"a\x00b", "a\xffb"} {
		_, err := s.CreateUser(ctx(t), store.User{Username: bad})
		wantErr(t, "create user with bad text", err, store.ErrInvalidText)
		_, err = s.GetUserByUsername(ctx(t), bad)
		wantErr(t, "look up a user by bad text", err, store.ErrNotFound)
		_, err = s.GetClient(ctx(t), bad)
		wantErr(t, "look up a client by bad text", err, store.ErrNotFound)
	}
}
