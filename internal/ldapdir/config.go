// Package ldapdir authenticates and looks up people in an LDAP directory
// (OpenLDAP, Active Directory, 389 DS, ...) with the search-then-bind
// pattern: a service account (or an anonymous session) searches for exactly
// one entry matching the user filter, then the user's password is checked by
// binding as that entry's DN. Connections are encrypted with LDAPS or
// StartTLS (plain ldap:// is possible but sends passwords in clear), dials
// and operations are bounded by Config.Timeout, and a cancelled context
// closes the connection. The package knows nothing about Latchkey's store.
package ldapdir

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Defaults applied by WithDefaults.
const (
	DefaultUsernameAttr    = "uid"
	DefaultDisplayNameAttr = "cn"
	DefaultEmailAttr       = "mail"
	DefaultGroupNameAttr   = "cn"
	DefaultTimeout         = 10 * time.Second
	// MinTimeout and MaxTimeout bound a non-zero Config.Timeout.
	MinTimeout = time.Second
	MaxTimeout = 60 * time.Second
)

// Config is one directory's settings. Package identity stores them as JSON;
// BindPassword is not part of the JSON since it is stored sealed, separately.
type Config struct {
	URL             string        `json:"url"`               // ldap://host:port or ldaps://host:port
	StartTLS        bool          `json:"start_tls"`         // only with ldap://
	CACert          string        `json:"ca_cert"`           // PEM; empty: system roots
	BindDN          string        `json:"bind_dn"`           // service account; empty: anonymous search
	BindPassword    string        `json:"-"`                 // the service account's password
	UserBase        string        `json:"user_base"`         // e.g. ou=people,dc=example,dc=org
	UserFilter      string        `json:"user_filter"`       // e.g. (&(objectClass=inetOrgPerson)(uid=%s)); %s = escaped user name
	UsernameAttr    string        `json:"username_attr"`     // default uid
	DisplayNameAttr string        `json:"display_name_attr"` // default cn
	EmailAttr       string        `json:"email_attr"`        // default mail
	GroupBase       string        `json:"group_base"`        // empty: no groups
	GroupFilter     string        `json:"group_filter"`      // e.g. (&(objectClass=groupOfNames)(member=%s)); %s = escaped user DN
	GroupNameAttr   string        `json:"group_name_attr"`   // default cn
	Timeout         time.Duration `json:"timeout"`           // per operation and dial; default 10s
}

// WithDefaults returns c with the empty attribute names, the empty user
// filter ("(<username_attr>=%s)"), the empty group filter when GroupBase is
// set ("(member=%s)") and a zero Timeout replaced by their defaults. Leading
// and trailing spaces of the text settings are removed.
func (c Config) WithDefaults() Config {
	c.URL = strings.TrimSpace(c.URL)
	c.BindDN = strings.TrimSpace(c.BindDN)
	c.UserBase = strings.TrimSpace(c.UserBase)
	c.UserFilter = strings.TrimSpace(c.UserFilter)
	c.GroupBase = strings.TrimSpace(c.GroupBase)
	c.GroupFilter = strings.TrimSpace(c.GroupFilter)
	c.UsernameAttr = orDefault(c.UsernameAttr, DefaultUsernameAttr)
	c.DisplayNameAttr = orDefault(c.DisplayNameAttr, DefaultDisplayNameAttr)
	c.EmailAttr = orDefault(c.EmailAttr, DefaultEmailAttr)
	c.GroupNameAttr = orDefault(c.GroupNameAttr, DefaultGroupNameAttr)
	if c.UserFilter == "" {
		c.UserFilter = "(" + c.UsernameAttr + "=%s)"
	}
	if c.GroupBase != "" && c.GroupFilter == "" {
		c.GroupFilter = "(member=%s)"
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

func orDefault(s, def string) string {
	if s = strings.TrimSpace(s); s != "" {
		return s
	}
	return def
}

// Validate checks c after applying WithDefaults and returns the first
// problem in a message fit to show to an administrator, or nil. It does not
// contact the directory (Check does) and does not require BindPassword,
// which is stored apart from the rest.
func (c Config) Validate() error {
	c = c.WithDefaults()
	for _, check := range []func(Config) error{
		validateURL, validateCACert, validateDNs, validateFilters,
		validateAttrs, validateTimeout,
	} {
		if err := check(c); err != nil {
			return err
		}
	}
	return nil
}

func validateURL(c Config) error {
	if c.URL == "" {
		return errors.New("the directory URL is required (ldap://host:port or ldaps://host:port)")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("the directory URL %q does not parse", c.URL)
	}
	if u.Scheme != "ldap" && u.Scheme != "ldaps" {
		return fmt.Errorf("the directory URL must start with ldap:// or ldaps://, got %q", c.URL)
	}
	if u.Hostname() == "" || u.User != nil || u.Opaque != "" {
		return fmt.Errorf("the directory URL %q must name a host (ldap://host:port)", c.URL)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("the directory URL %q must have no path, query or fragment", c.URL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("the directory URL %q has an invalid port", c.URL)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("the directory URL %q has an empty port", c.URL)
	}
	if c.StartTLS && u.Scheme == "ldaps" {
		return errors.New("StartTLS is only for ldap:// URLs: an ldaps:// connection is already encrypted")
	}
	if u.Scheme == "ldap" && !c.StartTLS && !loopbackHost(u.Hostname()) {
		return fmt.Errorf("ldap:// without StartTLS would send passwords in clear to %s: use ldaps:// or StartTLS", u.Hostname())
	}
	return nil
}

// loopbackHost reports whether host is this machine (where a plain
// connection never leaves it).
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validateCACert(c Config) error {
	if strings.TrimSpace(c.CACert) == "" {
		return nil
	}
	if _, err := certPool(c.CACert); err != nil {
		return err
	}
	return nil
}

// certPool parses every certificate of the PEM text pemText.
func certPool(pemText string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	rest := []byte(pemText)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the CA certificate does not parse: %v", err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("the CA certificate must be PEM text with at least one CERTIFICATE block")
	}
	return pool, nil
}

func validateDNs(c Config) error {
	if c.BindDN != "" {
		if _, err := ldap.ParseDN(c.BindDN); err != nil {
			return fmt.Errorf("the service account's bind DN %q is not a valid DN", c.BindDN)
		}
	}
	if c.UserBase == "" {
		return errors.New("the user base DN is required (e.g. ou=people,dc=example,dc=org)")
	}
	if _, err := ldap.ParseDN(c.UserBase); err != nil {
		return fmt.Errorf("the user base %q is not a valid DN", c.UserBase)
	}
	if c.GroupBase != "" {
		if _, err := ldap.ParseDN(c.GroupBase); err != nil {
			return fmt.Errorf("the group base %q is not a valid DN", c.GroupBase)
		}
	}
	return nil
}

// dummyValue stands for the escaped user name or DN when checking that a
// filter parses.
const dummyValue = "latchkey-validate"

func validateFilters(c Config) error {
	if n := strings.Count(c.UserFilter, "%s"); n != 1 {
		return fmt.Errorf("the user filter must contain %%s exactly once (where the user name goes), it contains it %d times", n)
	}
	if _, err := ldap.CompileFilter(substitute(c.UserFilter, dummyValue)); err != nil {
		return fmt.Errorf("the user filter %q does not parse: %v", c.UserFilter, filterProblem(err))
	}
	if c.GroupBase == "" {
		if c.GroupFilter != "" {
			return errors.New("the group filter is set but the group base is empty: set both, or neither")
		}
		return nil
	}
	if !strings.Contains(c.GroupFilter, "%s") {
		return errors.New("the group filter must contain %s (where the user's DN goes)")
	}
	if _, err := ldap.CompileFilter(substitute(c.GroupFilter, dummyValue)); err != nil {
		return fmt.Errorf("the group filter %q does not parse: %v", c.GroupFilter, filterProblem(err))
	}
	return nil
}

// filterProblem reduces a go-ldap filter error to its explanation.
func filterProblem(err error) error {
	var le *ldap.Error
	if errors.As(err, &le) && le.Err != nil {
		return le.Err
	}
	return err
}

// attrName matches an attribute description: a name or a numeric OID, with
// optional ;options.
var attrName = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*$`)

func validateAttrs(c Config) error {
	for _, a := range []struct{ what, value string }{
		{"username attribute", c.UsernameAttr},
		{"display name attribute", c.DisplayNameAttr},
		{"email attribute", c.EmailAttr},
		{"group name attribute", c.GroupNameAttr},
	} {
		if len(a.value) > 128 || !attrName.MatchString(a.value) {
			return fmt.Errorf("the %s %q is not a valid attribute name", a.what, a.value)
		}
	}
	return nil
}

func validateTimeout(c Config) error {
	if c.Timeout < MinTimeout || c.Timeout > MaxTimeout {
		return fmt.Errorf("the timeout must be between %v and %v, got %v", MinTimeout, MaxTimeout, c.Timeout)
	}
	return nil
}

// hostOf returns the host name of the (validated) URL, for TLS's ServerName.
func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return host
}
