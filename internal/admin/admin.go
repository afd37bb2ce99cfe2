// Package admin holds the administrative operations shared by the command
// line, the admin and settings pages and the REST API: creating users,
// clients, projects and repositories, granting and revoking permissions,
// bootstrapping the first administrator. Each validates its input and
// returns errors fit to show. Operations that create rows take now, the
// caller's clock, for their creation time.
package admin

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"latchkey/internal/logout"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// NewUser describes a user to create.
type NewUser struct {
	Username string
	Email    string
	Password string // empty: a random one-time password is generated
	Admin    bool   // grants the global SYS_ADMIN permission
}

// CreateUser creates a user, created at now. An address given here is set
// by an administrator and so trusted as verified. It returns the generated
// password when the caller gave none, so it can be shown once.
func CreateUser(ctx context.Context, st store.Store, nu NewUser, now time.Time) (store.User, string, error) {
	if err := CheckUsername(nu.Username); err != nil {
		return store.User{}, "", err
	}
	if err := CheckEmail(nu.Email); err != nil {
		return store.User{}, "", err
	}
	generated := ""
	if nu.Password == "" {
		generated = secret.New("")[:24]
		nu.Password = generated
	}
	if len(nu.Password) < 8 {
		return store.User{}, "", invalid("the password must be at least 8 characters")
	}
	u, err := st.CreateUser(ctx, store.User{
		Username: nu.Username, Email: nu.Email, EmailVerified: nu.Email != "", DisplayName: nu.Username,
		PasswordHash: secret.HashPassword(nu.Password), CreatedAt: now,
	})
	if errors.Is(err, store.ErrEmailTaken) {
		return store.User{}, "", emailTaken(nu.Email)
	}
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.User{}, "", failed(store.ErrAlreadyExists, "user %q already exists", nu.Username)
	}
	if err != nil {
		return store.User{}, "", fmt.Errorf("create user: %w", err)
	}
	if nu.Admin {
		if err := st.SetPermission(ctx, store.Permission{UserID: u.ID, Target: store.TargetGlobal, Name: string(scope.PermSysAdmin)}); err != nil {
			return store.User{}, "", fmt.Errorf("grant SYS_ADMIN: %w", err)
		}
	}
	return u, generated, nil
}

// CheckUsername validates a user name: 1-64 letters, digits, '.', '_' or
// '-', starting with a letter or digit, not ending in ".git".
func CheckUsername(name string) error {
	if !usernamePattern.MatchString(name) || strings.HasSuffix(name, ".git") {
		return invalid("user name %q must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// maxEmailLength is the longest address SMTP can carry (RFC 5321 §4.5.3.1.3).
const maxEmailLength = 254

// CheckEmail validates an email address; empty is allowed. It must be
// exactly one addr-spec (RFC 5322 §3.4.1), local-part@domain, as it is
// written: no display name ("Bob <bob@x>"), no angle brackets, comments,
// surrounding space, list or group, no quoted local part, no domain
// literal, no control character. What passes is safe in a mail header.
func CheckEmail(email string) error {
	if email == "" {
		return nil
	}
	bad := invalid("email %q is not a valid address: give exactly one address such as name@example.com, without a name or brackets", email)
	if len(email) > maxEmailLength || strings.ContainsAny(email, "<>()[]\",;: \t\r\n") {
		return bad
	}
	for _, r := range email {
		if r < 0x20 || r == 0x7f {
			return bad
		}
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return bad
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return bad
	}
	return nil
}

// emailTaken is the refusal of an address another user has.
func emailTaken(email string) error {
	return failed(store.ErrEmailTaken, "the email address %q is already used by another account", email)
}

// SetEmail sets a user's address as an administrator does: trusted as
// verified (empty removes it). A pending self-service change of the user
// is dropped. ErrInvalid for a malformed address, store.ErrEmailTaken
// (an *Error, an ErrAlreadyExists) for another user's.
func SetEmail(ctx context.Context, st store.Store, userID int64, email string) (store.User, error) {
	if err := CheckEmail(email); err != nil {
		return store.User{}, err
	}
	u, err := st.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
		u.Email, u.EmailVerified = email, email != ""
		return u, nil
	})
	if errors.Is(err, store.ErrEmailTaken) {
		return store.User{}, emailTaken(email)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("set the address of user %d: %w", userID, err)
	}
	return u, nil
}

// BootstrapAdmin creates the user "admin" with a random password when the
// database has no user at all. It returns the password, or "" when users
// already existed. Several nodes starting at once create one admin.
func BootstrapAdmin(ctx context.Context, st store.Store, now time.Time) (string, error) {
	n, err := st.CountUsers(ctx)
	if err != nil {
		return "", fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	_, password, err := CreateUser(ctx, st, NewUser{Username: "admin", Admin: true}, now)
	if err != nil {
		if _, getErr := st.GetUserByUsername(ctx, "admin"); getErr == nil {
			return "", nil // another node won the race
		}
		return "", err
	}
	return password, nil
}

// NewClient describes an OAuth client to register.
type NewClient struct {
	Name          string
	RedirectURIs  []string
	Scopes        string // space-separated; empty: DefaultClientScopes
	DefaultScopes string // space-separated; empty: PUBLIC_REPOS
	GrantTypes    string // space-separated; empty: authorization_code refresh_token
	Public        bool
	PKCERequired  bool
	OwnerUserID   int64
	// AllowInsecureRedirects is the skip-redirect-URL-HTTPS setting.
	AllowInsecureRedirects bool
	// PostLogoutRedirectURIs are where RP-initiated logout may return
	// (validated as redirect URIs); BackchannelLogoutURI receives logout
	// tokens (https, or http on loopback or with AllowInsecureRedirects).
	PostLogoutRedirectURIs           []string
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
}

// Defaults for client registration.
const (
	DefaultClientScopes = "PUBLIC_REPOS REPO_READ REPO_WRITE openid profile email"
	DefaultGrantTypes   = oauth.GrantAuthorizationCode + " " + oauth.GrantRefreshToken
)

// CreateClient validates and registers a client and returns it with its
// secret, which is shown only now (empty for a public client). A refused
// registration is an ErrInvalid *Error whose message is fit to show;
// any other error is a server fault.
func CreateClient(ctx context.Context, st store.Store, nc NewClient, now time.Time) (store.Client, string, error) {
	c, err := buildClient(nc, now)
	if err != nil {
		return store.Client{}, "", err
	}
	plain := ""
	if !c.Public {
		plain = secret.New(secret.ClientSecretPrefix)
		c.SecretHash = secret.Hash(plain)
	}
	c, err = st.CreateClient(ctx, c)
	if err != nil {
		return store.Client{}, "", fmt.Errorf("create client: %w", err)
	}
	return c, plain, nil
}

// buildClient validates a registration and builds the client to store.
// Every refusal is an ErrInvalid *Error whose message is fit to show.
func buildClient(nc NewClient, now time.Time) (store.Client, error) {
	name := strings.TrimSpace(nc.Name)
	if name == "" || len(name) > 200 {
		return store.Client{}, invalid("the client name must be 1-200 characters")
	}
	if len(nc.RedirectURIs) == 0 {
		return store.Client{}, invalid("at least one redirect URI is required")
	}
	for _, u := range nc.RedirectURIs {
		if err := oauth.CheckRedirectURI(u, nc.AllowInsecureRedirects); err != nil {
			return store.Client{}, invalid("%s", err.Error())
		}
	}
	for _, u := range nc.PostLogoutRedirectURIs {
		if err := logout.CheckPostLogoutURI(u, nc.AllowInsecureRedirects); err != nil {
			return store.Client{}, invalid("%s", err.Error())
		}
	}
	if nc.BackchannelLogoutURI != "" {
		if err := logout.CheckBackchannelURI(nc.BackchannelLogoutURI, nc.AllowInsecureRedirects); err != nil {
			return store.Client{}, invalid("%s", err.Error())
		}
	}
	scopes, defaults, err := clientScopes(nc)
	if err != nil {
		return store.Client{}, err
	}
	grants, err := grantTypes(nc.GrantTypes)
	if err != nil {
		return store.Client{}, err
	}
	if nc.Public && slices.Contains(grants, oauth.GrantClientCredentials) {
		return store.Client{}, invalid("a public client cannot use client_credentials: it has no secret")
	}
	return store.Client{
		ID: secret.NewID(), Name: name, Public: nc.Public, RedirectURIs: slices.Compact(slices.Clone(nc.RedirectURIs)),
		Scopes: scopes, DefaultScopes: defaults, GrantTypes: grants,
		PKCERequired: nc.PKCERequired || nc.Public, OwnerUserID: nc.OwnerUserID, CreatedAt: now,
		PostLogoutRedirectURIs: slices.Compact(slices.Clone(nc.PostLogoutRedirectURIs)),
		BackchannelLogoutURI:   nc.BackchannelLogoutURI, BackchannelLogoutSessionRequired: nc.BackchannelLogoutSessionRequired,
	}, nil
}

func clientScopes(nc NewClient) (scope.Set, scope.Set, error) {
	raw := cmpOr(nc.Scopes, DefaultClientScopes)
	scopes, err := scope.Parse(raw)
	if err != nil || len(scopes) == 0 {
		return nil, nil, invalid("scopes %q: %v", raw, cmpOr(errString(err), "none given"))
	}
	defaults, err := scope.Parse(cmpOr(nc.DefaultScopes, scope.PublicRepos))
	if err != nil {
		return nil, nil, invalid("default scopes: %v", err)
	}
	if !scopes.Covers(defaults) {
		return nil, nil, invalid("default scopes %q are not within the client's scopes %q", defaults, scopes)
	}
	return scopes, defaults, nil
}

func grantTypes(raw string) ([]string, error) {
	grants := strings.Fields(cmpOr(raw, DefaultGrantTypes))
	supported := oauth.GrantTypes()
	for _, g := range grants {
		if !slices.Contains(supported, g) {
			return nil, invalid("grant type %q is not supported (supported: %s)", g, strings.Join(supported, " "))
		}
	}
	slices.Sort(grants)
	return slices.Compact(grants), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
