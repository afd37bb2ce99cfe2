// Package upstream is an OpenID Connect relying party: it signs people in
// at another OpenID Provider (an "upstream" identity source) with the
// authorization code flow, PKCE (S256), state and nonce, and maps the
// verified claims to an Identity. It knows nothing of Latchkey's store: the
// caller keeps the Flow between Start and Finish (sealed in a cookie) and
// decides what an Identity means (linking, creating users, permissions).
package upstream

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Settings are one upstream provider's settings, as an administrator
// configures them. The JSON form is what the caller stores; ClientSecret is
// kept apart (sealed) and so has no JSON form.
type Settings struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document states it.
	Issuer string `json:"issuer"`
	// ClientID is Latchkey's client ID at the provider.
	ClientID string `json:"client_id"`
	// ClientSecret is the client's secret; empty makes Latchkey a public
	// client (PKCE alone).
	ClientSecret string `json:"-"`
	// Scopes are requested; default openid profile email. openid is
	// always among them.
	Scopes []string `json:"scopes"`
	// UsernameClaim names the claim proposed as user name; default
	// preferred_username.
	UsernameClaim string `json:"username_claim"`
	// NameClaim names the display-name claim; default name.
	NameClaim string `json:"name_claim"`
	// EmailClaim names the e-mail claim; default email. Whether it is
	// verified is always read from email_verified.
	EmailClaim string `json:"email_claim"`
	// GroupsClaim names the groups claim; empty reads no groups.
	GroupsClaim string `json:"groups_claim"`
}

// Defaults of Settings.
const (
	DefaultUsernameClaim = "preferred_username"
	DefaultNameClaim     = "name"
	DefaultEmailClaim    = "email"
)

// DefaultScopes are the scopes requested when Settings.Scopes is empty.
var DefaultScopes = []string{"openid", "profile", "email"}

// WithDefaults returns s with its empty fields set to their defaults and
// openid added to the scopes when missing. Names are trimmed of spaces.
func (s Settings) WithDefaults() Settings {
	s.Issuer = strings.TrimSpace(s.Issuer)
	s.ClientID = strings.TrimSpace(s.ClientID)
	var scopes []string
	for _, sc := range s.Scopes {
		for _, f := range strings.Fields(sc) {
			if !slices.Contains(scopes, f) {
				scopes = append(scopes, f)
			}
		}
	}
	if len(scopes) == 0 {
		scopes = slices.Clone(DefaultScopes)
	}
	if !slices.Contains(scopes, "openid") {
		scopes = append([]string{"openid"}, scopes...)
	}
	s.Scopes = scopes
	s.UsernameClaim = defaultString(strings.TrimSpace(s.UsernameClaim), DefaultUsernameClaim)
	s.NameClaim = defaultString(strings.TrimSpace(s.NameClaim), DefaultNameClaim)
	s.EmailClaim = defaultString(strings.TrimSpace(s.EmailClaim), DefaultEmailClaim)
	s.GroupsClaim = strings.TrimSpace(s.GroupsClaim)
	return s
}

func defaultString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Validate checks the settings after WithDefaults. Its message is fit to
// show to an administrator. The issuer must be an https URL, or an http
// URL of a loopback host (127.0.0.1, ::1, localhost) for tests and
// development; it has no query, fragment or user information.
func (s Settings) Validate() error {
	s = s.WithDefaults()
	if err := validateIssuer(s.Issuer); err != nil {
		return err
	}
	if s.ClientID == "" {
		return errors.New("the client ID is required")
	}
	if !slices.Contains(s.Scopes, "openid") {
		return errors.New("the scopes must include openid")
	}
	for _, sc := range s.Scopes {
		if !validScope(sc) {
			return fmt.Errorf("the scope %q has characters a scope cannot have", sc)
		}
	}
	claims := []struct{ what, name string }{
		{"user name", s.UsernameClaim}, {"name", s.NameClaim}, {"e-mail", s.EmailClaim},
	}
	if s.GroupsClaim != "" {
		claims = append(claims, struct{ what, name string }{"groups", s.GroupsClaim})
	}
	for _, c := range claims {
		if c.name == "" || strings.ContainsFunc(c.name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("the %s claim %q is not a claim name", c.what, c.name)
		}
	}
	return nil
}

func validateIssuer(issuer string) error {
	if issuer == "" {
		return errors.New("the issuer URL is required")
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("the issuer %q is not an absolute URL", issuer)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("the issuer %q must not have user information, a query or a fragment", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("the issuer %q must use https (http is only accepted for 127.0.0.1, ::1 and localhost)", issuer)
	default:
		return fmt.Errorf("the issuer %q must be an https URL", issuer)
	}
}

// isLoopbackHost reports whether host is localhost or a loopback address
// (127.0.0.1, ::1; the whole 127/8 counts).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validScope reports whether s is a scope-token of RFC 6749 section 3.3.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
