package access

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// ErrNoCredentials means the request carried no credentials: no
// Authorization header, or an empty HTTP Basic pair.
var ErrNoCredentials = errors.New("access: no credentials")

// ErrUnsupportedScheme means the Authorization header names a scheme the
// resource does not accept (Digest, say): to the resource the request
// carries no credentials it can use, so it is answered like one without
// any, 401 with the challenges of the schemes it does accept and no RFC
// 6750 error code (RFC 7235 §3.1, RFC 6750 §3.1), and it matches
// ErrNoCredentials. A resource open to anonymous callers still refuses
// it rather than serving it as anonymous: the caller meant to
// authenticate and should learn that it did not.
var ErrUnsupportedScheme = fmt.Errorf("%w: the Authorization header's scheme is not accepted here", ErrNoCredentials)

// Tokens checks access tokens; the protocol core (oauth.Provider) is the
// one implementation.
type Tokens interface {
	// AuthenticateToken checks token for the resource identifier
	// resource ("" accepts a token for any of Latchkey's own resources).
	AuthenticateToken(ctx context.Context, token, resource string) (*oauth.Caller, error)
}

// Config is what a Guard needs.
type Config struct {
	Tokens Tokens
	// Store loads projects and repositories (Guard.Repo, Guard.Project);
	// nil for a resource that loads neither (userinfo).
	Store store.Store
	// Schemes are the credential forms the resource accepts. On a 401 the
	// challenge of each is sent, in this order.
	Schemes []Scheme
	// Prompt is for resources whose clients send credentials only when
	// asked (git and its credential helpers): every refusal of a request
	// without credentials, and every refusal of its credentials (malformed
	// ones too), is a 401 with every challenge, so that the client asks
	// for credentials anew. Without Prompt, what an anonymous caller may
	// not see is 404 as for everyone and a malformed header is 400 (RFC
	// 6750 §3.1).
	Prompt bool
	// Resource is the RFC 8707 resource identifier of the resource
	// (package resource names them): a token not issued for it is
	// refused with invalid_token. "" accepts a token for any of
	// Latchkey's own resources (the userinfo endpoint of the
	// authorization server itself).
	Resource string
	// ResourceMetadata is the URL of the resource's RFC 9728 protected
	// resource metadata; when set, every Bearer challenge names it
	// (resource_metadata), so that a client can discover the
	// authorization server from a 401.
	ResourceMetadata string
	// ChallengeScope, when set, is the scope a Bearer challenge to a
	// request without credentials names (RFC 6750 §3 scope): what a
	// client should ask for to use the resource (the MCP authorization
	// spec's scope selection reads it).
	ChallengeScope string
}

// Guard authenticates the requests of one protected resource, decides
// what their callers may do, and says how the resource answers a refusal.
type Guard struct {
	cfg Config
}

// New builds the Guard of a resource.
func New(cfg Config) *Guard { return &Guard{cfg: cfg} }

// Anonymous is the caller of a request without credentials.
func Anonymous() *oauth.Caller { return &oauth.Caller{Principal: scope.Anonymous()} }

// Authenticate returns the caller whose access token r carries, as the
// protocol core sees the token now. Errors: ErrNoCredentials when r
// carries none, ErrUnsupportedScheme (which matches it) when its
// Authorization header names a scheme the resource does not accept;
// invalid_request when the header is malformed in an accepted scheme or
// is no header at all, or when r carries more than one; the core's
// invalid_token or server_error.
func (g *Guard) Authenticate(r *http.Request) (*oauth.Caller, error) {
	token, err := g.credential(r)
	if err != nil {
		return nil, err
	}
	return g.cfg.Tokens.AuthenticateToken(r.Context(), token, g.cfg.Resource)
}

// bearerReader reads the credentials of BearerToken: a Guard of no
// resource that accepts the Bearer scheme alone.
var bearerReader = New(Config{Schemes: []Scheme{Bearer()}})

// BearerToken returns the token r carries as "Authorization: Bearer
// <token>" (RFC 6750 §2.1), read exactly as a Guard that accepts only
// Bearer() reads it, for an endpoint that checks the token itself rather
// than as an access token (the registration endpoints' initial and
// registration access tokens). It does not check the token. Errors are
// Authenticate's before the token is checked: ErrNoCredentials,
// ErrUnsupportedScheme (which matches it), or invalid_request for a
// malformed header or more than one.
func BearerToken(r *http.Request) (string, error) { return bearerReader.credential(r) }

// credential returns the access token r's Authorization header carries
// in a scheme the resource accepts, unchecked; errors as Authenticate's
// before the token is checked.
func (g *Guard) credential(r *http.Request) (string, error) {
	if n := len(r.Header.Values("Authorization")); n > 1 {
		// One credential per request (RFC 9110 §11.6.2): with two, a proxy
		// in front might have judged the request by the other one.
		return "", oauth.InvalidRequest("send one Authorization header, not %d", n)
	}
	return g.token(r.Header.Get("Authorization"))
}

// AuthenticateOrAnonymous is Authenticate for a resource that serves
// anonymous callers too: a request without credentials is Anonymous().
func (g *Guard) AuthenticateOrAnonymous(r *http.Request) (*oauth.Caller, error) {
	c, err := g.Authenticate(r)
	if errors.Is(err, ErrNoCredentials) && !errors.Is(err, ErrUnsupportedScheme) {
		return Anonymous(), nil
	}
	return c, err
}

// token finds the access token in an Authorization header value: the
// scheme named before the first space must be one the resource accepts,
// and it reads the credentials after that space.
func (g *Guard) token(header string) (string, error) {
	if header == "" {
		return "", ErrNoCredentials
	}
	name, credentials, ok := strings.Cut(header, " ")
	for _, s := range g.cfg.Schemes {
		if sameScheme(name, s.name) {
			if !ok {
				return "", g.malformed() // the scheme without credentials
			}
			token, err := s.token(credentials)
			if errors.Is(err, errMalformed) {
				return "", g.malformed()
			}
			return token, err
		}
	}
	if !isSchemeName(name) {
		return "", g.malformed()
	}
	return "", ErrUnsupportedScheme
}

// isSchemeName reports whether s is an auth-scheme as RFC 9110 §11.1
// writes it (a token: letters, digits and !#$%&'*+-.^_`|~).
func isSchemeName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// sameScheme compares scheme names as RFC 9110 §11.1 says: in any letter
// case, ASCII only (strings.EqualFold alone would let "ſ" stand for "s";
// a rune that folds to an ASCII letter is longer than one byte).
func sameScheme(a, b string) bool { return len(a) == len(b) && strings.EqualFold(a, b) }

// errMalformed is what a Scheme's token function returns for credentials
// it cannot read; the Guard words it (malformed).
var errMalformed = errors.New("access: malformed credentials")

// malformed is the error of an Authorization header that carries no token
// in a form the resource accepts: invalid_request naming every form the
// resource accepts.
func (g *Guard) malformed() error {
	if len(g.cfg.Schemes) == 1 {
		return oauth.InvalidRequest("the Authorization header must be %s", g.forms())
	}
	return oauth.InvalidRequest("the Authorization header must be one of: %s", g.forms())
}

// forms lists the forms of the Authorization header the resource accepts.
func (g *Guard) forms() string {
	forms := make([]string, 0, len(g.cfg.Schemes))
	for _, s := range g.cfg.Schemes {
		forms = append(forms, s.form)
	}
	return strings.Join(forms, ", ")
}

// Scheme is one form of the Authorization header: its name, how its
// credentials carry the access token, and the challenge a 401 sends for it.
type Scheme struct {
	name string
	// form shows the header's form in the error of a malformed header.
	form string
	// token returns the token in the credentials: ErrNoCredentials when
	// they carry none, errMalformed when they cannot be read.
	token func(credentials string) (string, error)
	// challenge is the WWW-Authenticate value of an authentication
	// failure (ErrNoCredentials or an *oauth.Error); nil for none.
	challenge func(g *Guard, err error) string
}

// Bearer is "Authorization: Bearer <token>" (RFC 6750 §2.1), with
// RFC 6750 §3's challenge.
func Bearer() Scheme {
	return Scheme{name: "Bearer", form: `"Bearer <token>"`, token: bearerToken, challenge: func(g *Guard, err error) string { return bearerChallenge(g, err, "") }}
}

// Token is Gitea's "Authorization: token <token>" (what Gitea's SDK, tea
// and Woodpecker send). Its credentials read as Bearer's; it has no
// challenge of its own (Gitea sends none), so a 401 challenges with the
// resource's other schemes.
func Token() Scheme { return Scheme{name: "token", form: `"token <token>"`, token: bearerToken} }

// Basic is HTTP Basic (RFC 7617) as git and its credential helpers send
// an access token: as the password with any user name (Bitbucket's and
// Gitea's way), or as the user name when it is the one that looks like an
// access token (GitHub's TOKEN:x-oauth-basic habit) or the password is
// empty. An empty pair is no credentials.
func Basic() Scheme {
	return Scheme{name: "Basic", form: "Basic with the token as password", token: basicToken, challenge: basicChallenge}
}

func bearerToken(credentials string) (string, error) {
	token := strings.TrimSpace(credentials)
	if token == "" {
		return "", errMalformed
	}
	return token, nil
}

func basicToken(credentials string) (string, error) {
	pair, err := base64.StdEncoding.DecodeString(credentials)
	user, password, ok := strings.Cut(string(pair), ":")
	switch {
	case err != nil || !ok:
		return "", errMalformed
	case strings.HasPrefix(user, secret.AccessTokenPrefix) && !strings.HasPrefix(password, secret.AccessTokenPrefix):
		return user, nil
	case password != "" || user != "":
		return cmp.Or(password, user), nil
	}
	return "", ErrNoCredentials
}

// basicChallenge makes git ask its credential helper for a user name and
// password (the token). It names Gitea's realm, as Gitea's own git URLs do: Latchkey
// serves Gitea's OAuth endpoints at Gitea's paths and pre-registers
// Gitea's well-known client IDs, so a credential helper that recognizes a
// Gitea server by this realm (git-credential-oauth 0.10 and later) finds
// exactly what it expects and needs no configuration. See docs/clients.md.
func basicChallenge(*Guard, error) string { return `Basic realm="` + BasicRealm + `"` }

// BasicRealm is the realm of the Basic challenge.
const BasicRealm = "Gitea"
