package scope_test

import (
	"strings"
	"testing"

	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// The resources the verdict tests refer to.
var (
	vProject = store.Project{ID: 1, Key: "PRJ"}
	vRepo    = store.Repo{ID: 10, ProjectID: 1, Slug: "repo"}
	vPublic  = store.Repo{ID: 11, ProjectID: 1, Slug: "open", Public: true}
)

// principal builds a principal from a scope string and permissions given
// as "global:NAME", "project:NAME" (on vProject) or "repo:NAME" (on vRepo).
func principal(t *testing.T, scopes string, perms ...string) scope.Principal {
	t.Helper()
	var ps []store.Permission
	for _, p := range perms {
		kind, name, _ := strings.Cut(p, ":")
		switch kind {
		case "global":
			ps = append(ps, store.Permission{Target: store.TargetGlobal, Name: name})
		case "project":
			ps = append(ps, store.Permission{Target: store.TargetProject, TargetID: vProject.ID, Name: name})
		case "repo":
			ps = append(ps, store.Permission{Target: store.TargetRepo, TargetID: vRepo.ID, Name: name})
		default:
			t.Fatalf("bad permission %q", p)
		}
	}
	return scope.Principal{UserID: 7, Scopes: scope.MustParse(scopes), User: scope.NewUserAccess(ps)}
}

func TestRepoAccess(t *testing.T) {
	for _, c := range []struct {
		name   string
		scopes string
		perms  []string
		repo   store.Repo
		need   scope.Level
		want   scope.Verdict
	}{
		{"reader reads", "REPO_READ", []string{"repo:REPO_READ"}, vRepo, scope.Read, scope.Allow},
		{"no permission hides a private repository", "REPO_ADMIN", nil, vRepo, scope.Read, scope.DenyHidden},
		{"PUBLIC_REPOS hides a private repository the user may write", "PUBLIC_REPOS", []string{"repo:REPO_WRITE"}, vRepo, scope.Write, scope.DenyHidden},
		{"reader with a write token may not push", "REPO_WRITE", []string{"repo:REPO_READ"}, vRepo, scope.Write, scope.DenyPermission},
		{"writer with a read token lacks scope", "REPO_READ", []string{"repo:REPO_WRITE"}, vRepo, scope.Write, scope.DenyScope},
		{"reader with a read token: scope is blamed first", "REPO_READ", []string{"repo:REPO_READ"}, vRepo, scope.Write, scope.DenyScope},
		{"project admin administers its repositories", "REPO_ADMIN", []string{"project:PROJECT_ADMIN"}, vRepo, scope.Admin, scope.Allow},
		{"project writer writes its repositories", "REPO_WRITE", []string{"project:PROJECT_WRITE"}, vRepo, scope.Write, scope.Allow},
		{"global ADMIN administers every repository", "REPO_ADMIN", []string{"global:ADMIN"}, vRepo, scope.Admin, scope.Allow},
		{"PROJECT_CREATE gives no repository", "REPO_ADMIN", []string{"global:PROJECT_CREATE"}, vRepo, scope.Read, scope.DenyHidden},
		{"anyone reads a public repository", "PUBLIC_REPOS", nil, vPublic, scope.Read, scope.Allow},
		{"public repository, PUBLIC_REPOS token: pushing needs scope", "PUBLIC_REPOS", []string{"global:SYS_ADMIN"}, vPublic, scope.Write, scope.DenyScope},
		{"public repository, no permission: pushing is refused", "REPO_WRITE", nil, vPublic, scope.Write, scope.DenyPermission},
		{"public-only hides a private repository", "public-only write:repository", []string{"repo:REPO_WRITE"}, vRepo, scope.Read, scope.DenyHidden},
		{"public-only may push to a public repository", "public-only write:repository", []string{"project:PROJECT_WRITE"}, vPublic, scope.Write, scope.Allow},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := principal(t, c.scopes, c.perms...)
			if got := pr.RepoAccess(c.repo, vProject, c.need); got != c.want {
				t.Fatalf("RepoAccess(%s, need %v) = %v, want %v", c.repo.Slug, c.need, got, c.want)
			}
		})
	}
}

func TestProjectAccess(t *testing.T) {
	for _, c := range []struct {
		name      string
		scopes    string
		perms     []string
		readsRepo bool
		need      scope.Level
		want      scope.Verdict
	}{
		{"project admin administers", "PROJECT_ADMIN", []string{"project:PROJECT_ADMIN"}, false, scope.Admin, scope.Allow},
		{"REPO_ADMIN token cannot administer a project", "REPO_ADMIN", []string{"project:PROJECT_ADMIN"}, false, scope.Admin, scope.DenyScope},
		{"project reader cannot administer", "PROJECT_ADMIN", []string{"project:PROJECT_READ"}, false, scope.Admin, scope.DenyPermission},
		{"a readable repository makes the project visible", "PROJECT_ADMIN", []string{"repo:REPO_ADMIN"}, true, scope.Admin, scope.DenyPermission},
		{"a readable repository makes the project readable", "REPO_READ", []string{"repo:REPO_READ"}, true, scope.Read, scope.Allow},
		{"no permission hides the project", "PROJECT_ADMIN", nil, false, scope.Read, scope.DenyHidden},
		{"write:organization administers like PROJECT_ADMIN", "write:organization", []string{"project:PROJECT_ADMIN"}, false, scope.Admin, scope.Allow},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := principal(t, c.scopes, c.perms...)
			if got := pr.ProjectAccess(vProject, c.need, c.readsRepo); got != c.want {
				t.Fatalf("ProjectAccess(need %v) = %v, want %v", c.need, got, c.want)
			}
		})
	}
}

func TestGlobalAdminAndAccountAccess(t *testing.T) {
	for _, c := range []struct {
		name   string
		scopes string
		perms  []string
		check  func(scope.Principal) scope.Verdict
		want   scope.Verdict
	}{
		{"PROJECT_CREATE with PROJECT_ADMIN creates projects", "PROJECT_ADMIN", []string{"global:PROJECT_CREATE"}, createProject, scope.Allow},
		{"global ADMIN creates projects", "PROJECT_ADMIN", []string{"global:ADMIN"}, createProject, scope.Allow},
		{"REPO_ADMIN token cannot create projects", "REPO_ADMIN", []string{"global:SYS_ADMIN"}, createProject, scope.DenyScope},
		{"a plain user cannot create projects", "PROJECT_ADMIN", nil, createProject, scope.DenyPermission},
		{"ADMIN_WRITE and ADMIN manage users", "ADMIN_WRITE", []string{"global:ADMIN"}, manageUsers, scope.Allow},
		{"PROJECT_ADMIN token cannot manage users", "PROJECT_ADMIN", []string{"global:SYS_ADMIN"}, manageUsers, scope.DenyScope},
		{"PROJECT_CREATE user cannot manage users", "ADMIN_WRITE", []string{"global:PROJECT_CREATE"}, manageUsers, scope.DenyPermission},
		{"ADMIN_WRITE is not system administration", "ADMIN_WRITE", []string{"global:SYS_ADMIN"}, sysAdmin, scope.DenyScope},
		{"SYSTEM_ADMIN needs a SYS_ADMIN user", "SYSTEM_ADMIN", []string{"global:ADMIN"}, sysAdmin, scope.DenyPermission},
		{"all and SYS_ADMIN administer the system", "all", []string{"global:SYS_ADMIN"}, sysAdmin, scope.Allow},
		{"read:admin reads the user list", "read:admin", []string{"global:ADMIN"}, readAdmin, scope.Allow},
		{"read:admin of a plain user reads nothing", "read:admin", nil, readAdmin, scope.DenyPermission},
		{"REPO_ADMIN cannot read the user list", "REPO_ADMIN", []string{"global:SYS_ADMIN"}, readAdmin, scope.DenyScope},
		{"ACCOUNT_WRITE changes the account", "ACCOUNT_WRITE", nil, account, scope.Allow},
		{"write:user changes the account", "write:user", nil, account, scope.Allow},
		{"SYSTEM_ADMIN does not change the account", "SYSTEM_ADMIN", []string{"global:SYS_ADMIN"}, account, scope.DenyScope},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.check(principal(t, c.scopes, c.perms...)); got != c.want {
				t.Fatalf("verdict %v, want %v", got, c.want)
			}
		})
	}
}

func createProject(pr scope.Principal) scope.Verdict { return pr.GlobalAccess(scope.ProjectCreator) }
func manageUsers(pr scope.Principal) scope.Verdict   { return pr.GlobalAccess(scope.GlobalAdmin) }
func sysAdmin(pr scope.Principal) scope.Verdict      { return pr.GlobalAccess(scope.SysAdmin) }
func readAdmin(pr scope.Principal) scope.Verdict     { return pr.AdminReadAccess() }
func account(pr scope.Principal) scope.Verdict       { return pr.AccountAccess() }

func TestEveryAccountIsALicensedUser(t *testing.T) {
	if got := scope.NewUserAccess(nil).Global; got != scope.LicensedUser {
		t.Errorf("a user without permissions has global level %v, want LicensedUser", got)
	}
	if got := scope.Anonymous().GlobalLevel(); got != scope.NoGlobal {
		t.Errorf("anonymous global level %v, want none", got)
	}
}

func TestAnAdminMayNotManageASysAdmin(t *testing.T) {
	admin := principal(t, "SYSTEM_ADMIN", "global:ADMIN")
	sys := principal(t, "", "global:SYS_ADMIN").User
	plain := principal(t, "").User
	if admin.MayManage(sys) || !admin.MayManage(plain) {
		t.Errorf("ADMIN: MayManage(SYS_ADMIN) = %v, MayManage(user) = %v; want false, true", admin.MayManage(sys), admin.MayManage(plain))
	}
	if admin.MayGrantGlobal(scope.SysAdmin) || !admin.MayGrantGlobal(scope.GlobalAdmin) {
		t.Error("ADMIN may grant SYS_ADMIN, or may not grant ADMIN")
	}
	capped := principal(t, "ADMIN_WRITE", "global:SYS_ADMIN")
	if capped.MayManage(sys) {
		t.Error("a SYS_ADMIN with an ADMIN_WRITE token may manage a SYS_ADMIN")
	}
}

func TestGrantedIgnoresAdministrationAndPublicity(t *testing.T) {
	ua := principal(t, "", "global:SYS_ADMIN", "project:PROJECT_WRITE").User
	if got := ua.Granted(vRepo); got != scope.Write {
		t.Errorf("Granted = %v, want write (from the project)", got)
	}
	if got := principal(t, "", "global:ADMIN").User.Granted(vPublic); got != scope.NoAccess {
		t.Errorf("Granted of an admin on a public repository = %v, want none", got)
	}
}

func TestEmailIsSeenOnlyByTheUserAndAdministrators(t *testing.T) {
	const self, other = 7, 8 // principal's user is 7
	for _, c := range []struct {
		name, scopes string
		perms        []string
		user         int64
		want         bool
	}{
		{"the user themself with any token", "PUBLIC_REPOS", nil, self, true},
		{"another user with PUBLIC_REPOS", "PUBLIC_REPOS", nil, other, false},
		{"another user with every non-admin scope", "REPO_ADMIN PROJECT_ADMIN ACCOUNT_WRITE write:repository read:user", nil, other, false},
		{"an ADMIN without an admin scope", "PROJECT_ADMIN", []string{"global:ADMIN"}, other, false},
		{"a plain user with an admin scope", "ADMIN_WRITE", nil, other, false},
		{"an ADMIN with ADMIN_WRITE", "ADMIN_WRITE", []string{"global:ADMIN"}, other, true},
		{"a SYS_ADMIN with read:admin", "read:admin", []string{"global:SYS_ADMIN"}, other, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := principal(t, c.scopes, c.perms...).SeesEmailOf(c.user); got != c.want {
				t.Fatalf("SeesEmailOf = %v, want %v", got, c.want)
			}
		})
	}
	if scope.Anonymous().SeesEmailOf(0) {
		t.Fatal("an anonymous caller sees the address of user 0")
	}
}
