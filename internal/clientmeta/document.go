package clientmeta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// MaxClientIDLength is the longest client_id URL accepted, in bytes.
const MaxClientIDLength = 1024

// maxNameLength bounds client_name, in characters.
const maxNameLength = 100

// IsDocumentURL reports whether id is meant as the URL of a client ID
// metadata document: it starts with "https://". Whether it is a valid one
// is CheckClientID's to say.
func IsDocumentURL(id string) bool { return strings.HasPrefix(id, "https://") }

// CheckClientID applies the rules of the draft (§3, "Client Identifier")
// to a client_id URL: the "https" scheme, a path component, no "." or
// ".." path segment (nor their percent-encoded forms), no fragment, no
// user name or password. A query is allowed (the draft says SHOULD NOT,
// not MUST NOT) and so is a port. Latchkey adds: at most
// MaxClientIDLength bytes, a host, and no spaces, control characters or
// backslashes anywhere (they are not in a URI, and a parser would read
// them in its own way). The error says which rule failed.
func CheckClientID(id string) error {
	if !IsDocumentURL(id) {
		return errors.New(`the client_id of a client ID metadata document must be an "https://" URL`)
	}
	if len(id) > MaxClientIDLength {
		return fmt.Errorf("the client_id URL is longer than %d bytes", MaxClientIDLength)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == '\\' || r >= 0x80 {
			return errors.New("the client_id URL contains a space, a control character, a backslash or a character outside ASCII")
		}
	}
	if strings.Contains(id, "#") {
		return errors.New("the client_id URL must not contain a fragment")
	}
	rest := strings.TrimPrefix(id, "https://")
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		return errors.New("the client_id URL must contain a path, such as https://example.com/client.json")
	}
	authority, tail := rest[:end], rest[end:]
	if strings.Contains(authority, "@") {
		return errors.New("the client_id URL must not contain a user name or password")
	}
	if !strings.HasPrefix(tail, "/") {
		return errors.New("the client_id URL must contain a path, such as https://example.com/client.json")
	}
	path, _, _ := strings.Cut(tail, "?")
	for seg := range strings.SplitSeq(path, "/") {
		if d := strings.ToLower(strings.ReplaceAll(strings.ToLower(seg), "%2e", ".")); d == "." || d == ".." {
			return errors.New(`the client_id URL must not contain "." or ".." path segments`)
		}
	}
	u, err := url.Parse(id)
	if err != nil {
		return fmt.Errorf("the client_id is not a valid URL: %v", urlErrText(err))
	}
	if u.Scheme != "https" || u.Host == "" || u.Hostname() == "" {
		return errors.New("the client_id URL has no host")
	}
	if u.User != nil || u.Fragment != "" {
		return errors.New("the client_id URL must not contain a user name, a password or a fragment")
	}
	return nil
}

// urlErrText is a url.Error's message without the URL repeated in it.
func urlErrText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// document is the part of a client metadata document (RFC 7591 §2 names)
// that Latchkey reads. Other members are ignored.
type document struct {
	ClientID                string   `json:"client_id"`
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name"`
	ClientURI               string   `json:"client_uri"`
	LogoURI                 string   `json:"logo_uri"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scope                   string   `json:"scope"`
	ApplicationType         string   `json:"application_type"`
}

// Parse validates a client metadata document fetched from the URL id
// and builds the client it describes (without MetadataExpiresAt and
// CreatedAt, which are the caller's). Its rules:
//
//   - the body is one JSON object; its "client_id" equals id exactly
//     (simple string comparison, RFC 3986 §6.2.1);
//   - "client_secret" and "client_secret_expires_at" are absent (nothing
//     secret can be shared through a public document);
//   - "token_endpoint_auth_method" is "none" or absent: the client is
//     public and must use PKCE (Latchkey supports no key-based client
//     authentication for such clients);
//   - "redirect_uris" holds at least one URI, each valid by
//     oauth.CheckRedirectURI without the insecure-redirect allowance:
//     https anywhere; plain http on a loopback host and private-use
//     schemes (com.example.app:/cb) only for a native application: when
//     "application_type" is "native", or absent and such a URI is listed
//     (the client is then stored as native); "web" with such a URI is
//     refused;
//   - "grant_types", if present, lists only authorization_code and
//     refresh_token (absent: authorization_code, RFC 7591 §2), and
//     "response_types", if present, only "code";
//   - "client_uri", if present, is an https URL; "logo_uri" is read but
//     not used (Latchkey shows no logos it has not vetted);
//   - "client_name" is at most 100 characters without control
//     characters; absent, the client is named by the host of its URL;
//   - "scope", if present, limits the scopes the client may ask for to
//     those of its names that Latchkey knows (the others, meant for other
//     servers, are ignored; none known is an error); absent, the client
//     may ask for any of Latchkey's scopes: the person who signs in
//     consents to each, and the scopes never exceed what that person may
//     do. A request without scope gets PUBLIC_REPOS when allowed, else
//     every scope the document named.
//
// Errors are sentences a developer can act on.
func Parse(id string, body []byte) (store.Client, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return store.Client{}, errors.New("the document is not a JSON object")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return store.Client{}, fmt.Errorf("the document is not valid JSON: %v", err)
	}
	for _, secret := range []string{"client_secret", "client_secret_expires_at"} {
		if _, ok := members[secret]; ok {
			return store.Client{}, fmt.Errorf("the document must not contain %q: a client known by a metadata document cannot have a shared secret", secret)
		}
	}
	var doc document
	if err := json.Unmarshal(body, &doc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return store.Client{}, fmt.Errorf("the member %q of the document has the wrong JSON type (%s)", te.Field, te.Value)
		}
		return store.Client{}, fmt.Errorf("the document could not be read: %v", err)
	}
	if _, ok := members["client_id"]; !ok {
		return store.Client{}, errors.New("the document has no client_id")
	}
	if doc.ClientID != id {
		return store.Client{}, fmt.Errorf("the document's client_id %q is not its URL %q (they must be equal, character for character)", clip(doc.ClientID), id)
	}
	if m := doc.TokenEndpointAuthMethod; m != "" && m != "none" {
		return store.Client{}, fmt.Errorf("token_endpoint_auth_method %q is not supported: a client known by a metadata document must be public (\"none\") and use PKCE", clip(m))
	}
	c := store.Client{
		ID: id, Public: true, PKCERequired: true, Origin: store.OriginMetadata,
	}
	var err error
	if c.ApplicationType, c.RedirectURIs, err = redirects(doc); err != nil {
		return store.Client{}, err
	}
	if c.GrantTypes, err = grantTypes(doc); err != nil {
		return store.Client{}, err
	}
	for _, rt := range doc.ResponseTypes {
		if rt != "code" {
			return store.Client{}, fmt.Errorf("response_types may only list \"code\", not %q", clip(rt))
		}
	}
	if doc.ClientURI != "" {
		u, err := url.Parse(doc.ClientURI)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			return store.Client{}, fmt.Errorf("client_uri %q must be an https URL", clip(doc.ClientURI))
		}
		c.ClientURI = doc.ClientURI
	}
	if c.Name, err = name(doc.ClientName, id); err != nil {
		return store.Client{}, err
	}
	if c.Scopes, c.DefaultScopes, err = scopes(doc, members); err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// redirects checks the redirect URIs and settles the application type.
func redirects(doc document) (string, []string, error) {
	appType := doc.ApplicationType
	switch appType {
	case "", store.ApplicationWeb, store.ApplicationNative:
	default:
		return "", nil, fmt.Errorf("application_type %q is neither \"web\" nor \"native\"", clip(appType))
	}
	if len(doc.RedirectURIs) == 0 {
		return "", nil, errors.New("the document has no redirect_uris: list at least one")
	}
	native := false
	for _, r := range doc.RedirectURIs {
		if err := oauth.CheckRedirectURI(r, false); err != nil {
			return "", nil, fmt.Errorf("redirect_uris: %v", err)
		}
		if !strings.HasPrefix(r, "https://") {
			native = true
			if appType == store.ApplicationWeb {
				return "", nil, fmt.Errorf("redirect_uris: %q is a loopback or private-use redirect URI, which only a native application may use (set application_type to \"native\")", clip(r))
			}
		}
	}
	if appType == "" {
		appType = store.ApplicationWeb
		if native {
			appType = store.ApplicationNative
		}
	}
	return appType, slices.Clone(doc.RedirectURIs), nil
}

// grantTypes checks grant_types; absent means authorization_code.
func grantTypes(doc document) ([]string, error) {
	if doc.GrantTypes == nil {
		return []string{oauth.GrantAuthorizationCode}, nil
	}
	var out []string
	for _, g := range doc.GrantTypes {
		if g != oauth.GrantAuthorizationCode && g != oauth.GrantRefreshToken {
			return nil, fmt.Errorf("grant_types: %q is not allowed; a client known by a metadata document may use only authorization_code and refresh_token", clip(g))
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if !slices.Contains(out, oauth.GrantAuthorizationCode) {
		return nil, errors.New("grant_types must include authorization_code")
	}
	return out, nil
}

// name is the client's display name.
func name(raw, id string) (string, error) {
	n := strings.TrimSpace(raw)
	if n == "" {
		u, err := url.Parse(id)
		if err != nil {
			return id, nil
		}
		return u.Host, nil
	}
	if utf8.RuneCountInString(n) > maxNameLength {
		return "", fmt.Errorf("client_name is longer than %d characters", maxNameLength)
	}
	for _, r := range n {
		if unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Bidi_Control, r) {
			return "", errors.New("client_name contains control characters")
		}
	}
	return n, nil
}

// scopes is what the client may ask for, and what it gets without asking.
func scopes(doc document, members map[string]json.RawMessage) (all, def []string, err error) {
	if _, ok := members["scope"]; !ok {
		return allScopes(), []string{scope.PublicRepos}, nil
	}
	var known scope.Set
	for tok := range strings.SplitSeq(doc.Scope, " ") {
		if tok == "" {
			continue
		}
		if s, err := scope.Parse(tok); err == nil {
			known = append(known, s...)
		}
	}
	slices.Sort(known)
	known = slices.Compact(known)
	if len(known) == 0 {
		return nil, nil, fmt.Errorf("scope %q names none of this server's scopes (see scopes_supported in its metadata)", clip(doc.Scope))
	}
	if known.Has(scope.PublicRepos) {
		return known, []string{scope.PublicRepos}, nil
	}
	return known, slices.Clone(known), nil
}

// allScopes is every scope of Latchkey's but public-only: that one
// restricts the set that holds it (scope.Set.Covers), and a set without
// it covers a request with it.
func allScopes() []string {
	return slices.DeleteFunc(scope.Known(), func(s string) bool { return s == scope.GiteaPublicOnly })
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const n = 120
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
