package ldapdir

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Entry is a person as the directory has them.
type Entry struct {
	DN          string // the entry's DN as the directory returned it
	Username    string // UsernameAttr's value (the one equal to the name asked for, ignoring case, if several); the name asked for if missing
	DisplayName string // DisplayNameAttr's first value; "" if missing
	Email       string // EmailAttr's first value; "" if missing
	// Groups lists, for each group whose GroupFilter matches the user's DN,
	// the group's DN and its name(s) (GroupNameAttr values), sorted, without
	// duplicates. Empty when GroupBase is empty.
	Groups []string
}

// MaxUsernameLen bounds the user names looked up.
const MaxUsernameLen = 256

// maxGroups bounds the group search; a user in more groups is an error
// rather than a silently truncated list.
const maxGroups = 1000

// Authenticate checks username and password against the directory: connect
// (LDAPS or StartTLS per c), bind as the service account (or stay
// anonymous), search exactly one entry with UserFilter under UserBase, read
// its groups, and bind as the entry's DN with password. An empty password is
// ErrInvalidCredentials without any bind (never an unauthenticated bind), as
// is a user name outside [A-Za-z0-9._@-], no entry or several. Directory
// trouble is ErrUnavailable with detail. The password appears in no error
// and no log.
func Authenticate(ctx context.Context, c Config, username, password string) (Entry, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Entry{}, fmt.Errorf("%w: invalid configuration: %v", ErrUnavailable, err)
	}
	if password == "" || !ValidUsername(username) {
		return Entry{}, ErrInvalidCredentials
	}
	s, err := open(ctx, c)
	if err != nil {
		return Entry{}, err
	}
	defer s.Close()
	e, err := s.lookup(username)
	switch {
	case errors.Is(err, ErrNoSuchUser):
		return Entry{}, ErrInvalidCredentials
	case errors.Is(err, ErrAmbiguous):
		return Entry{}, fmt.Errorf("%w (%v)", ErrInvalidCredentials, err)
	case err != nil:
		return Entry{}, err
	}
	if err := s.bindUser(e.DN, password); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Lookup reads the entry of username as Authenticate does, without checking
// a password (for the periodic sync). No entry (or a user name that cannot
// be in the directory) is ErrNoSuchUser; several entries are ErrAmbiguous;
// directory trouble is ErrUnavailable.
func Lookup(ctx context.Context, c Config, username string) (Entry, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Entry{}, fmt.Errorf("%w: invalid configuration: %v", ErrUnavailable, err)
	}
	if !ValidUsername(username) {
		return Entry{}, ErrNoSuchUser
	}
	s, err := open(ctx, c)
	if err != nil {
		return Entry{}, err
	}
	defer s.Close()
	return s.lookup(username)
}

// Check connects, binds as the service account and reads the user base
// entry: the administrator's "test connection". The error says what failed.
func Check(ctx context.Context, c Config) error {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: invalid configuration: %v", ErrUnavailable, err)
	}
	s, err := open(ctx, c)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.bindService(); err != nil {
		return err
	}
	req := ldap.NewSearchRequest(c.UserBase, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, s.timeLimit(), false, "(objectClass=*)", []string{"1.1"}, nil)
	res, err := s.conn.Search(req)
	if err != nil {
		return s.searchError("reading the user base "+c.UserBase, err)
	}
	if len(res.Entries) == 0 {
		return fmt.Errorf("%w: the user base %s cannot be read by the service account", ErrUnavailable, c.UserBase)
	}
	return nil
}

// ValidUsername reports whether username may be looked up: 1 to
// MaxUsernameLen characters from [A-Za-z0-9._@-]. Others can not be in
// the directory as far as this package is concerned.
func ValidUsername(username string) bool {
	if username == "" || len(username) > MaxUsernameLen {
		return false
	}
	for i := 0; i < len(username); i++ {
		b := username[i]
		ok := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
			b == '.' || b == '_' || b == '@' || b == '-'
		if !ok {
			return false
		}
	}
	return true
}

// substitute replaces every %s of filter by value (already escaped).
func substitute(filter, value string) string {
	return strings.ReplaceAll(filter, "%s", value)
}

// UserFilter returns c's user filter for username, escaped per RFC 4515.
// c must have its defaults applied.
func UserFilter(c Config, username string) string {
	return substitute(c.UserFilter, ldap.EscapeFilter(username))
}

// GroupFilter returns c's group filter for the user DN dn, escaped per
// RFC 4515. c must have its defaults applied.
func GroupFilter(c Config, dn string) string {
	return substitute(c.GroupFilter, ldap.EscapeFilter(dn))
}

// lookup binds as the service account and reads username's entry and groups.
func (s *session) lookup(username string) (Entry, error) {
	if err := s.bindService(); err != nil {
		return Entry{}, err
	}
	e, err := s.findUser(username)
	if err != nil {
		return Entry{}, err
	}
	if e.Groups, err = s.groups(e.DN); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func (s *session) timeLimit() int {
	return max(1, int(s.c.Timeout.Seconds()))
}

// findUser searches the one entry matching the user filter.
func (s *session) findUser(username string) (Entry, error) {
	c := s.c
	req := ldap.NewSearchRequest(c.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, s.timeLimit(), false, UserFilter(c, username),
		[]string{c.UsernameAttr, c.DisplayNameAttr, c.EmailAttr}, nil)
	res, err := s.conn.Search(req)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return Entry{}, ErrAmbiguous
	}
	if err != nil {
		return Entry{}, s.searchError("searching the user", err)
	}
	switch len(res.Entries) {
	case 0:
		return Entry{}, ErrNoSuchUser
	case 1:
	default:
		return Entry{}, ErrAmbiguous
	}
	le := res.Entries[0]
	return Entry{
		DN:          le.DN,
		Username:    pickUsername(le.GetEqualFoldAttributeValues(c.UsernameAttr), username),
		DisplayName: le.GetEqualFoldAttributeValue(c.DisplayNameAttr),
		Email:       le.GetEqualFoldAttributeValue(c.EmailAttr),
	}, nil
}

// pickUsername chooses among the entry's user name values the one equal to
// asked (ignoring case), else the first, else asked itself.
func pickUsername(values []string, asked string) string {
	for _, v := range values {
		if strings.EqualFold(v, asked) {
			return v
		}
	}
	if len(values) > 0 && values[0] != "" {
		return values[0]
	}
	return asked
}

// groups lists the DNs and names of the groups matching the group filter
// for the user DN dn, or nil when c has no GroupBase.
func (s *session) groups(dn string) ([]string, error) {
	c := s.c
	if c.GroupBase == "" {
		return nil, nil
	}
	req := ldap.NewSearchRequest(c.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		maxGroups, s.timeLimit(), false, GroupFilter(c, dn), []string{c.GroupNameAttr}, nil)
	res, err := s.conn.Search(req)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return nil, fmt.Errorf("%w: the user %s is in more than %d groups", ErrUnavailable, dn, maxGroups)
	}
	if err != nil {
		return nil, s.searchError("searching the user's groups", err)
	}
	var out []string
	for _, g := range res.Entries {
		out = append(out, g.DN)
		for _, name := range g.GetEqualFoldAttributeValues(c.GroupNameAttr) {
			if name != "" {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// searchError wraps a failed search as ErrUnavailable, naming a missing
// base DN plainly.
func (s *session) searchError(what string, err error) error {
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return fmt.Errorf("%w: %s: the base DN does not exist (%s)", ErrUnavailable, what, describe(err))
	}
	if isResult(err) {
		return fmt.Errorf("%w: %s: %s", ErrUnavailable, what, describe(err))
	}
	return unavailable(s.ctx, what, err)
}
