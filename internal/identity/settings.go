// Package identity decides who a person is when they sign in through an
// identity source other than Latchkey's own passwords: a directory
// (LDAP, package ldapdir) or an upstream OpenID Connect provider
// (package upstream). It keeps the sources (stored in the database so
// that every node sees them, their one secret sealed under the
// key-encryption key), finds or creates the Latchkey user a person of a
// source is, keeps that user's name, address and group permissions in
// step with the source, links an upstream identity to an existing account
// only when that account's owner asks for it, and ends the sessions and
// grants of a source's users when an administrator disables it.
//
// Whatever source a person came through, they are one Latchkey user: the
// OAuth provider, its tokens and its claims do not change.
package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Settings is what a source keeps in IdentitySource.Config, as JSON. The
// kind's own connection settings are in LDAP or OIDC (the JSON of
// ldapdir.Config or upstream.Settings, without their secret); the rest is
// shared.
type Settings struct {
	LDAP json.RawMessage `json:"ldap,omitempty"`
	OIDC json.RawMessage `json:"oidc,omitempty"`
	// Mappings grant Latchkey permissions to the members of groups.
	Mappings []Mapping `json:"mappings,omitempty"`
	// CreateUsers creates a Latchkey user the first time a person of the
	// source signs in (just in time). Directories always do.
	CreateUsers bool `json:"create_users,omitempty"`
	// TrustUpstreamMFA lets the upstream's amr or acr satisfy the
	// second-factor policy: when the ID token says the person used more
	// than one factor, Latchkey asks for none of its own.
	TrustUpstreamMFA bool `json:"trust_upstream_mfa,omitempty"`
	// MFAACRValues are acr values of the upstream that mean a
	// multi-factor sign-in (besides an amr that says so).
	MFAACRValues []string `json:"mfa_acr_values,omitempty"`
	// SyncInterval is how often the directory is synchronised (users who
	// left are disabled, names, addresses and groups refreshed); 0: only
	// at sign-in.
	SyncInterval Duration `json:"sync_interval,omitempty"`
}

// Duration is a time.Duration that reads and writes as text ("1h").
type Duration time.Duration

// MarshalJSON writes the duration as Go's text form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads the text form or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return errors.New("a duration is text such as \"1h\"")
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// DecodeSettings reads a source's settings.
func DecodeSettings(src store.IdentitySource) (Settings, error) {
	var s Settings
	if err := json.Unmarshal(src.Config, &s); err != nil {
		return Settings{}, fmt.Errorf("identity source %q: read its settings: %w", src.Name, err)
	}
	return s, nil
}

// Encode writes the settings as JSON.
func (s Settings) Encode() []byte {
	b, err := json.Marshal(s)
	if err != nil { // only json.RawMessage could fail, and it was valid when read
		panic(fmt.Sprintf("identity: encode settings: %v", err))
	}
	return b
}

// Mapping grants one permission to the members of one group: a global
// permission (LICENSED_USER, PROJECT_CREATE, ADMIN, SYS_ADMIN), a project
// permission on Project, or a repository permission on Project/Repo.
type Mapping struct {
	// Group is the group as the source names it: a directory group's DN
	// or its name (cn), an upstream's groups claim value. Compared
	// case-insensitively.
	Group      string `json:"group"`
	Permission string `json:"permission"`
	Project    string `json:"project,omitempty"` // project key
	Repo       string `json:"repo,omitempty"`    // repository slug in Project
}

// ParseMapping reads a mapping as the command line and the admin page
// write it: GROUP=PERMISSION, GROUP=PERMISSION:PROJECT or
// GROUP=PERMISSION:PROJECT/repo. The group is everything before the last
// '=' that precedes the permission, so a DN (cn=devs,ou=groups,...) works.
func ParseMapping(s string) (Mapping, error) {
	s = strings.TrimSpace(s)
	i := strings.LastIndex(s, "=")
	if i <= 0 || i == len(s)-1 {
		return Mapping{}, fmt.Errorf("mapping %q: write GROUP=PERMISSION[:PROJECT[/repo]]", s)
	}
	m := Mapping{Group: strings.TrimSpace(s[:i])}
	rest := strings.TrimSpace(s[i+1:])
	perm, target, _ := strings.Cut(rest, ":")
	m.Permission = strings.ToUpper(strings.TrimSpace(perm))
	if target != "" {
		m.Project, m.Repo, _ = strings.Cut(strings.TrimSpace(target), "/")
		m.Project = strings.ToUpper(m.Project)
	}
	if err := m.Validate(); err != nil {
		return Mapping{}, err
	}
	return m, nil
}

// String is the mapping as ParseMapping reads it.
func (m Mapping) String() string {
	s := m.Group + "=" + m.Permission
	if m.Project != "" {
		s += ":" + m.Project
		if m.Repo != "" {
			s += "/" + m.Repo
		}
	}
	return s
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_~-]{1,128}$`)

// Target is the kind of target the mapping's permission applies to.
func (m Mapping) Target() store.TargetKind {
	switch {
	case m.Repo != "":
		return store.TargetRepo
	case m.Project != "":
		return store.TargetProject
	}
	return store.TargetGlobal
}

// Validate checks the mapping's parts; its message is fit to show.
func (m Mapping) Validate() error {
	if m.Group == "" || len(m.Group) > 1024 {
		return fmt.Errorf("mapping %q: the group is empty or too long", m.String())
	}
	if m.Project != "" && !keyPattern.MatchString(m.Project) || m.Repo != "" && !keyPattern.MatchString(m.Repo) {
		return fmt.Errorf("mapping %q: the project key or repository slug is not valid", m.String())
	}
	if m.Repo != "" && m.Project == "" {
		return fmt.Errorf("mapping %q: a repository needs its project", m.String())
	}
	if err := scope.CheckPermission(m.Target(), m.Permission); err != nil {
		return fmt.Errorf("mapping %q: %w", m.String(), err)
	}
	return nil
}

// Validate checks the shared settings (the kind's own are checked by
// its package).
func (s Settings) Validate() error {
	for _, m := range s.Mappings {
		if err := m.Validate(); err != nil {
			return err
		}
	}
	if d := time.Duration(s.SyncInterval); d != 0 && (d < time.Minute || d > 30*24*time.Hour) {
		return errors.New("the sync interval must be 0 (off) or between 1m and 720h")
	}
	for _, v := range s.MFAACRValues {
		if v == "" || len(v) > 256 {
			return errors.New("an acr value is empty or too long")
		}
	}
	return nil
}

// matches reports whether groups (as a source reported them) hold the
// mapping's group.
func (m Mapping) matches(groups []string) bool {
	return slices.ContainsFunc(groups, func(g string) bool { return strings.EqualFold(g, m.Group) })
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// CheckName validates a source's name: lower-case letters, digits and
// '-', starting with a letter or digit, at most 32 characters (it goes
// into URLs: /login/upstream/{name}).
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("source name %q: use 1 to 32 lower-case letters, digits and '-', starting with a letter or digit", name)
	}
	return nil
}
