package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"latchkey/internal/ldapdir"
	"latchkey/internal/store"
	"latchkey/internal/upstream"
)

// LDAPConfig reads the directory settings of a source's Settings (its
// bind password is not in them: pass it to OpenDirectory).
func LDAPConfig(s Settings) (ldapdir.Config, error) {
	var c ldapdir.Config
	if len(s.LDAP) == 0 {
		return c, errors.New("the source has no LDAP settings")
	}
	if err := json.Unmarshal(s.LDAP, &c); err != nil {
		return c, fmt.Errorf("read the LDAP settings: %w", err)
	}
	return c, nil
}

// OIDCSettings reads the upstream settings of a source's Settings,
// defaults applied (its client secret is not in them).
func OIDCSettings(s Settings) (upstream.Settings, error) {
	var u upstream.Settings
	if len(s.OIDC) == 0 {
		return u, errors.New("the source has no OpenID Connect settings")
	}
	if err := json.Unmarshal(s.OIDC, &u); err != nil {
		return u, fmt.Errorf("read the OpenID Connect settings: %w", err)
	}
	return u.WithDefaults(), nil
}

// WithLDAP returns s holding c as its directory settings.
func (s Settings) WithLDAP(c ldapdir.Config) Settings {
	b, _ := json.Marshal(c)
	s.LDAP, s.OIDC = b, nil
	return s
}

// WithOIDC returns s holding u as its upstream settings.
func (s Settings) WithOIDC(u upstream.Settings) Settings {
	b, _ := json.Marshal(u)
	s.OIDC, s.LDAP = b, nil
	return s
}

// checkKind validates the kind's own settings.
func checkKind(kind store.SourceKind, s Settings) error {
	switch kind {
	case store.SourceLDAP:
		c, err := LDAPConfig(s)
		if err != nil {
			return err
		}
		return c.WithDefaults().Validate()
	case store.SourceOIDC:
		u, err := OIDCSettings(s)
		if err != nil {
			return err
		}
		return u.Validate()
	}
	return fmt.Errorf("unknown kind of source %q", kind)
}

// openDirectory returns the directory of an LDAP source.
func openDirectory(src store.IdentitySource, s Settings, password string) (Directory, error) {
	c, err := LDAPConfig(s)
	if err != nil {
		return nil, fmt.Errorf("identity source %q: %w", src.Name, err)
	}
	c = c.WithDefaults()
	c.BindPassword = password
	return ldapDirectory{c}, nil
}

// ldapDirectory is a Directory served by package ldapdir.
type ldapDirectory struct{ c ldapdir.Config }

func (d ldapDirectory) Authenticate(ctx context.Context, username, password string) (Person, error) {
	e, err := ldapdir.Authenticate(ctx, d.c, username, password)
	if errors.Is(err, ldapdir.ErrInvalidCredentials) {
		return Person{}, ErrWrongPassword
	}
	if err != nil {
		return Person{}, err
	}
	return personOfEntry(e), nil
}

func (d ldapDirectory) Lookup(ctx context.Context, subject string) (Person, error) {
	e, err := ldapdir.Lookup(ctx, d.c, subject)
	if errors.Is(err, ldapdir.ErrNoSuchUser) {
		return Person{}, ErrNoSuchPerson
	}
	if err != nil {
		return Person{}, err
	}
	return personOfEntry(e), nil
}

// CheckDirectory connects to an LDAP source's directory and binds as its
// service account (the administrator's "test the connection").
func (s *Service) CheckDirectory(ctx context.Context, src store.IdentitySource) error {
	settings, err := DecodeSettings(src)
	if err != nil {
		return err
	}
	c, err := LDAPConfig(settings)
	if err != nil {
		return err
	}
	if c.BindPassword, err = s.Secret(src); err != nil {
		return err
	}
	return ldapdir.Check(ctx, c.WithDefaults())
}

// personOfEntry is the person a directory entry is: the subject is the
// user name in lower case (directories compare names without case).
// Every address a directory holds counts as verified: the directory is
// the organisation's own record.
func personOfEntry(e ldapdir.Entry) Person {
	return Person{Subject: strings.ToLower(e.Username), Username: e.Username, DisplayName: e.DisplayName,
		Email: e.Email, Groups: e.Groups}
}

// PersonOfUpstream is the person an upstream's identity is: its address
// only if the upstream says it is verified.
func PersonOfUpstream(id upstream.Identity) Person {
	p := Person{Subject: id.Subject, Username: id.Username, DisplayName: id.Name, Groups: id.Groups,
		AMR: id.AMR, ACR: id.ACR}
	if id.EmailVerified {
		p.Email = id.Email
	}
	return p
}
