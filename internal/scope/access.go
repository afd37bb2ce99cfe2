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

// permissionNames maps each Bitbucket permission name to its target kind
// and the level it grants on that kind of target.
var permissionNames = map[string]struct {
	target store.TargetKind
	level  int
}{
	"LICENSED_USER":  {store.TargetGlobal, int(LicensedUser)},
	"PROJECT_CREATE": {store.TargetGlobal, int(ProjectCreator)},
	"ADMIN":          {store.TargetGlobal, int(GlobalAdmin)},
	"SYS_ADMIN":      {store.TargetGlobal, int(SysAdmin)},
	"PROJECT_READ":   {store.TargetProject, int(Read)},
	"PROJECT_WRITE":  {store.TargetProject, int(Write)},
	"PROJECT_ADMIN":  {store.TargetProject, int(Admin)},
	"REPO_READ":      {store.TargetRepo, int(Read)},
	"REPO_WRITE":     {store.TargetRepo, int(Write)},
	"REPO_ADMIN":     {store.TargetRepo, int(Admin)},
}

// CheckPermission validates a Bitbucket permission name for a target kind.
func CheckPermission(target store.TargetKind, name string) error {
	p, ok := permissionNames[name]
	if !ok {
		return fmt.Errorf("unknown permission %q", name)
	}
	if p.target != target {
		return fmt.Errorf("permission %s applies to %s targets, not %s", name, p.target, target)
	}
	return nil
}

// UserAccess is what a user may do, from the permissions granted to them.
// Inheritance lives here and nowhere else: a global ADMIN or SYS_ADMIN
// administers every project and repository; a project permission applies to
// every repository of the project; a public project makes its repositories
// public.
type UserAccess struct {
	Global   Global
	Projects map[int64]Level
	Repos    map[int64]Level
}

// NewUserAccess folds a user's stored permissions into a UserAccess.
func NewUserAccess(perms []store.Permission) UserAccess {
	ua := UserAccess{Projects: map[int64]Level{}, Repos: map[int64]Level{}}
	for _, p := range perms {
		def, ok := permissionNames[p.Name]
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
