// Package scope owns the scope vocabularies that clients may use, the
// implications between scopes, and the capping of a token's scopes by the
// live permissions of its user. It is pure: no I/O, no clock.
//
// Two vocabularies map onto one model. The Bitbucket keys form a ladder
// (PUBLIC_REPOS < REPO_READ < REPO_WRITE < REPO_ADMIN < PROJECT_ADMIN <
// ADMIN_WRITE < SYSTEM_ADMIN), each implying the ones below it;
// ACCOUNT_WRITE stands apart. OpenID Connect scopes (openid, profile, email,
// groups) imply only themselves.
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
)

// ladder lists the Bitbucket keys from lowest to highest; a key implies
// every key before it.
var ladder = []string{PublicRepos, RepoRead, RepoWrite, RepoAdmin, ProjectAdmin, AdminWrite, SystemAdmin}

// standalone scopes imply only themselves.
var standalone = []string{AccountWrite, OpenID, Profile, Email, Groups}

// Descriptions says in plain words what each scope lets an application do,
// for the consent page.
var Descriptions = map[string]string{
	PublicRepos:  "View public projects and repositories, including cloning them.",
	RepoRead:     "View the projects and repositories you can view, including cloning them.",
	RepoWrite:    "Change the projects and repositories you can change, including pushing code.",
	RepoAdmin:    "Administer the repositories you administer, including their settings and permissions.",
	ProjectAdmin: "Administer the projects you administer, including creating repositories and changing permissions.",
	AdminWrite:   "Perform most administrative functions on this whole server.",
	SystemAdmin:  "Perform every administrative function on this whole server.",
	AccountWrite: "Update your account settings.",
	OpenID:       "Sign you in with your identity on this server.",
	Profile:      "See your name and user name.",
	Email:        "See your email address.",
	Groups:       "See the projects you belong to.",
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
		if !validToken(tok) {
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

// validToken checks scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validToken(tok string) bool {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}

func canonical(tok string) (string, bool) {
	upper := strings.ToUpper(tok)
	if slices.Contains(ladder, upper) || upper == AccountWrite {
		return upper, true
	}
	if slices.Contains(standalone, tok) {
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

// Implies reports whether holding s grants scope: literally, or by a
// higher Bitbucket key.
func (s Set) Implies(scope string) bool {
	if r := rank(scope); r >= 0 {
		return s.Level() >= r
	}
	return s.Has(scope)
}

// Covers reports whether s implies every scope of other. A client's
// registered scopes must cover what it asks for; a remembered consent must
// cover what is asked again; a refreshed token's scopes must be covered by
// the token it replaces.
func (s Set) Covers(other Set) bool {
	for _, sc := range other {
		if !s.Implies(sc) {
			return false
		}
	}
	return true
}

// Union returns the canonical union of two sets.
func (s Set) Union(other Set) Set {
	out := slices.Concat(s, other)
	slices.Sort(out)
	return slices.Compact(out)
}
