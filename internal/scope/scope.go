// Package scope owns the scope vocabularies that clients may use, the
// implications between scopes, and the capping of a token's scopes by the
// live permissions of its user. It is pure: no I/O, no clock.
//
// Two vocabularies map onto one model. The Bitbucket keys form a ladder
// (PUBLIC_REPOS < REPO_READ < REPO_WRITE < REPO_ADMIN < PROJECT_ADMIN <
// ADMIN_WRITE < SYSTEM_ADMIN), each implying the ones below it;
// ACCOUNT_WRITE stands apart. OpenID Connect scopes (openid, profile, email,
// groups) imply only themselves. Gitea's public-only is a restriction: it
// narrows the set it is in to public resources, and is never implied away
// (see Set.Covers).
package scope

import (
	"fmt"
	"slices"
	"strings"
)

// Bitbucket scope keys.
const (
	PublicRepos  = "PUBLIC_REPOS"
	RepoRead     = "REPO_READ"
	RepoWrite    = "REPO_WRITE"
	RepoAdmin    = "REPO_ADMIN"
	ProjectAdmin = "PROJECT_ADMIN"
	AdminWrite   = "ADMIN_WRITE"
	SystemAdmin  = "SYSTEM_ADMIN"
	AccountWrite = "ACCOUNT_WRITE"
)

// OpenID Connect scopes.
const (
	OpenID  = "openid"
	Profile = "profile"
	Email   = "email"
	Groups  = "groups"
	// OfflineAccess asks for a refresh token (OpenID Connect Core §11).
	// It grants nothing by itself; package oauth allows it to every client
	// that may use the refresh_token grant.
	OfflineAccess = "offline_access"
)

// Gitea scopes (Gitea 1.19+ scoped tokens).
const (
	GiteaAll               = "all"
	GiteaPublicOnly        = "public-only"
	GiteaReadRepository    = "read:repository"
	GiteaWriteRepository   = "write:repository"
	GiteaReadUser          = "read:user"
	GiteaWriteUser         = "write:user"
	GiteaReadOrganization  = "read:organization"
	GiteaWriteOrganization = "write:organization"
	GiteaReadAdmin         = "read:admin"
	GiteaWriteAdmin        = "write:admin"
)

// ladder lists the Bitbucket keys from lowest to highest; a key implies
// every key before it.
var ladder = []string{PublicRepos, RepoRead, RepoWrite, RepoAdmin, ProjectAdmin, AdminWrite, SystemAdmin}

// capability is what one scope lets a token do, in the one internal model
// both vocabularies map onto. A scope implies another when its capability
// is at least as large in every part.
//
// publicOnly is a restriction, not a permission: Gitea's public-only limits
// every other capability of the token to public projects and repositories.
// A restricted capability is therefore narrower than the same capability
// without the restriction, and it never covers an unrestricted one that
// grants anything at all.
type capability struct {
	repo       Level
	project    Level
	global     Global
	adminRead  bool
	account    bool
	publicOnly bool
}

func (c capability) covers(o capability) bool {
	return c.repo >= o.repo && c.project >= o.project && c.global >= o.global &&
		(c.adminRead || !o.adminRead) && (c.account || !o.account) &&
		(!c.publicOnly || o.publicOnly || o.grantsNothing())
}

// grantsNothing reports whether the capability allows nothing beyond what
// every token has (reading public resources), so that no restriction can
// narrow it.
func (c capability) grantsNothing() bool {
	return c.repo == NoAccess && c.project == NoAccess && c.global == NoGlobal && !c.adminRead && !c.account
}

func (c capability) union(o capability) capability {
	return capability{max(c.repo, o.repo), max(c.project, o.project), max(c.global, o.global),
		c.adminRead || o.adminRead, c.account || o.account, c.publicOnly || o.publicOnly}
}

// capabilities maps every capability scope of both vocabularies onto the
// internal model, including the restriction public-only. Gitea scopes for features Latchkey does not have (issues,
// packages, notifications, ...) are accepted and grant nothing.
var capabilities = map[string]capability{
	PublicRepos:  {},
	RepoRead:     {repo: Read, project: Read},
	RepoWrite:    {repo: Write, project: Read},
	RepoAdmin:    {repo: Admin, project: Read},
	ProjectAdmin: {repo: Admin, project: Admin, global: ProjectCreator},
	AdminWrite:   {repo: Admin, project: Admin, global: GlobalAdmin, adminRead: true},
	SystemAdmin:  {repo: Admin, project: Admin, global: SysAdmin, adminRead: true},
	AccountWrite: {account: true},

	GiteaAll:               {repo: Admin, project: Admin, global: SysAdmin, adminRead: true, account: true},
	GiteaPublicOnly:        {publicOnly: true},
	GiteaReadRepository:    {repo: Read, project: Read},
	GiteaWriteRepository:   {repo: Write, project: Read},
	GiteaReadUser:          {},
	GiteaWriteUser:         {account: true},
	GiteaReadOrganization:  {project: Read},
	GiteaWriteOrganization: {project: Admin, global: ProjectCreator},
	GiteaReadAdmin:         {adminRead: true},
	GiteaWriteAdmin:        {global: GlobalAdmin, adminRead: true},
	"read:activitypub":     {}, "write:activitypub": {},
	"read:issue": {}, "write:issue": {},
	"read:misc": {}, "write:misc": {},
	"read:notification": {}, "write:notification": {},
	"read:package": {}, "write:package": {},
}

// literal scopes imply only themselves: the OpenID Connect scopes.
var literal = []string{OpenID, Profile, Email, Groups, OfflineAccess}

// IsOpenID reports whether s is one of OpenID Connect's scopes (openid,
// profile, email, groups, offline_access), which say what the user's
// identity releases rather than what a token may do.
func IsOpenID(s string) bool { return slices.Contains(literal, s) }

// Known lists every scope of both vocabularies, sorted.
func Known() []string {
	out := slices.Concat(literal)
	for name := range capabilities {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Descriptions says in plain words what each scope lets an application do,
// for the consent page.
var Descriptions = map[string]string{
	PublicRepos:   "View public projects and repositories, including cloning them.",
	RepoRead:      "View the projects and repositories you can view, including cloning them.",
	RepoWrite:     "Change the projects and repositories you can change, including pushing code.",
	RepoAdmin:     "Administer the repositories you administer, including their settings and permissions.",
	ProjectAdmin:  "Administer the projects you administer, including creating projects and repositories and changing permissions.",
	AdminWrite:    "Perform most administrative functions on this whole server.",
	SystemAdmin:   "Perform every administrative function on this whole server.",
	AccountWrite:  "Update your account settings.",
	OpenID:        "Sign you in with your identity on this server.",
	Profile:       "See your name and user name.",
	Email:         "See your email address.",
	Groups:        "See the projects you belong to.",
	OfflineAccess: "Keep the access you grant while you are signed out, until you revoke it.",

	GiteaAll:               "Do everything you can do: read and change repositories, projects and your account, and administer this server if you may.",
	GiteaPublicOnly:        "Limit the other permissions to public projects and repositories.",
	GiteaReadRepository:    "View the repositories you can view, including cloning them.",
	GiteaWriteRepository:   "Change the repositories you can change, including pushing code.",
	GiteaReadUser:          "See your user name and profile.",
	GiteaWriteUser:         "Update your account settings.",
	GiteaReadOrganization:  "View the projects you can view.",
	GiteaWriteOrganization: "Create projects and administer the projects you administer.",
	GiteaReadAdmin:         "View the administrative settings of this server, if you are an administrator.",
	GiteaWriteAdmin:        "Perform most administrative functions on this server, if you are an administrator.",
	"read:activitypub":     "Read federation (ActivityPub) data. This server has none, so this grants nothing.",
	"write:activitypub":    "Change federation (ActivityPub) data. This server has none, so this grants nothing.",
	"read:issue":           "View issues and pull requests. This server has none, so this grants nothing.",
	"write:issue":          "Create and change issues and pull requests. This server has none, so this grants nothing.",
	"read:misc":            "View miscellaneous data. This server has none, so this grants nothing.",
	"write:misc":           "Change miscellaneous data. This server has none, so this grants nothing.",
	"read:notification":    "View your notifications. This server has none, so this grants nothing.",
	"write:notification":   "Mark your notifications as read. This server has none, so this grants nothing.",
	"read:package":         "View packages. This server has none, so this grants nothing.",
	"write:package":        "Publish and delete packages. This server has none, so this grants nothing.",
}

// UnknownError reports a scope that no vocabulary defines.
type UnknownError struct{ Scope string }

func (e *UnknownError) Error() string { return fmt.Sprintf("unknown scope %q", e.Scope) }

// Set is a canonical (sorted, de-duplicated) list of known scopes.
type Set []string

// Parse splits a space-delimited scope parameter (RFC 6749 §3.3) into a
// canonical Set. Bitbucket keys are accepted in any letter case; every other
// scope is case-sensitive. Unknown scopes and characters outside the RFC's
// scope-token grammar are errors: an unknown scope never widens access.
func Parse(s string) (Set, error) {
	var out Set
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		if !ValidToken(tok) {
			return nil, &UnknownError{Scope: tok}
		}
		name, ok := canonical(tok)
		if !ok {
			return nil, &UnknownError{Scope: tok}
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// MustParse is Parse for constants in code and tests; it panics on error.
func MustParse(s string) Set {
	set, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return set
}

// ValidToken checks RFC 6749 §3.3's grammar, scope-token = 1*( %x21 /
// %x23-5B / %x5D-7E ), whatever vocabulary the scope belongs to (an
// external resource server's, say).
func ValidToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}

func canonical(tok string) (string, bool) {
	if upper := strings.ToUpper(tok); upper == AccountWrite || slices.Contains(ladder, upper) {
		return upper, true
	}
	if _, ok := capabilities[tok]; ok || slices.Contains(literal, tok) {
		return tok, true
	}
	return "", false
}

// String joins the set with spaces, as the scope parameter carries it.
func (s Set) String() string { return strings.Join(s, " ") }

// Has reports whether the set names scope literally.
func (s Set) Has(scope string) bool { return slices.Contains(s, scope) }

// rank is the position of a Bitbucket key on the ladder, or -1.
func rank(scope string) int { return slices.Index(ladder, scope) }

// Level is the highest rung of the Bitbucket ladder in the set, or -1 when
// the set holds none (only standalone scopes).
func (s Set) Level() int {
	level := -1
	for _, sc := range s {
		level = max(level, rank(sc))
	}
	return level
}

// capability is the union of what the set's scopes allow.
func (s Set) capability() capability {
	var c capability
	for _, sc := range s {
		c = c.union(capabilities[sc])
	}
	return c
}

// Implies reports whether holding s grants everything that holding scope
// alone would: s.Covers(Set{scope}). REPO_WRITE implies REPO_READ and
// read:repository; all implies every capability scope; literal scopes
// (openid, profile, email, groups) imply only themselves. Every set implies
// public-only, which only takes access away, but a set holding public-only
// does not imply an unrestricted scope that grants anything:
// {public-only read:repository} does not imply read:repository.
func (s Set) Implies(scope string) bool { return s.Covers(Set{scope}) }

// Covers reports whether holding s grants everything that holding other
// would: every literal scope of other is in s, and the capability of s as a
// whole (restrictions included) is at least that of other as a whole. A
// set restricted by public-only covers no set without it that grants
// anything. A client's registered scopes must cover what it asks for; a
// remembered consent must cover what is asked again; a refreshed token's
// scopes must be covered by the token it replaces.
func (s Set) Covers(other Set) bool {
	for _, sc := range other {
		if _, ok := capabilities[sc]; !ok && !s.Has(sc) {
			return false
		}
	}
	return s.capability().covers(other.capability())
}

// Union returns the canonical union of two sets. A restriction in either
// restricts the union: it may cover neither set (see Covers).
func (s Set) Union(other Set) Set {
	out := slices.Concat(s, other)
	slices.Sort(out)
	return slices.Compact(out)
}
