package register

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"latchkey/internal/logout"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Error codes of RFC 7591 §3.2.2 and RFC 6750 §3.1.
const (
	CodeInvalidRedirectURI    = "invalid_redirect_uri"
	CodeInvalidClientMetadata = "invalid_client_metadata"
	CodeInvalidToken          = "invalid_token"
)

// Token endpoint authentication methods of RFC 7591 §2 that Latchkey
// supports. "none" makes a public client.
const (
	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
)

// Bounds of a registration request.
const (
	// MaxBody is the largest request body read; a larger one is refused.
	MaxBody = 64 << 10
	// MaxRedirectURIs is the most redirect URIs one client may register.
	MaxRedirectURIs = 20
	// MaxURILength bounds every URI of the metadata, in bytes.
	MaxURILength = 2048
	// MaxNameLength bounds client_name, in characters.
	MaxNameLength = 200
)

// Error is a refused registration or management request, written as the
// JSON error response of RFC 7591 §3.2.2 (or, for Code invalid_token, of
// RFC 6750 §3.1 with a Bearer challenge).
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func metadataError(format string, args ...any) *Error {
	return &Error{Status: 400, Code: CodeInvalidClientMetadata, Description: fmt.Sprintf(format, args...)}
}

func redirectError(format string, args ...any) *Error {
	return &Error{Status: 400, Code: CodeInvalidRedirectURI, Description: fmt.Sprintf(format, args...)}
}

// Metadata is the client metadata of a registration or update request
// (RFC 7591 §2; RFC 7592 §2.2 adds client_id and client_secret). Members
// Latchkey does not keep (logo_uri, contacts, tos_uri, policy_uri,
// software_id, software_version, software_statement, jwks, ...) and
// unknown members are accepted and ignored: the response, which lists
// what was registered, leaves them out (RFC 7591 §3.2.1).
type Metadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name"`
	ClientURI               string   `json:"client_uri"`
	Scope                   string   `json:"scope"`
	ApplicationType         string   `json:"application_type"`
	// OpenID Connect RP-Initiated Logout 1.0 §3.1 and Back-Channel
	// Logout 1.0 §2.2.
	PostLogoutRedirectURIs           []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI             string   `json:"backchannel_logout_uri"`
	BackchannelLogoutSessionRequired bool     `json:"backchannel_logout_session_required"`
	// ClientID and ClientSecret are only read from an RFC 7592 update.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// ParseMetadata reads a request body that must be one JSON object. A
// member of the wrong JSON type, a body that is not one object, or one
// larger than MaxBody is an invalid_client_metadata *Error.
func ParseMetadata(body []byte) (Metadata, *Error) {
	if len(body) > MaxBody {
		return Metadata{}, metadataError("the request body is larger than %d bytes", MaxBody)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Metadata{}, metadataError("the request body must be a JSON object of client metadata")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var m Metadata
	if err := dec.Decode(&m); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return Metadata{}, metadataError("client metadata %q has the wrong JSON type (want %s)", typeErr.Field, typeErr.Type)
		}
		return Metadata{}, metadataError("the request body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Metadata{}, metadataError("the request body must hold one JSON object and nothing after it")
	}
	return m, nil
}

// Rules are the registration policy's limits on metadata.
type Rules struct {
	// Scopes are the scopes a self-registered client may ever be given.
	Scopes scope.Set
	// AllowInsecureRedirects is the skip-redirect-URL-HTTPS setting: plain
	// http redirect URIs to any host, for development.
	AllowInsecureRedirects bool
}

// Registered is metadata after validation and the server's defaults: what
// a client is registered with.
type Registered struct {
	Name            string
	RedirectURIs    []string
	GrantTypes      []string // sorted, no duplicates
	ResponseTypes   []string
	AuthMethod      string
	Scopes          scope.Set
	ApplicationType string
	ClientURI       string
	// Logout settings: post-logout redirect URIs checked as redirect
	// URIs are, the back-channel logout URI by logout.CheckBackchannelURI.
	PostLogoutRedirectURIs           []string
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
}

// Public reports whether the client has no secret.
func (r Registered) Public() bool { return r.AuthMethod == AuthNone }

// Check validates metadata and fills in the defaults of RFC 7591 §2:
// grant_types authorization_code, response_types code,
// token_endpoint_auth_method client_secret_basic, application_type web.
//
// Grant types: authorization_code, refresh_token and the device code
// grant; client_credentials, password and implicit are refused (a
// self-registered client gets no identity of its own and no grant that
// skips the user). Response types: code only, and exactly when
// authorization_code is asked for. redirect_uris are required with
// authorization_code and checked by oauth.CheckRedirectURI and the
// application type's rule (checkRedirect). Scopes outside rules.Scopes,
// and unknown ones, are dropped, as RFC 7591 §2 lets the server replace
// requested values; the response lists what was registered. No scope
// asked for registers all of rules.Scopes; scopes asked for of which none
// is allowed are refused.
func (rules Rules) Check(m Metadata) (Registered, *Error) {
	var reg Registered
	var err *Error
	if reg.ApplicationType, err = applicationType(m.ApplicationType); err != nil {
		return Registered{}, err
	}
	if reg.AuthMethod, err = authMethod(m.TokenEndpointAuthMethod); err != nil {
		return Registered{}, err
	}
	if reg.GrantTypes, reg.ResponseTypes, err = grantAndResponseTypes(m.GrantTypes, m.ResponseTypes); err != nil {
		return Registered{}, err
	}
	if len(m.RedirectURIs) == 0 && slices.Contains(reg.GrantTypes, oauth.GrantAuthorizationCode) {
		return Registered{}, redirectError("redirect_uris is required for the authorization_code grant")
	}
	if len(m.RedirectURIs) > MaxRedirectURIs {
		return Registered{}, redirectError("at most %d redirect URIs may be registered", MaxRedirectURIs)
	}
	for _, u := range m.RedirectURIs {
		if err := checkRedirect(u, reg.ApplicationType, rules.AllowInsecureRedirects); err != nil {
			return Registered{}, err
		}
	}
	reg.RedirectURIs = slices.Compact(slices.Clone(m.RedirectURIs))
	if len(m.PostLogoutRedirectURIs) > MaxRedirectURIs {
		return Registered{}, metadataError("at most %d post-logout redirect URIs may be registered", MaxRedirectURIs)
	}
	for _, u := range m.PostLogoutRedirectURIs {
		if err := checkRedirect(u, reg.ApplicationType, rules.AllowInsecureRedirects); err != nil {
			return Registered{}, metadataError("post_logout_redirect_uris: %s", err.Description)
		}
	}
	reg.PostLogoutRedirectURIs = slices.Compact(slices.Clone(m.PostLogoutRedirectURIs))
	if u := m.BackchannelLogoutURI; u != "" {
		if len(u) > MaxURILength {
			return Registered{}, metadataError("backchannel_logout_uri is longer than %d bytes", MaxURILength)
		}
		if err := logout.CheckBackchannelURI(u, rules.AllowInsecureRedirects); err != nil {
			return Registered{}, metadataError("%s", err.Error())
		}
		reg.BackchannelLogoutURI = u
	}
	reg.BackchannelLogoutSessionRequired = m.BackchannelLogoutSessionRequired
	if reg.ClientURI, err = clientURI(m.ClientURI, rules.AllowInsecureRedirects); err != nil {
		return Registered{}, err
	}
	if reg.Name, err = clientName(m.ClientName, reg); err != nil {
		return Registered{}, err
	}
	if reg.Scopes, err = rules.scopes(m.Scope); err != nil {
		return Registered{}, err
	}
	return reg, nil
}

func applicationType(v string) (string, *Error) {
	switch v {
	case "", store.ApplicationWeb:
		return store.ApplicationWeb, nil
	case store.ApplicationNative:
		return store.ApplicationNative, nil
	}
	return "", metadataError("application_type must be web or native")
}

func authMethod(v string) (string, *Error) {
	switch v {
	case "":
		return AuthClientSecretBasic, nil
	case AuthNone, AuthClientSecretBasic, AuthClientSecretPost:
		return v, nil
	}
	return "", metadataError("token_endpoint_auth_method %q is not supported (supported: none, client_secret_basic, client_secret_post)", printable(v))
}

// grantAndResponseTypes checks the grant and response types and their
// consistency (RFC 7591 §2.1).
func grantAndResponseTypes(grants, responses []string) ([]string, []string, *Error) {
	if len(grants) == 0 {
		grants = []string{oauth.GrantAuthorizationCode}
	}
	grants = slices.Clone(grants)
	slices.Sort(grants)
	grants = slices.Compact(grants)
	for _, g := range grants {
		switch g {
		case oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantDeviceCode:
		case oauth.GrantClientCredentials:
			return nil, nil, metadataError("the client_credentials grant is not available to self-registered clients; ask an administrator to register the client")
		default:
			return nil, nil, metadataError("grant type %q is not supported (supported: authorization_code, refresh_token, %s)", printable(g), oauth.GrantDeviceCode)
		}
	}
	code := slices.Contains(grants, oauth.GrantAuthorizationCode)
	if !code && !slices.Contains(grants, oauth.GrantDeviceCode) {
		return nil, nil, metadataError("refresh_token needs authorization_code or %s", oauth.GrantDeviceCode)
	}
	if len(responses) == 0 && code {
		responses = []string{"code"}
	}
	responses = slices.Compact(slices.Sorted(slices.Values(responses)))
	for _, r := range responses {
		if r != "code" {
			return nil, nil, metadataError("response type %q is not supported (supported: code)", printable(r))
		}
	}
	if code != (len(responses) == 1) {
		return nil, nil, metadataError("response_types code goes with grant_types authorization_code, and only with it")
	}
	return grants, responses, nil
}

// checkRedirect applies oauth.CheckRedirectURI and the application type's
// rule (RFC 8252, OpenID Connect Dynamic Client Registration §2): a web
// client redirects to https on a host that is not loopback; a native
// client to http on a loopback host (any port, RFC 8252 §7.3), to a
// private-use scheme (§7.1) or to https (a claimed URL, §7.2).
// allowInsecure also lets a web client use plain http on any host.
func checkRedirect(raw, appType string, allowInsecure bool) *Error {
	if len(raw) > MaxURILength {
		return redirectError("a redirect URI is longer than %d bytes", MaxURILength)
	}
	if !cleanText(raw) {
		return redirectError("a redirect URI holds a control character or invalid UTF-8")
	}
	if err := oauth.CheckRedirectURI(raw, allowInsecure); err != nil {
		return redirectError("%s", err.Error())
	}
	u, _ := url.Parse(raw) // CheckRedirectURI parsed it
	loopback := oauth.IsLoopbackHost(u.Hostname())
	switch appType {
	case store.ApplicationNative:
		if u.Scheme == "http" && !loopback && !allowInsecure {
			return redirectError("redirect URI %q: a native application may use plain http only on a loopback address", raw)
		}
	default:
		switch {
		case u.Scheme != "https" && u.Scheme != "http":
			return redirectError("redirect URI %q: a web application must redirect to https; private-use schemes are for application_type native", raw)
		case u.Scheme == "http" && !allowInsecure:
			return redirectError("redirect URI %q: a web application must redirect to https; loopback redirects are for application_type native", raw)
		case loopback && !allowInsecure:
			return redirectError("redirect URI %q: a web application must not redirect to a loopback address; register it as application_type native", raw)
		}
	}
	return nil
}

// clientURI checks the client's home page: "" or an absolute http(s) URL
// (https unless allowInsecure) without user information.
func clientURI(raw string, allowInsecure bool) (string, *Error) {
	if raw == "" {
		return "", nil
	}
	if len(raw) > MaxURILength || !cleanText(raw) {
		return "", metadataError("client_uri is longer than %d bytes or holds a control character", MaxURILength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || (u.Scheme != "https" && (u.Scheme != "http" || !allowInsecure)) {
		return "", metadataError("client_uri must be an absolute https URL")
	}
	return raw, nil
}

// clientName is the name shown on the consent page: client_name, or when
// the client gave none the host of its client_uri or first redirect URI.
func clientName(raw string, reg Registered) (string, *Error) {
	name := strings.TrimSpace(raw)
	if name == "" {
		name = "unnamed application"
		for _, u := range append([]string{reg.ClientURI}, reg.RedirectURIs...) {
			if p, err := url.Parse(u); err == nil && p.Hostname() != "" {
				name = "application at " + p.Hostname()
				break
			}
		}
	}
	if utf8.RuneCountInString(name) > MaxNameLength || !cleanText(name) || strings.ContainsFunc(name, isFormat) {
		return "", metadataError("client_name must be at most %d characters without control or format characters", MaxNameLength)
	}
	return name, nil
}

// scopes narrows the requested scopes to those the policy allows.
func (rules Rules) scopes(raw string) (scope.Set, *Error) {
	if strings.TrimSpace(raw) == "" {
		return slices.Clone(rules.Scopes), nil
	}
	var kept scope.Set
	for _, tok := range strings.Fields(raw) {
		one, err := scope.Parse(tok)
		if err != nil || len(one) != 1 {
			continue // unknown: dropped
		}
		if rules.Scopes.Covers(one) {
			kept = append(kept, one[0])
		}
	}
	if len(kept) == 0 {
		return nil, metadataError("none of the requested scopes may be given to a self-registered client (allowed: %s)", rules.Scopes)
	}
	slices.Sort(kept)
	return slices.Compact(kept), nil
}

// cleanText reports whether s is valid UTF-8 without control characters
// (NUL included), which no metadata value Latchkey keeps may hold.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// isFormat reports an invisible format character (Unicode Cf: bidi
// overrides, zero-width joiners), which could make a name on the consent
// page read as another.
func isFormat(r rune) bool { return unicode.Is(unicode.Cf, r) }

// printable bounds a value quoted in an error description.
func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
