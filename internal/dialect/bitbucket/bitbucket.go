// Package bitbucket mounts the Bitbucket Data Center layout of the OAuth 2.0
// provider onto the shared protocol core: its paths, and created_at in token
// responses. Everything else is the core's.
package bitbucket

import (
	"net/http"

	"latchkey/internal/oauth"
	"latchkey/internal/oidc"
	"latchkey/internal/routes"
	"latchkey/internal/web"
)

// Paths of the Bitbucket layout.
const (
	AuthorizePath  = "/rest/oauth2/latest/authorize"
	TokenPath      = "/rest/oauth2/latest/token"
	RevokePath     = "/rest/oauth2/latest/revoke"
	IntrospectPath = "/rest/oauth2/latest/introspect"
)

// Mount registers the Bitbucket endpoints: the authorization endpoint (the
// page flow from package web, which also mounts the consent page) on the
// page mux, the token endpoint on the API mux.
func Mount(pages *web.Router, apis routes.Mux, core *oauth.Provider, authorize http.Handler) {
	pages.Handle("GET "+AuthorizePath, authorize)
	apis.Handle(TokenPath, core.TokenHandler(oauth.TokenOptions{IncludeCreatedAt: true}))
	apis.Handle(RevokePath, core.RevokeHandler())
	apis.Handle(IntrospectPath, core.IntrospectHandler())
}

// Endpoints returns the absolute URLs of this layout's endpoints.
func Endpoints(base string) oidc.Endpoints {
	return oidc.Endpoints{
		Authorization: base + AuthorizePath, Token: base + TokenPath,
		Revocation: base + RevokePath, Introspection: base + IntrospectPath,
		Device: base + oauth.DeviceCodePath,
	}
}
