package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"latchkey/internal/resource"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// Grant types (RFC 6749 §4, RFC 8628 §3.4). The ones the token endpoint
// serves are listed by GrantTypes; GrantPassword is named only to be
// refused.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
)

// Limits on free-text parameters, so that requests stay small.
const (
	maxStateLen = 2048
	maxNonceLen = 512
)

// Prompt values (OpenID Connect Core §3.1.2.1).
const (
	PromptNone    = "none"
	PromptLogin   = "login"
	PromptConsent = "consent"
)

// AuthRequest is a validated authorization request.
type AuthRequest struct {
	Client          store.Client
	RedirectURI     string // where the response goes
	RedirectURISent bool   // whether the request named redirect_uri
	State           string
	Scopes          scope.Set
	CodeChallenge   string
	ChallengeMethod string // S256 or plain; empty without PKCE
	Nonce           string
	Prompt          []string
	// ACR is the authentication class the request asks for with
	// acr_values (OpenID Connect Core §3.1.2.1): ACRMultiFactor when it
	// names it (or its alias "mfa"), else "" (any sign-in will do).
	ACR string
	// MaxAge is the max_age parameter (OpenID Connect Core §3.1.2.1): the
	// longest time since the user last signed in; negative when absent.
	MaxAge time.Duration
	// Params are the request's parameters as received, to carry the request
	// through login and consent; it is validated again at each step.
	Params Params
	// Resources are the RFC 8707 resources the request named (nil:
	// Latchkey's code-hosting resource), and Servers the external
	// resource servers among them, for the consent page to name.
	Resources []string
	Servers   []store.ResourceServer
}

// HasPrompt reports whether the request carries prompt value v.
func (r *AuthRequest) HasPrompt(v string) bool { return slices.Contains(r.Prompt, v) }

// PageError is an authorization error found before the client and its
// redirect URI were validated. It is shown to the person on an HTML page and
// never redirected anywhere (RFC 6749 §4.1.2.1), so there is no open redirect.
type PageError struct {
	Status  int
	Message string
}

func (e *PageError) Error() string { return e.Message }

// RedirectError is an authorization error sent back to the client's
// validated redirect URI.
type RedirectError struct {
	Err         *Error
	RedirectURI string
	State       string
}

func (e *RedirectError) Error() string { return e.Err.Error() }

// Unwrap exposes the protocol error.
func (e *RedirectError) Unwrap() error { return e.Err }

func pageError(format string, args ...any) *PageError {
	return &PageError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// ValidateAuthorize checks an authorization request (RFC 6749 §4.1.1,
// RFC 7636 §4.3). It returns a *PageError while the client or redirect URI
// is not trusted, a *RedirectError after that, or another error for a
// server fault.
func (p *Provider) ValidateAuthorize(ctx context.Context, params Params) (*AuthRequest, error) {
	client, redirectURI, err := p.trustedRedirect(ctx, params)
	if err != nil {
		return nil, err
	}
	req := &AuthRequest{
		Client:          client,
		RedirectURI:     redirectURI,
		RedirectURISent: params.Has("redirect_uri"),
		State:           params.Get("state"),
		Nonce:           params.Get("nonce"),
		Params:          params,
		MaxAge:          -1,
	}
	if len(req.State) > maxStateLen {
		req.State = ""
		return nil, req.Fail(InvalidRequest("state is longer than %d characters", maxStateLen))
	}
	t, err := p.resolveTarget(ctx, params.Resources())
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status < 500 {
			return nil, req.Fail(e)
		}
		return nil, err
	}
	req.Resources, req.Servers = t.ids, t.external
	checkScopes := func(req *AuthRequest, params Params) *Error {
		scopes, e := p.requestedScopes(req.Client, params.Get("scope"), t)
		req.Scopes = scopes
		return e
	}
	for _, check := range []func(*AuthRequest, Params) *Error{
		checkUnsupported, checkResponseType, checkScopes, checkPKCE, checkPrompt, checkNonce, checkMaxAge, checkACR,
	} {
		if e := check(req, params); e != nil {
			return nil, req.Fail(e)
		}
	}
	return req, nil
}

// trustedRedirect validates client_id and redirect_uri; every failure here
// is a PageError.
func (p *Provider) trustedRedirect(ctx context.Context, params Params) (store.Client, string, error) {
	clientID := params.Get("client_id")
	if clientID == "" {
		return store.Client{}, "", pageError("The request does not name an application (client_id is missing).")
	}
	client, err := p.client(ctx, clientID)
	if u, ok := asUnusable(err); ok {
		return store.Client{}, "", pageError("The application that sent you here cannot be used: %s", u.Reason)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, "", pageError("The application that sent you here is not registered with this server.")
	}
	if err != nil {
		return store.Client{}, "", fmt.Errorf("authorize: load client: %w", err)
	}
	if client.Suspended {
		return store.Client{}, "", pageError("The application %q is suspended by an administrator.", client.Name)
	}
	requested := params.Get("redirect_uri")
	if requested == "" {
		if len(client.RedirectURIs) != 1 {
			return store.Client{}, "", pageError("The request does not say where to return to (redirect_uri is missing).")
		}
		return client, client.RedirectURIs[0], nil
	}
	matched, err := MatchRedirectURI(client.RedirectURIs, requested)
	if err != nil {
		return store.Client{}, "", pageError("The return address of this request is not registered for the application %q.", client.Name)
	}
	return client, matched, nil
}

// ResponseModeQuery is the one response mode Latchkey answers in (OAuth
// 2.0 Multiple Response Type Encoding Practices §2.1), the default of
// response_type=code; discovery lists it as response_modes_supported.
const ResponseModeQuery = "query"

// checkUnsupported refuses the authorization request features Latchkey
// does not support instead of ignoring them, so that a client never takes
// an unsigned, unchecked reading of its request for the request it meant
// (OpenID Connect Core §3.1.2.6, §6): request objects (request,
// request_uri), dynamic registration data (registration) and any
// response_mode other than query.
func checkUnsupported(_ *AuthRequest, params Params) *Error {
	switch mode := params.Get("response_mode"); {
	case params.Has("request"):
		return newError(CodeRequestNotSupported, http.StatusBadRequest, "request objects (the request parameter) are not supported")
	case params.Has("request_uri"):
		return newError(CodeRequestURINotSupported, http.StatusBadRequest, "request objects by reference (request_uri) are not supported")
	case params.Has("registration"):
		return newError(CodeRegistrationNotSupported, http.StatusBadRequest, "the registration parameter is not supported")
	case params.Has("response_mode") && mode != ResponseModeQuery:
		return InvalidRequest("response_mode %q is not supported; only query is", mode)
	}
	return nil
}

func checkResponseType(req *AuthRequest, params Params) *Error {
	rt := params.Get("response_type")
	switch {
	case rt == "":
		return InvalidRequest("response_type is required")
	case rt != "code":
		return &Error{Code: CodeUnsupportedResponseType, Status: http.StatusBadRequest,
			Description: "only response_type=code is supported; the implicit flow is not"}
	case !slices.Contains(req.Client.GrantTypes, GrantAuthorizationCode):
		return UnauthorizedClient("the client is not registered for the authorization code grant")
	}
	return nil
}

func checkPKCE(req *AuthRequest, params Params) *Error {
	challenge := params.Get("code_challenge")
	rawMethod := params.Get("code_challenge_method")
	if challenge == "" {
		if rawMethod != "" {
			return InvalidRequest("code_challenge_method was sent without code_challenge")
		}
		if req.Client.Public || req.Client.PKCERequired {
			return InvalidRequest("code_challenge is required for this client (PKCE, RFC 7636)")
		}
		return nil
	}
	method, ok := NormalizeChallengeMethod(rawMethod)
	if !ok {
		return InvalidRequest("code_challenge_method %q is not supported: use S256", rawMethod)
	}
	if !validChallenge(challenge, method) {
		return InvalidRequest("code_challenge is malformed for method %s", method)
	}
	req.CodeChallenge, req.ChallengeMethod = challenge, method
	return nil
}

func checkPrompt(req *AuthRequest, params Params) *Error {
	for _, v := range strings.Fields(params.Get("prompt")) {
		switch v {
		case PromptNone, PromptLogin, PromptConsent, "select_account":
			req.Prompt = append(req.Prompt, v)
		default:
			return InvalidRequest("prompt value %q is not supported", v)
		}
	}
	if req.HasPrompt(PromptNone) && len(req.Prompt) > 1 {
		return InvalidRequest("prompt=none cannot be combined with other prompt values")
	}
	return nil
}

func checkNonce(req *AuthRequest, _ Params) *Error {
	if len(req.Nonce) > maxNonceLen {
		return InvalidRequest("nonce is longer than %d characters", maxNonceLen)
	}
	return nil
}

func checkMaxAge(req *AuthRequest, params Params) *Error {
	raw := params.Get("max_age")
	if raw == "" {
		return nil
	}
	seconds, err := strconv.ParseInt(raw, 10, 32)
	if err != nil || seconds < 0 {
		return InvalidRequest("max_age must be a non-negative number of seconds")
	}
	req.MaxAge = time.Duration(seconds) * time.Second
	return nil
}

// NeedsLogin reports whether the user must sign in (again): no session,
// prompt=login, or a sign-in older than max_age.
func (r *AuthRequest) NeedsLogin(signedIn bool, authTime, now time.Time) bool {
	return !signedIn || r.HasPrompt(PromptLogin) || (r.MaxAge >= 0 && now.Sub(authTime) > r.MaxAge)
}

// Fail turns a protocol error into a RedirectError for this request.
func (r *AuthRequest) Fail(e *Error) *RedirectError {
	return &RedirectError{Err: e, RedirectURI: r.RedirectURI, State: r.State}
}

// ErrorRedirectURL is the redirect URI carrying e as RFC 6749 §4.1.2.1
// error parameters, with state and iss (RFC 9207).
func (p *Provider) ErrorRedirectURL(e *RedirectError) string {
	q := url.Values{"error": {e.Err.Code}, "iss": {p.cfg.Issuer}}
	if e.Err.Description != "" {
		q.Set("error_description", e.Err.Description)
	}
	if e.State != "" {
		q.Set("state", e.State)
	}
	return appendQuery(e.RedirectURI, q)
}

// NeedsConsent reports whether the user must be asked: prompt=consent, or,
// unless the client is trusted (IsTrusted), no remembered consent that
// covers the requested scopes and resources.
func (p *Provider) NeedsConsent(ctx context.Context, req *AuthRequest, userID int64) (bool, error) {
	if req.HasPrompt(PromptConsent) {
		return true, nil
	}
	if IsTrusted(req.Client) {
		return false, nil
	}
	c, err := p.store.GetConsent(ctx, userID, req.Client.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("authorize: load consent: %w", err)
	}
	return !scope.Set(c.Scopes).Covers(req.Scopes) || !coversResources(p.cfg.Issuer, c.Resources, req.Resources), nil
}

// coversResources reports whether a consent for the resources approved
// covers a request for the resources requested.
func coversResources(issuer string, approved, requested []string) bool {
	have := resource.Of(issuer, approved)
	for _, r := range resource.Of(issuer, requested) {
		if !slices.Contains(have, r) {
			return false
		}
	}
	return true
}

// RememberConsent records that the user approved the request's scopes,
// adding them to what they approved before for the client when the two
// together still cover this request. They do not when exactly one of them
// is restricted (public-only): the union would be restricted, or would
// lift the restriction the user approved, so the latest approval replaces
// the earlier one and a remembered consent never covers more than the user
// approved.
func (p *Provider) RememberConsent(ctx context.Context, req *AuthRequest, userID int64) error {
	scopes, resources := req.Scopes, slices.Clone(resource.Of(p.cfg.Issuer, req.Resources))
	if c, err := p.store.GetConsent(ctx, userID, req.Client.ID); err == nil {
		if both := scope.Set(c.Scopes).Union(scopes); both.Covers(scopes) {
			scopes = both
			for _, r := range resource.Of(p.cfg.Issuer, c.Resources) {
				if !slices.Contains(resources, r) {
					resources = append(resources, r)
				}
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("authorize: load consent: %w", err)
	}
	if slices.Equal(resources, []string{resource.Code(p.cfg.Issuer)}) {
		resources = nil // as every consent before resource indicators
	}
	err := p.store.SaveConsent(ctx, store.Consent{
		UserID: userID, ClientID: req.Client.ID, Scopes: scopes, GrantedAt: p.cfg.Now(), Resources: resources,
	})
	if err != nil {
		return fmt.Errorf("authorize: save consent: %w", err)
	}
	return nil
}

// IssueCode creates a single-use authorization code bound to the request
// and the user, and returns the redirect URI that carries it. signIn is
// what the user's session signed in with; the code, its grant and its ID
// tokens carry it (sid, amr, acr).
func (p *Provider) IssueCode(ctx context.Context, req *AuthRequest, userID int64, authTime time.Time, signIn store.SignIn) (string, error) {
	if req.ACR == ACRMultiFactor && signIn.ACR != ACRMultiFactor {
		// The pages step up before they issue; this is the last guard.
		return "", fmt.Errorf("authorize: a code for %s from a sign-in of class %q", req.ACR, signIn.ACR)
	}
	now := p.cfg.Now()
	code := secret.NewToken(secret.CodePrefix, now)
	err := p.store.CreateAuthCode(ctx, store.AuthCode{
		Hash:            secret.TokenKey(code),
		ClientID:        req.Client.ID,
		UserID:          userID,
		RedirectURI:     req.RedirectURI,
		RedirectURISent: req.RedirectURISent,
		Scopes:          req.Scopes,
		CodeChallenge:   req.CodeChallenge,
		ChallengeMethod: req.ChallengeMethod,
		Nonce:           req.Nonce,
		AuthTime:        authTime,
		CreatedAt:       now,
		ExpiresAt:       now.Add(p.cfg.CodeTTL),
		Resources:       req.Resources,
		SignIn:          signIn,
	})
	if err != nil {
		return "", fmt.Errorf("authorize: store code: %w", err)
	}
	q := url.Values{"code": {code}, "iss": {p.cfg.Issuer}}
	if req.State != "" {
		q.Set("state", req.State)
	}
	return appendQuery(req.RedirectURI, q), nil
}

// Authentication classes (the acr claim; OpenID Connect Core §2): what
// a sign-in proved. Latchkey names two.
const (
	ACRPassword    = "urn:latchkey:acr:pwd" // one factor: a password
	ACRMultiFactor = "urn:latchkey:acr:mfa" // a second factor, or a passkey that verified the user
)

// ACRValuesSupported lists the classes acr_values may ask for, for
// discovery.
func ACRValuesSupported() []string { return []string{ACRPassword, ACRMultiFactor} }

// checkACR reads acr_values: a space-separated list of classes in order
// of preference (OpenID Connect Core §3.1.2.1), voluntary. Asking for
// ACRMultiFactor (or "mfa") anywhere in it makes the pages require a
// second factor of the session, stepping up if need be; other values,
// known or not, ask for nothing more than a sign-in.
func checkACR(req *AuthRequest, params Params) *Error {
	for _, v := range strings.Fields(params.Get("acr_values")) {
		if v == ACRMultiFactor || v == "mfa" {
			req.ACR = ACRMultiFactor
		}
	}
	return nil
}

// NeedsStepUp reports whether a session whose sign-in was of class acr
// falls short of what the request asks for.
func (r *AuthRequest) NeedsStepUp(acr string) bool {
	return r.ACR == ACRMultiFactor && acr != ACRMultiFactor
}

// IsTrusted reports whether c is a trusted first-party application, whose
// users are not asked to consent (the grant is recorded as any other): an
// administrator marked it, and it is confidential and registered by an
// administrator or a user, never public or self-registered, so that no
// one can make a client trusted by registering it.
func IsTrusted(c store.Client) bool {
	return c.Trusted && !c.Public && c.Origin == store.OriginAdmin && c.SecretHash != ""
}
