// Package register serves OAuth 2.0 dynamic client registration
// (RFC 7591) at POST /register and its management protocol (RFC 7592) at
// GET, PUT and DELETE /register/{client_id}, under a policy the
// administrator chooses:
//
//   - off (the default): nothing is mounted; the paths answer 404 as any
//     unknown path does, and discovery names no registration_endpoint.
//   - open: anyone may register a client.
//   - token: a registration needs an initial access token (RFC 7591 §3)
//     that an administrator issued with `latchkey registration token
//     create`; it is presented as a Bearer token and stays valid until it
//     expires or is revoked, for any number of registrations.
//
// A self-registered client is a store.Client of origin
// store.OriginRegistered: it always needs PKCE, it may ask for at most the
// policy's scopes, it gets no client_credentials grant, and the periodic
// cleanup deletes it when it goes unused (store.DeleteUnusedClients).
// Every registration returns a registration access token (RFC 7592),
// kept hashed (package secret) like every other secret: it is the only
// credential of the management endpoints, and only for its own client.
package register

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"latchkey/internal/access"
	"latchkey/internal/audit"
	"latchkey/internal/oauth"
	"latchkey/internal/ratelimit"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// Path is the registration endpoint's path.
const Path = "/register"

// Prefixes of the secrets this package hands out, recognizable to secret
// scanners like the others of package secret.
const (
	// RegistrationTokenPrefix starts a registration access token (RFC 7592).
	RegistrationTokenPrefix = "lkm_"
	// InitialTokenPrefix starts an initial access token (RFC 7591 §3).
	InitialTokenPrefix = "lki_"
)

// Policy says who may register clients.
type Policy string

// Policies.
const (
	Off   Policy = "off"
	Open  Policy = "open"
	Token Policy = "token"
)

// ParsePolicy reads a --registration value; "" is Off.
func ParsePolicy(s string) (Policy, error) {
	switch Policy(s) {
	case "", Off:
		return Off, nil
	case Open, Token:
		return Policy(s), nil
	}
	return "", fmt.Errorf("registration policy %q must be off, open or token", s)
}

// DefaultScopes is the --registration-scopes default: reading
// repositories and the user's profile in both vocabularies, OpenID
// Connect and refresh tokens. Nothing writes.
const DefaultScopes = "read:repository read:user openid profile email offline_access REPO_READ PUBLIC_REPOS"

// ParseScopes reads a --registration-scopes value; it must name at least
// one known scope.
func ParseScopes(s string) (scope.Set, error) {
	set, err := scope.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("registration scopes: %w", err)
	}
	if len(set) == 0 {
		return nil, errors.New("registration scopes: none given")
	}
	return set, nil
}

// Config is what the endpoints need.
type Config struct {
	Store    store.Store
	Provider *oauth.Provider // its clock and audit trail
	Issuer   string          // base URL without trailing slash
	Policy   Policy
	Rules    Rules
	Limits   *ratelimit.Guard // per-address limit; nil: none
	Logger   *slog.Logger
}

// Endpoint returns the registration endpoint's URL for discovery, or ""
// when the policy is off.
func Endpoint(issuer string, p Policy) string {
	if p == Off || p == "" {
		return ""
	}
	return issuer + Path
}

// Mount registers the endpoints on mux unless the policy is off.
func Mount(mux routes.Mux, cfg Config) {
	if cfg.Policy == Off || cfg.Policy == "" {
		return
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{cfg: cfg}
	limit := func(next http.HandlerFunc) http.Handler {
		return cfg.Limits.Wrap(ratelimit.Endpoint{Name: "register", Refuse: writeRateLimited,
			Client: func(r *http.Request) string { return r.PathValue("client_id") }}, next)
	}
	mux.Handle("POST "+Path, limit(h.register))
	mux.Handle("GET "+Path+"/{client_id}", limit(h.read))
	mux.Handle("PUT "+Path+"/{client_id}", limit(h.update))
	mux.Handle("DELETE "+Path+"/{client_id}", limit(h.delete))
}

type handler struct{ cfg Config }

// Response is the client information response (RFC 7591 §3.2.1,
// RFC 7592 §3): the client's identifiers, its secret and registration
// access token when they are handed out, and the metadata as registered.
type Response struct {
	ClientID                         string   `json:"client_id"`
	ClientIDIssuedAt                 int64    `json:"client_id_issued_at"`
	ClientSecret                     string   `json:"client_secret,omitempty"`
	ClientSecretExpiresAt            *int64   `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken          string   `json:"registration_access_token,omitempty"`
	RegistrationClientURI            string   `json:"registration_client_uri"`
	RedirectURIs                     []string `json:"redirect_uris"`
	TokenEndpointAuthMethod          string   `json:"token_endpoint_auth_method"`
	GrantTypes                       []string `json:"grant_types"`
	ResponseTypes                    []string `json:"response_types"`
	ClientName                       string   `json:"client_name"`
	ClientURI                        string   `json:"client_uri,omitempty"`
	Scope                            string   `json:"scope"`
	ApplicationType                  string   `json:"application_type"`
	PostLogoutRedirectURIs           []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI             string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool     `json:"backchannel_logout_session_required,omitempty"`
}

// register serves POST /register (RFC 7591 §3).
func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var via string
	if h.cfg.Policy == Token {
		t, err := h.initialToken(ctx, r)
		if err != nil {
			h.fail(w, err)
			return
		}
		via = fmt.Sprintf("initial access token %q (%s)", t.Label, t.Hash[:12])
	} else {
		via = "open registration"
	}
	m, perr := readMetadata(w, r)
	if perr != nil {
		h.fail(w, perr)
		return
	}
	reg, perr := h.cfg.Rules.Check(m)
	if perr != nil {
		h.fail(w, perr)
		return
	}
	now := h.cfg.Provider.Now()
	regToken := secret.New(RegistrationTokenPrefix)
	c := store.Client{
		ID: secret.NewID(), Origin: store.OriginRegistered, RegistrationTokenHash: secret.Hash(regToken),
		PKCERequired: true, CreatedAt: now,
	}
	apply(&c, reg)
	plain := ""
	if !c.Public {
		plain = secret.New(secret.ClientSecretPrefix)
		c.SecretHash = secret.Hash(plain)
	}
	c, err := h.cfg.Store.CreateClient(ctx, c)
	if err != nil {
		h.fault(w, "create client", err)
		return
	}
	h.audit(r, audit.ClientRegistered, c, fmt.Sprintf("registered through %s as %q (%s, %s), redirect URIs %s, scopes %q",
		via, c.Name, c.ApplicationType, reg.AuthMethod, strings.Join(c.RedirectURIs, " "), scope.Set(c.Scopes)))
	resp := h.response(c, reg.AuthMethod, regToken)
	resp.ClientSecret = plain
	writeJSON(w, http.StatusCreated, resp)
}

// apply sets the registered metadata on c; an update keeps every other field.
func apply(c *store.Client, reg Registered) {
	c.Name, c.RedirectURIs, c.GrantTypes = reg.Name, reg.RedirectURIs, reg.GrantTypes
	c.Public, c.ApplicationType, c.ClientURI = reg.Public(), reg.ApplicationType, reg.ClientURI
	c.Scopes = reg.Scopes
	c.PostLogoutRedirectURIs, c.BackchannelLogoutURI = reg.PostLogoutRedirectURIs, reg.BackchannelLogoutURI
	c.BackchannelLogoutSessionRequired = reg.BackchannelLogoutSessionRequired
	// A request without scope gets what the client registered, but no
	// refresh token unless it asks for one.
	c.DefaultScopes = nil
	for _, s := range reg.Scopes {
		if s != scope.OfflineAccess {
			c.DefaultScopes = append(c.DefaultScopes, s)
		}
	}
	if len(c.DefaultScopes) == 0 {
		c.DefaultScopes = []string{scope.PublicRepos}
	}
}

// response builds the client information response. The client secret is
// never in it but on registration (only its hash is kept); the
// registration access token is the one the request presented, or the
// new one.
func (h *handler) response(c store.Client, authMethod, regToken string) Response {
	if authMethod == "" {
		authMethod = AuthClientSecretBasic
		if c.Public {
			authMethod = AuthNone
		}
	}
	resp := Response{
		ClientID: c.ID, ClientIDIssuedAt: c.CreatedAt.Unix(), RegistrationAccessToken: regToken,
		RegistrationClientURI: h.cfg.Issuer + Path + "/" + c.ID, RedirectURIs: c.RedirectURIs,
		TokenEndpointAuthMethod: authMethod, GrantTypes: c.GrantTypes, ResponseTypes: []string{},
		ClientName: c.Name, ClientURI: c.ClientURI, Scope: scope.Set(c.Scopes).String(),
		ApplicationType: c.ApplicationType, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
	}
	if resp.RedirectURIs == nil {
		resp.RedirectURIs = []string{}
	}
	for _, g := range c.GrantTypes {
		if g == oauth.GrantAuthorizationCode {
			resp.ResponseTypes = []string{"code"}
		}
	}
	if !c.Public {
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	return resp
}

// read serves GET /register/{client_id} (RFC 7592 §2.1).
func (h *handler) read(w http.ResponseWriter, r *http.Request) {
	c, token, err := h.managed(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h.response(c, "", token))
}

// update serves PUT /register/{client_id} (RFC 7592 §2.2): the request
// replaces the metadata, validated as a registration is. Its client_id
// must be the client's; a client_secret, if sent, must be the client's
// current one (a client never chooses its secret); whether the client is
// public cannot change. The secret and registration access token stay.
func (h *handler) update(w http.ResponseWriter, r *http.Request) {
	c, token, err := h.managed(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	m, perr := readMetadata(w, r)
	if perr != nil {
		h.fail(w, perr)
		return
	}
	if m.ClientID != c.ID {
		h.fail(w, metadataError("client_id must be the client's own identifier"))
		return
	}
	if m.ClientSecret != "" && (c.Public || !secret.Matches(m.ClientSecret, c.SecretHash)) {
		h.fail(w, metadataError("client_secret is not the client's current secret; a client cannot choose its secret"))
		return
	}
	reg, perr := h.cfg.Rules.Check(m)
	if perr != nil {
		h.fail(w, perr)
		return
	}
	if reg.Public() != c.Public {
		h.fail(w, metadataError("token_endpoint_auth_method cannot change between none and a client secret; register a new client"))
		return
	}
	hash := c.RegistrationTokenHash
	c, uerr := h.cfg.Store.UpdateClient(r.Context(), c.ID, func(old store.Client) (store.Client, error) {
		if old.RegistrationTokenHash != hash {
			return store.Client{}, errTokenChanged
		}
		apply(&old, reg)
		return old, nil
	})
	switch {
	case errors.Is(uerr, store.ErrNotFound), errors.Is(uerr, errTokenChanged):
		h.fail(w, invalidToken("the registration access token is not valid"))
		return
	case uerr != nil:
		h.fault(w, "update client", uerr)
		return
	}
	h.audit(r, audit.ClientRegistrationUpdated, c, fmt.Sprintf("updated through RFC 7592 as %q (%s), redirect URIs %s, scopes %q",
		c.Name, c.ApplicationType, strings.Join(c.RedirectURIs, " "), scope.Set(c.Scopes)))
	writeJSON(w, http.StatusOK, h.response(c, reg.AuthMethod, token))
}

var errTokenChanged = errors.New("registration access token changed")

// delete serves DELETE /register/{client_id} (RFC 7592 §2.3): the client
// goes, with its codes, consents and token families, so every token it
// holds stops working.
func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	c, _, err := h.managed(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	if derr := h.cfg.Store.DeleteClient(r.Context(), c.ID); derr != nil && !errors.Is(derr, store.ErrNotFound) {
		h.fault(w, "delete client", derr)
		return
	}
	h.audit(r, audit.ClientRegistrationDeleted, c, fmt.Sprintf("deleted through RFC 7592: %q", c.Name))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// managed authenticates a management request: its Bearer token must be
// the registration access token of the client the path names. Any
// failure (no token, a wrong one, another client's, a client that does
// not exist or did not register itself) is the same 401 (RFC 7592 §2).
func (h *handler) managed(r *http.Request) (store.Client, string, *Error) {
	token, ok := bearer(r)
	if !ok {
		return store.Client{}, "", missingToken()
	}
	id := r.PathValue("client_id")
	bad := invalidToken("the registration access token is not valid for this client")
	c, err := h.cfg.Store.GetClient(r.Context(), id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return store.Client{}, "", h.logFault("load client", err)
		}
		return store.Client{}, "", bad
	}
	if c.Origin != store.OriginRegistered || !secret.Matches(token, c.RegistrationTokenHash) {
		return store.Client{}, "", bad
	}
	return c, token, nil
}

// initialToken checks the initial access token a registration presents.
func (h *handler) initialToken(ctx context.Context, r *http.Request) (store.InitialAccessToken, *Error) {
	token, ok := bearer(r)
	if !ok {
		return store.InitialAccessToken{}, missingToken()
	}
	t, err := h.cfg.Store.GetInitialAccessToken(ctx, secret.Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.InitialAccessToken{}, invalidToken("the initial access token is not valid")
	}
	if err != nil {
		return store.InitialAccessToken{}, h.logFault("load initial access token", err)
	}
	if !t.ExpiresAt.IsZero() && !h.cfg.Provider.Now().Before(t.ExpiresAt) {
		return store.InitialAccessToken{}, invalidToken("the initial access token has expired")
	}
	return t, nil
}

// bearer returns the Bearer token of the Authorization header as
// access.BearerToken reads it; ok is false when there is none to check
// (no header, another scheme, a malformed one, more than one) or it is
// longer than any token Latchkey issues.
func bearer(r *http.Request) (token string, ok bool) {
	token, err := access.BearerToken(r)
	return token, err == nil && len(token) <= 512
}

func missingToken() *Error {
	return &Error{Status: http.StatusUnauthorized, Description: "a Bearer token is required"}
}

func invalidToken(desc string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: desc}
}

// readMetadata reads and parses the request body, at most MaxBody bytes.
func readMetadata(w http.ResponseWriter, r *http.Request) (Metadata, *Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Metadata{}, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeInvalidClientMetadata,
				Description: fmt.Sprintf("the request body is larger than %d bytes", MaxBody)}
		}
		return Metadata{}, metadataError("the request body could not be read")
	}
	return ParseMetadata(body)
}

func (h *handler) audit(r *http.Request, e audit.Event, c store.Client, detail string) {
	h.cfg.Provider.Audit(r.Context(), store.AuditEvent{Event: e, ClientID: c.ID, Remote: oauth.RemoteAddress(r), Detail: detail})
}

// fail writes e: a Bearer challenge with a 401 (RFC 6750 §3: without
// error parameters when no token was presented), the JSON error body of
// RFC 7591 §3.2.2 otherwise.
func (h *handler) fail(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusUnauthorized {
		challenge := `Bearer realm="` + h.cfg.Issuer + `"`
		if e.Code != "" {
			challenge += `, error="` + e.Code + `", error_description="` + e.Description + `"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		if e.Code == "" {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(e.Status)
			return
		}
	}
	writeJSON(w, e.Status, errorBody{Error: e.Code, Description: e.Description})
}

func (h *handler) logFault(op string, err error) *Error {
	h.cfg.Logger.Error("registration: "+op, "error", err)
	if errors.Is(err, store.ErrUnavailable) {
		return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the database is unavailable; try again later"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "the server failed"}
}

func (h *handler) fault(w http.ResponseWriter, op string, err error) {
	if errors.Is(err, store.ErrInvalidText) {
		h.fail(w, metadataError("a metadata value holds a NUL byte or invalid UTF-8"))
		return
	}
	h.fail(w, h.logFault(op, err))
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeJSON writes v with the no-store headers RFC 7591 §3.2 asks for.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeRateLimited answers a request over the rate limit: 429 with the
// RFC 6749 error temporarily_unavailable.
func writeRateLimited(w http.ResponseWriter, _ *http.Request, retryAfter time.Duration) {
	writeJSON(w, http.StatusTooManyRequests, errorBody{Error: "temporarily_unavailable",
		Description: fmt.Sprintf("too many requests: try again in %d seconds", int64(math.Ceil(max(retryAfter.Seconds(), 1))))})
}
