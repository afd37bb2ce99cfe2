// Package dialect owns what differs between the two public dialects that
// Latchkey speaks, the Bitbucket Data Center OAuth 2.0 provider and the
// Gitea OAuth2 provider, as one Layout value each: the paths of the OAuth
// endpoints, the details of token responses, and the shape of REST API
// errors. One protocol core (package oauth) serves both; a dialect decides
// only where an endpoint lives and how a few answers look, never what they
// say.
//
// The authorization endpoint is the page flow of package web, mounted on
// the page router; the token, revocation and introspection endpoints are
// the core's, mounted on the API mux. Package api renders its errors with
// the Layout of the route's dialect.
package dialect

import (
	"net/http"
	"time"

	"latchkey/internal/oauth"
	"latchkey/internal/oidc"
	"latchkey/internal/ratelimit"
)

// Layout is one dialect.
type Layout struct {
	// Name is "bitbucket" or "gitea".
	Name string
	// Paths of the OAuth 2.0 endpoints.
	AuthorizePath, TokenPath, RevokePath, IntrospectPath string
	// EndSessionPath is the OpenID Connect end_session_endpoint
	// (RP-Initiated Logout 1.0), a page of package web; the server mounts
	// it (GET and POST) on the page router.
	EndSessionPath string
	// TokenCreatedAt adds created_at to token responses (Bitbucket's
	// documented response carries it).
	TokenCreatedAt bool
	// errorBody is the dialect's REST error JSON for a message.
	errorBody func(baseURL, message string) any
}

// Bitbucket is the Bitbucket Data Center layout: /rest/oauth2/latest/…,
// created_at in token responses, {"errors": [...]} error bodies.
func Bitbucket() Layout {
	return Layout{
		Name:          "bitbucket",
		AuthorizePath: "/rest/oauth2/latest/authorize", TokenPath: "/rest/oauth2/latest/token",
		RevokePath: "/rest/oauth2/latest/revoke", IntrospectPath: "/rest/oauth2/latest/introspect",
		EndSessionPath: "/rest/oauth2/latest/logout",
		TokenCreatedAt: true,
		errorBody:      func(_, msg string) any { return bitbucketErrors(msg) },
	}
}

// Gitea is the Gitea layout: /login/oauth/…, {"message", "url"} error
// bodies.
func Gitea() Layout {
	return Layout{
		Name:          "gitea",
		AuthorizePath: "/login/oauth/authorize", TokenPath: "/login/oauth/access_token",
		RevokePath: "/login/oauth/revoke", IntrospectPath: "/login/oauth/introspect",
		EndSessionPath: "/login/oauth/logout",
		errorBody:      func(base, msg string) any { return giteaError{Message: msg, URL: base + "/api/swagger"} },
	}
}

// All lists both layouts; every node serves both.
func All() []Layout { return []Layout{Bitbucket(), Gitea()} }

// Handler is what routes are registered on: the page router of package
// web and the API mux both have this method.
type Handler interface {
	Handle(pattern string, h http.Handler)
}

// Authorize is the authorization endpoint as package web serves it: the
// page flow, and the page that says a rate limit refused a request.
type Authorize struct {
	Handler http.Handler
	Refuse  func(w http.ResponseWriter, r *http.Request, retryAfter time.Duration)
}

// Mount registers the layout's endpoints, each behind the rate limits of
// limits: authorization (the page flow from package web, which also
// serves the consent page) on the page router, token, revocation and
// introspection on the API mux. Both layouts name each endpoint alike, so
// their paths share its buckets. Endpoints that are not a layout's (the
// device authorization endpoint) go through Limit too.
func (l Layout) Mount(pages, apis Handler, core *oauth.Provider, authorize Authorize, limits *ratelimit.Guard) {
	pages.Handle("GET "+l.AuthorizePath, limits.Wrap(ratelimit.Endpoint{
		Name: "authorize", Client: oauth.QueryClientID, Refuse: authorize.Refuse}, authorize.Handler))
	apis.Handle(l.TokenPath, Limit(limits, "token", core.TokenHandler(oauth.TokenOptions{IncludeCreatedAt: l.TokenCreatedAt})))
	apis.Handle(l.RevokePath, Limit(limits, "revoke", core.RevokeHandler()))
	apis.Handle(l.IntrospectPath, Limit(limits, "introspect", core.IntrospectHandler()))
}

// Limit puts a JSON protocol endpoint of the core (one that answers RFC
// 6749 error JSON and authenticates clients as the token endpoint does)
// behind the rate limits, under the bucket family name.
func Limit(limits *ratelimit.Guard, name string, h http.Handler) http.Handler {
	return limits.Wrap(ratelimit.Endpoint{Name: name, Client: oauth.ClaimedClientID, Refuse: oauth.WriteRateLimited}, h)
}

// Endpoints returns the absolute URLs of the layout's endpoints under
// base, for discovery.
func (l Layout) Endpoints(base string) oidc.Endpoints {
	return oidc.Endpoints{
		Authorization: base + l.AuthorizePath, Token: base + l.TokenPath,
		Revocation: base + l.RevokePath, Introspection: base + l.IntrospectPath,
		Device: base + oauth.DeviceCodePath, EndSession: base + l.EndSessionPath,
	}
}

// ErrorBody is the dialect's REST API error JSON for a message to show;
// base is the server's base URL (Gitea's body links its API docs).
func (l Layout) ErrorBody(base, message string) any { return l.errorBody(base, message) }

// errorEntry is one entry of Bitbucket's error list.
type errorEntry struct {
	Context       *string `json:"context"`
	Message       string  `json:"message"`
	ExceptionName *string `json:"exceptionName"`
}

// bitbucketErrors is Bitbucket's error JSON.
func bitbucketErrors(msg string) map[string][]errorEntry {
	return map[string][]errorEntry{"errors": {{Message: msg}}}
}

// giteaError is Gitea's error JSON.
type giteaError struct {
	Message string `json:"message"`
	URL     string `json:"url"`
}
