package scope

import (
	"fmt"

	"latchkey/internal/store"
)

// Level is what a principal may do with one project or repository.
type Level int

// Resource levels, lowest first.
const (
	NoAccess Level = iota
	Read
	Write
	Admin
)

func (l Level) String() string {
	return [...]string{"none", "read", "write", "admin"}[l]
}

// Global is a user's instance-wide permission, lowest first.
type Global int

// Global permissions (Bitbucket: LICENSED_USER, PROJECT_CREATE, ADMIN, SYS_ADMIN).
const (
	NoGlobal Global = iota
	LicensedUser
	ProjectCreator
	GlobalAdmin
	SysAdmin
)

// PermissionName is a Bitbucket permission name, as granted to a user and
// stored in store.Permission.Name (which the store does not interpret).
type PermissionName string

// The permission names, by target kind, lowest first.
const (
	PermLicensedUser  PermissionName = "LICENSED_USER"
	PermProjectCreate PermissionName = "PROJECT_CREATE"
	PermAdmin         PermissionName = "ADMIN"
	PermSysAdmin      PermissionName = "SYS_ADMIN"
	PermProjectRead   PermissionName = "PROJECT_READ"
	PermProjectWrite  PermissionName = "PROJECT_WRITE"
	PermProjectAdmin  PermissionName = "PROJECT_ADMIN"
	PermRepoRead      PermissionName = "REPO_READ"
	PermRepoWrite     PermissionName = "REPO_WRITE"
	PermRepoAdmin     PermissionName = "REPO_ADMIN"
)

// permissionDef is what one permission name grants: a level on one kind of
// target (a Global for global permissions, a Level for the others).
type permissionDef struct {
	name   PermissionName
	target store.TargetKind
	level  int
}

// permissionDefs is the one table of permission names, by target kind,
// lowest first.
func permissionDefs() [10]permissionDef {
	return [...]permissionDef{
		{PermLicensedUser, store.TargetGlobal, int(LicensedUser)},
		{PermProjectCreate, store.TargetGlobal, int(ProjectCreator)},
		{PermAdmin, store.TargetGlobal, int(GlobalAdmin)},
		{PermSysAdmin, store.TargetGlobal, int(SysAdmin)},
		{PermProjectRead, store.TargetProject, int(Read)},
		{PermProjectWrite, store.TargetProject, int(Write)},
		{PermProjectAdmin, store.TargetProject, int(Admin)},
		{PermRepoRead, store.TargetRepo, int(Read)},
		{PermRepoWrite, store.TargetRepo, int(Write)},
		{PermRepoAdmin, store.TargetRepo, int(Admin)},
	}
}

// lookupPermission finds the definition of a permission name.
func lookupPermission(name string) (permissionDef, bool) {
	for _, d := range permissionDefs() {
		if string(d.name) == name {
			return d, true
		}
	}
	return permissionDef{}, false
}

// PermissionNames lists the permission names that apply to a kind of
// target, lowest first (what forms offer and help texts name).
func PermissionNames(target store.TargetKind) []PermissionName {
	var out []PermissionName
	for _, d := range permissionDefs() {
		if d.target == target {
			out = append(out, d.name)
		}
	}
	return out
}

// CheckPermission validates a Bitbucket permission name for a target kind.
func CheckPermission(target store.TargetKind, name string) error {
	p, ok := lookupPermission(name)
	if !ok {
		return fmt.Errorf("unknown permission %q", name)
	}
	if p.target != target {
		return fmt.Errorf("permission %s applies to %s targets, not %s", name, p.target, target)
	}
	return nil
}

// GlobalPermission returns the global level that a Bitbucket global
// permission name (LICENSED_USER, PROJECT_CREATE, ADMIN, SYS_ADMIN) grants.
func GlobalPermission(name string) (Global, error) {
	if err := CheckPermission(store.TargetGlobal, name); err != nil {
		return NoGlobal, err
	}
	p, _ := lookupPermission(name)
	return Global(p.level), nil
}

// UserAccess is what a user may do, from the permissions granted to them.
// Inheritance lives here and nowhere else (docs/permissions.md tells the
// same rules in words):
//
//   - every account is a licensed user (Latchkey counts no licences);
//   - the global permissions are ordered LICENSED_USER < PROJECT_CREATE <
//     ADMIN < SYS_ADMIN, each including the ones below it;
//   - a global ADMIN or SYS_ADMIN administers every project and repository;
//   - a project permission (PROJECT_READ, PROJECT_WRITE, PROJECT_ADMIN)
//     applies to every repository of the project as the same level
//     (REPO_READ, REPO_WRITE, REPO_ADMIN), so a project administrator
//     administers its repositories;
//   - a repository permission applies to that repository only; the higher
//     of it and the inherited level counts;
//   - a public project makes itself and its repositories readable by
//     everyone, a public repository makes itself readable by everyone.
type UserAccess struct {
	Global   Global
	Projects map[int64]Level
	Repos    map[int64]Level
}

// NewUserAccess folds a user's stored permissions into a UserAccess.
func NewUserAccess(perms []store.Permission) UserAccess {
	ua := UserAccess{Global: LicensedUser, Projects: map[int64]Level{}, Repos: map[int64]Level{}}
	for _, p := range perms {
		def, ok := lookupPermission(p.Name)
		if !ok || def.target != p.Target {
			continue // unknown names grant nothing
		}
		switch p.Target {
		case store.TargetGlobal:
			ua.Global = max(ua.Global, Global(def.level))
		case store.TargetProject:
			ua.Projects[p.TargetID] = max(ua.Projects[p.TargetID], Level(def.level))
		case store.TargetRepo:
			ua.Repos[p.TargetID] = max(ua.Repos[p.TargetID], Level(def.level))
		}
	}
	return ua
}

// Project is the user's own level on a project.
func (u UserAccess) Project(p store.Project) Level {
	level := u.Projects[p.ID]
	if u.Global >= GlobalAdmin {
		level = Admin
	}
	if p.Public {
		level = max(level, Read)
	}
	return level
}

// Repo is the user's own level on a repository of project p.
func (u UserAccess) Repo(r store.Repo, p store.Project) Level {
	level := max(u.Repos[r.ID], u.Project(p))
	if r.Public {
		level = max(level, Read)
	}
	return level
}

// Granted is the level the user was given on repository r by a permission
// on it or on its project: what makes it one of "the user's repositories",
// unlike administering everything or the repository being public.
func (u UserAccess) Granted(r store.Repo) Level {
	return max(u.Repos[r.ID], u.Projects[r.ProjectID])
}

// RepoCap is the highest repository level the scopes allow.
func (s Set) RepoCap() Level { return s.capability().repo }

// ProjectCap is the highest project level the scopes allow.
func (s Set) ProjectCap() Level { return s.capability().project }

// GlobalCap is the highest instance-wide permission the scopes allow.
func (s Set) GlobalCap() Global { return max(s.capability().global, LicensedUser) }

// AdminRead reports whether the scopes allow reading administrative data
// (user lists, audit log): read:admin, write:admin, ADMIN_WRITE and above.
func (s Set) AdminRead() bool { return s.capability().adminRead }

// AccountWrite reports whether the scopes allow changing the user's own
// account (ACCOUNT_WRITE, write:user, all).
func (s Set) AccountWrite() bool { return s.capability().account }

// PublicOnly reports whether the set restricts the token to public resources.
func (s Set) PublicOnly() bool { return s.Has(GiteaPublicOnly) }

// Principal is who makes a request: the scopes of its token (PUBLIC_REPOS
// for an anonymous request) and its user's access as stored right now.
type Principal struct {
	UserID int64 // 0 when anonymous
	Scopes Set
	User   UserAccess
}

// Anonymous is the principal of a request without a token.
func Anonymous() Principal {
	return Principal{Scopes: Set{PublicRepos}}
}

// effective is the smaller of what the token allows and what the user may
// do, except that public resources stay readable with any token.
func effective(tokenCap, user Level, public bool) Level {
	level := min(tokenCap, user)
	if public {
		level = max(level, Read)
	}
	return level
}

// ProjectLevel is what the principal may do with project p.
func (pr Principal) ProjectLevel(p store.Project) Level {
	if pr.Scopes.PublicOnly() && !p.Public {
		return NoAccess
	}
	return effective(pr.Scopes.ProjectCap(), pr.User.Project(p), p.Public)
}

// RepoLevel is what the principal may do with repository r of project p.
func (pr Principal) RepoLevel(r store.Repo, p store.Project) Level {
	public := r.Public || p.Public
	if pr.Scopes.PublicOnly() && !public {
		return NoAccess
	}
	return effective(pr.Scopes.RepoCap(), pr.User.Repo(r, p), public)
}

// GlobalLevel is the instance-wide permission the principal may exercise.
func (pr Principal) GlobalLevel() Global {
	return min(pr.Scopes.GlobalCap(), pr.User.Global)
}

// Verdict is the permission model's answer to one request: allowed, or the
// reason it is not. Callers turn it into a status: DenyHidden into 404 (the
// resource is answered for as if it did not exist; 401 for a request
// without a token), DenyScope into 403 with RFC 6750's insufficient_scope,
// DenyPermission into 403.
type Verdict int

// Verdicts.
const (
	// Allow: the token's scopes and the user's permissions both allow it.
	Allow Verdict = iota
	// DenyHidden: the principal may not even see the resource.
	DenyHidden
	// DenyScope: the token's scopes do not reach the level needed; a token
	// with wider scopes might be allowed.
	DenyScope
	// DenyPermission: the scopes would allow it but the user may not.
	DenyPermission
)

func (v Verdict) String() string {
	return [...]string{"allow", "deny-hidden", "deny-scope", "deny-permission"}[v]
}

// decide compares the effective level with the level needed. The scopes
// are blamed before the user: a token that lacks the scope is refused with
// insufficient_scope whatever its user may do.
func decide(effective, tokenCap, need Level, visible bool) Verdict {
	switch {
	case effective >= need:
		return Allow
	case !visible:
		return DenyHidden
	case tokenCap < need:
		return DenyScope
	}
	return DenyPermission
}

// RepoAccess says whether the principal may act on repository r of project
// p at level need (Read: view and clone; Write: push and change; Admin:
// settings, permissions, deletion). A repository the principal cannot read
// is hidden.
func (pr Principal) RepoAccess(r store.Repo, p store.Project, need Level) Verdict {
	level := pr.RepoLevel(r, p)
	return decide(level, pr.Scopes.RepoCap(), need, level >= Read)
}

// ProjectAccess says whether the principal may act on project p at level
// need (Read: view; Admin: change, delete, create repositories in it,
// manage its permissions). As in Bitbucket, a principal who may read one
// of the project's repositories (readsRepo) may view the project too.
func (pr Principal) ProjectAccess(p store.Project, need Level, readsRepo bool) Verdict {
	level := pr.ProjectLevel(p)
	if readsRepo {
		level = max(level, Read)
	}
	return decide(level, pr.Scopes.ProjectCap(), need, level >= Read)
}

// GlobalAccess says whether the principal may exercise the instance-wide
// permission need: ProjectCreator to create projects, GlobalAdmin to manage
// users, SysAdmin for system administration.
func (pr Principal) GlobalAccess(need Global) Verdict {
	switch {
	case pr.GlobalLevel() >= need:
		return Allow
	case pr.Scopes.GlobalCap() < need:
		return DenyScope
	}
	return DenyPermission
}

// AdminReadAccess says whether the principal may read administrative data
// (the user list): the scopes must allow it (read:admin, write:admin,
// ADMIN_WRITE, SYSTEM_ADMIN, all) and the user must be a global ADMIN.
func (pr Principal) AdminReadAccess() Verdict {
	switch {
	case !pr.Scopes.AdminRead():
		return DenyScope
	case pr.User.Global < GlobalAdmin:
		return DenyPermission
	}
	return Allow
}

// SeesEmailOf reports whether the principal may see the email address of
// the user with id userID: the user themself, or an administrator whose
// token may read administrative data (AdminReadAccess). Everyone else sees
// users without their addresses, whatever the token's scopes.
func (pr Principal) SeesEmailOf(userID int64) bool {
	return (pr.UserID != 0 && pr.UserID == userID) || pr.AdminReadAccess() == Allow
}

// AccountAccess says whether the principal may change its user's own
// account: ACCOUNT_WRITE (or write:user, all), and a user.
func (pr Principal) AccountAccess() Verdict {
	switch {
	case !pr.Scopes.AccountWrite():
		return DenyScope
	case pr.UserID == 0:
		return DenyPermission
	}
	return Allow
}

// MayManage reports whether the principal, already allowed to manage
// users, may change or delete a user whose access is target: an ADMIN may
// not touch a SYS_ADMIN.
func (pr Principal) MayManage(target UserAccess) bool {
	return target.Global <= pr.GlobalLevel()
}

// MayGrantGlobal reports whether the principal, already allowed to manage
// users, may grant or revoke the global permission g: nobody hands out more
// than they may exercise.
func (pr Principal) MayGrantGlobal(g Global) bool {
	return g <= pr.GlobalLevel()
}

// Outranks reports whether permission a grants more than b on the same
// kind of target (PROJECT_WRITE outranks PROJECT_READ); an unknown name
// outranks nothing, and every known name outranks an unknown one.
func Outranks(a, b string) bool {
	pa, okA := lookupPermission(a)
	pb, okB := lookupPermission(b)
	switch {
	case !okA:
		return false
	case !okB:
		return true
	}
	return pa.level > pb.level
}
