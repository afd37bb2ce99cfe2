package scope_test

import (
	"errors"
	"slices"
	"testing"

	"latchkey/internal/scope"
	"latchkey/internal/store"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name    string
		in      string
		want    scope.Set
		unknown string // the token reported when Parse must fail
	}{
		{name: "empty is no scope", in: "", want: nil},
		{name: "spaces only are no scope", in: "   ", want: nil},
		{name: "one Bitbucket key", in: "REPO_READ", want: scope.Set{"REPO_READ"}},
		{name: "Bitbucket keys in any case", in: "repo_read Project_Admin", want: scope.Set{"PROJECT_ADMIN", "REPO_READ"}},
		{name: "sorted and de-duplicated", in: "REPO_WRITE  REPO_READ repo_write", want: scope.Set{"REPO_READ", "REPO_WRITE"}},
		{name: "ACCOUNT_WRITE", in: "account_write", want: scope.Set{"ACCOUNT_WRITE"}},
		{name: "OpenID Connect scopes", in: "openid email profile groups", want: scope.Set{"email", "groups", "openid", "profile"}},
		{name: "Gitea scopes", in: "write:repository read:user", want: scope.Set{"read:user", "write:repository"}},
		{name: "both vocabularies together", in: "openid REPO_READ read:repository", want: scope.Set{"REPO_READ", "openid", "read:repository"}},
		{name: "OpenID scopes are case-sensitive", in: "OPENID", unknown: "OPENID"},
		{name: "Gitea scopes are case-sensitive", in: "Read:Repository", unknown: "Read:Repository"},
		{name: "unknown scope", in: "REPO_READ NO_SUCH_SCOPE", unknown: "NO_SUCH_SCOPE"},
		{name: "comma is not a separator", in: "REPO_READ,REPO_WRITE", unknown: "REPO_READ,REPO_WRITE"},
		{name: "tab is not a separator", in: "REPO_READ\tREPO_WRITE", unknown: "REPO_READ\tREPO_WRITE"},
		{name: "double quote is outside scope-token", in: `REPO_READ"`, unknown: `REPO_READ"`},
		{name: "backslash is outside scope-token", in: `REPO_READ\`, unknown: `REPO_READ\`},
		{name: "non-ASCII is outside scope-token", in: "REPO_RÉAD", unknown: "REPO_RÉAD"},
		{name: "control character is outside scope-token", in: "REPO_READ\x00", unknown: "REPO_READ\x00"},
		{name: "a known name with a prefix is unknown", in: "xREPO_READ", unknown: "xREPO_READ"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := scope.Parse(c.in)
			if c.unknown != "" {
				var ue *scope.UnknownError
				if !errors.As(err, &ue) || ue.Scope != c.unknown || got != nil {
					t.Fatalf("Parse(%q) = %q, %v; want UnknownError for %q", c.in, got, err, c.unknown)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("Parse(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}

// ladder is the Bitbucket scope ladder, lowest first.
var ladder = []string{
	scope.PublicRepos, scope.RepoRead, scope.RepoWrite, scope.RepoAdmin,
	scope.ProjectAdmin, scope.AdminWrite, scope.SystemAdmin,
}

func TestImpliesFollowsTheLadder(t *testing.T) {
	for i, held := range ladder {
		for j, asked := range ladder {
			if got, want := (scope.Set{held}).Implies(asked), i >= j; got != want {
				t.Errorf("{%s}.Implies(%s) = %v, want %v", held, asked, got, want)
			}
		}
	}
}

func TestAccountWriteStandsApart(t *testing.T) {
	for _, k := range ladder {
		if scope.MustParse(k).Implies(scope.AccountWrite) {
			t.Errorf("%s implies ACCOUNT_WRITE", k)
		}
	}
	// ACCOUNT_WRITE grants nothing on the ladder above what every request
	// has anyway (PUBLIC_REPOS).
	for _, k := range ladder[1:] {
		if scope.MustParse(scope.AccountWrite).Implies(k) {
			t.Errorf("ACCOUNT_WRITE implies %s", k)
		}
	}
	if !scope.MustParse(scope.AccountWrite).Implies(scope.AccountWrite) {
		t.Error("ACCOUNT_WRITE does not imply itself")
	}
}

func TestImpliesAndCovers(t *testing.T) {
	for _, c := range []struct {
		held, asked string
		want        bool
	}{
		{"REPO_WRITE", "REPO_READ PUBLIC_REPOS", true},
		{"REPO_READ", "REPO_WRITE", false},
		{"PUBLIC_REPOS REPO_READ REPO_WRITE", "REPO_ADMIN", false},
		{"PUBLIC_REPOS REPO_READ REPO_WRITE", "REPO_READ REPO_WRITE", true},
		{"PROJECT_ADMIN", "REPO_ADMIN REPO_WRITE REPO_READ", true},
		{"REPO_ADMIN", "PROJECT_ADMIN", false},
		{"SYSTEM_ADMIN", "ADMIN_WRITE PROJECT_ADMIN REPO_ADMIN", true},
		{"ADMIN_WRITE", "SYSTEM_ADMIN", false},
		{"SYSTEM_ADMIN", "ACCOUNT_WRITE", false},
		{"SYSTEM_ADMIN ACCOUNT_WRITE", "ACCOUNT_WRITE REPO_ADMIN", true},
		{"ACCOUNT_WRITE", "REPO_READ", false},
		{"SYSTEM_ADMIN", "openid", false},
		{"openid", "openid", true},
		{"openid", "REPO_READ", false},
		{"openid profile", "profile email", false},
		{"REPO_WRITE", "read:repository", true},
		{"read:repository", "REPO_WRITE", false},
		{"write:repository", "REPO_WRITE", true},
		{"REPO_READ", "", true},
		{"", "", true},
		{"", "REPO_READ", false},
	} {
		held, asked := scope.MustParse(c.held), scope.MustParse(c.asked)
		if got := held.Covers(asked); got != c.want {
			t.Errorf("{%s}.Covers({%s}) = %v, want %v", c.held, c.asked, got, c.want)
		}
		if len(asked) == 1 && held.Implies(asked[0]) != c.want {
			t.Errorf("{%s}.Implies(%s) = %v, want %v", c.held, asked[0], !c.want, c.want)
		}
	}
}

func TestARestrictionNarrowsAndIsNeverImpliedAway(t *testing.T) {
	for _, c := range []struct {
		name, held, asked string
		want              bool
	}{
		{"the restricted set covers itself", "public-only read:repository", "public-only read:repository", true},
		{"the unrestricted set covers the restricted one", "read:repository", "public-only read:repository", true},
		{"the restricted set does not cover the unrestricted one", "public-only read:repository", "read:repository", false},
		{"a restriction is not dropped across vocabularies", "public-only REPO_WRITE", "REPO_READ", false},
		{"a restriction does not cover all", "public-only all", "all", false},
		{"a restriction does not cover an account scope", "public-only write:user", "write:user", false},
		{"a restriction does not cover an admin scope", "public-only write:admin", "read:admin", false},
		{"a restriction does not cover an organization scope", "public-only read:organization", "read:organization", false},
		{"the restricted set covers a narrower restricted set", "public-only write:repository", "public-only read:repository", true},
		{"the restricted set does not cover a wider restricted set", "public-only read:repository", "public-only write:repository", false},
		{"a restricted set covers what every token has", "public-only read:repository", "PUBLIC_REPOS", true},
		{"a restricted set covers identity scopes it holds", "public-only read:repository openid email", "openid email", true},
		{"a restricted set covers scopes that grant nothing", "public-only read:repository", "read:user read:issue", true},
		{"any set covers the bare restriction", "read:repository", "public-only", true},
		{"the bare restriction covers itself", "public-only", "public-only", true},
		{"the bare restriction covers no capability", "public-only", "read:repository", false},
		{"adding a restriction to the request narrows it", "SYSTEM_ADMIN", "public-only REPO_ADMIN", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			held, asked := scope.MustParse(c.held), scope.MustParse(c.asked)
			if got := held.Covers(asked); got != c.want {
				t.Errorf("{%s}.Covers({%s}) = %v, want %v", c.held, c.asked, got, c.want)
			}
			if len(asked) == 1 && held.Implies(asked[0]) != c.want {
				t.Errorf("{%s}.Implies(%s) = %v, want %v", c.held, asked[0], !c.want, c.want)
			}
		})
	}
}

// Projects and repositories the access table refers to.
var (
	privProject = store.Project{ID: 1, Key: "PRIV"}
	pubProject  = store.Project{ID: 2, Key: "PUB", Public: true}
	otherProj   = store.Project{ID: 3, Key: "OTHER"}
	privRepo    = store.Repo{ID: 10, ProjectID: 1, Slug: "secret"}
	pubRepo     = store.Repo{ID: 11, ProjectID: 1, Slug: "open", Public: true}
	repoInPub   = store.Repo{ID: 12, ProjectID: 2, Slug: "in-public"}
	otherRepo   = store.Repo{ID: 13, ProjectID: 3, Slug: "other"}
)

func globalPerm(name string) store.Permission {
	return store.Permission{Target: store.TargetGlobal, Name: name}
}

func projectPerm(p store.Project, name string) store.Permission {
	return store.Permission{Target: store.TargetProject, TargetID: p.ID, Name: name}
}

func repoPerm(r store.Repo, name string) store.Permission {
	return store.Permission{Target: store.TargetRepo, TargetID: r.ID, Name: name}
}

func projectOf(r store.Repo) store.Project {
	for _, p := range []store.Project{privProject, pubProject, otherProj} {
		if p.ID == r.ProjectID {
			return p
		}
	}
	panic("no project")
}

func TestRepoLevel(t *testing.T) {
	for _, c := range []struct {
		name   string
		scopes string
		perms  []store.Permission
		repo   store.Repo
		want   scope.Level
	}{
		{"token caps a project writer to read", "REPO_READ", []store.Permission{projectPerm(privProject, "PROJECT_WRITE")}, privRepo, scope.Read},
		{"user caps an admin token to write", "REPO_ADMIN", []store.Permission{projectPerm(privProject, "PROJECT_WRITE")}, privRepo, scope.Write},
		{"user caps a write token to read", "REPO_WRITE", []store.Permission{repoPerm(privRepo, "REPO_READ")}, privRepo, scope.Read},
		{"no permission, no access to a private repository", "REPO_ADMIN", nil, privRepo, scope.NoAccess},
		{"PUBLIC_REPOS gives nothing private, whatever the user may do", "PUBLIC_REPOS", []store.Permission{projectPerm(privProject, "PROJECT_ADMIN")}, privRepo, scope.NoAccess},
		{"ACCOUNT_WRITE gives nothing private", "ACCOUNT_WRITE", []store.Permission{globalPerm("SYS_ADMIN")}, privRepo, scope.NoAccess},
		{"public repository readable with PUBLIC_REPOS", "PUBLIC_REPOS", nil, pubRepo, scope.Read},
		{"repository of a public project readable with PUBLIC_REPOS", "PUBLIC_REPOS", nil, repoInPub, scope.Read},
		{"public repository readable with ACCOUNT_WRITE only", "ACCOUNT_WRITE", nil, pubRepo, scope.Read},
		{"public repository: no write without permission", "REPO_ADMIN", nil, pubRepo, scope.Read},
		{"public repository: write with permission", "REPO_WRITE", []store.Permission{repoPerm(pubRepo, "REPO_WRITE")}, pubRepo, scope.Write},
		{"global ADMIN administers every repository", "REPO_ADMIN", []store.Permission{globalPerm("ADMIN")}, otherRepo, scope.Admin},
		{"global SYS_ADMIN administers every repository", "SYSTEM_ADMIN", []store.Permission{globalPerm("SYS_ADMIN")}, privRepo, scope.Admin},
		{"global ADMIN is still capped by the token", "REPO_WRITE", []store.Permission{globalPerm("ADMIN")}, privRepo, scope.Write},
		{"PROJECT_CREATE grants no repository", "REPO_ADMIN", []store.Permission{globalPerm("PROJECT_CREATE")}, privRepo, scope.NoAccess},
		{"project permission is inherited by its repositories", "REPO_READ", []store.Permission{projectPerm(privProject, "PROJECT_READ")}, privRepo, scope.Read},
		{"project permission does not reach another project", "REPO_ADMIN", []store.Permission{projectPerm(privProject, "PROJECT_ADMIN")}, otherRepo, scope.NoAccess},
		{"repository permission above the project's wins", "REPO_WRITE", []store.Permission{projectPerm(privProject, "PROJECT_READ"), repoPerm(privRepo, "REPO_WRITE")}, privRepo, scope.Write},
		{"repository permission does not reach another repository", "REPO_ADMIN", []store.Permission{repoPerm(privRepo, "REPO_ADMIN")}, otherRepo, scope.NoAccess},
		{"permission named for another target kind grants nothing", "REPO_ADMIN", []store.Permission{{Target: store.TargetProject, TargetID: privProject.ID, Name: "REPO_ADMIN"}}, privRepo, scope.NoAccess},
		{"unknown permission name grants nothing", "REPO_ADMIN", []store.Permission{repoPerm(privRepo, "OWNER")}, privRepo, scope.NoAccess},
		{"Gitea write:repository caps like REPO_WRITE", "write:repository", []store.Permission{projectPerm(privProject, "PROJECT_ADMIN")}, privRepo, scope.Write},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := scope.Principal{UserID: 7, Scopes: scope.MustParse(c.scopes), User: scope.NewUserAccess(c.perms)}
			if got := pr.RepoLevel(c.repo, projectOf(c.repo)); got != c.want {
				t.Fatalf("RepoLevel = %v, want %v", got, c.want)
			}
		})
	}
}

func TestProjectLevel(t *testing.T) {
	for _, c := range []struct {
		name    string
		scopes  string
		perms   []store.Permission
		project store.Project
		want    scope.Level
	}{
		{"PROJECT_ADMIN token and permission", "PROJECT_ADMIN", []store.Permission{projectPerm(privProject, "PROJECT_ADMIN")}, privProject, scope.Admin},
		{"REPO_ADMIN token caps a project admin to read", "REPO_ADMIN", []store.Permission{projectPerm(privProject, "PROJECT_ADMIN")}, privProject, scope.Read},
		{"REPO_READ token, project writer: read", "REPO_READ", []store.Permission{projectPerm(privProject, "PROJECT_WRITE")}, privProject, scope.Read},
		{"PROJECT_ADMIN token, project reader: read", "PROJECT_ADMIN", []store.Permission{projectPerm(privProject, "PROJECT_READ")}, privProject, scope.Read},
		{"no permission, no private project", "SYSTEM_ADMIN", nil, privProject, scope.NoAccess},
		{"PUBLIC_REPOS gives no private project", "PUBLIC_REPOS", []store.Permission{projectPerm(privProject, "PROJECT_ADMIN")}, privProject, scope.NoAccess},
		{"public project readable with PUBLIC_REPOS", "PUBLIC_REPOS", nil, pubProject, scope.Read},
		{"global ADMIN administers every project", "PROJECT_ADMIN", []store.Permission{globalPerm("ADMIN")}, otherProj, scope.Admin},
		{"global ADMIN capped by a REPO_WRITE token", "REPO_WRITE", []store.Permission{globalPerm("ADMIN")}, otherProj, scope.Read},
		{"repository permission gives no project level", "PROJECT_ADMIN", []store.Permission{repoPerm(privRepo, "REPO_ADMIN")}, privProject, scope.NoAccess},
		{"project permission is per project", "PROJECT_ADMIN", []store.Permission{projectPerm(privProject, "PROJECT_ADMIN")}, otherProj, scope.NoAccess},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := scope.Principal{UserID: 7, Scopes: scope.MustParse(c.scopes), User: scope.NewUserAccess(c.perms)}
			if got := pr.ProjectLevel(c.project); got != c.want {
				t.Fatalf("ProjectLevel = %v, want %v", got, c.want)
			}
		})
	}
}

func TestAnonymousReadsOnlyPublic(t *testing.T) {
	anon := scope.Anonymous()
	for _, c := range []struct {
		repo store.Repo
		want scope.Level
	}{
		{privRepo, scope.NoAccess}, {pubRepo, scope.Read}, {repoInPub, scope.Read},
	} {
		if got := anon.RepoLevel(c.repo, projectOf(c.repo)); got != c.want {
			t.Errorf("anonymous on %s: %v, want %v", c.repo.Slug, got, c.want)
		}
	}
	if got := anon.ProjectLevel(privProject); got != scope.NoAccess {
		t.Errorf("anonymous on a private project: %v", got)
	}
}
