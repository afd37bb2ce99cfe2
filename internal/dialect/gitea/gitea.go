// Package gitea mounts the Gitea layout of the OAuth 2.0 provider onto the
// shared protocol core. It differs from the Bitbucket layout only in paths.
package gitea

import (
	"net/http"

	"latchkey/internal/oauth"
	"latchkey/internal/oidc"
	"latchkey/internal/routes"
	"latchkey/internal/web"
)

// Paths of the Gitea layout.
const (
	AuthorizePath  = "/login/oauth/authorize"
	TokenPath      = "/login/oauth/access_token"
	RevokePath     = "/login/oauth/revoke"
	IntrospectPath = "/login/oauth/introspect"
)

// Mount registers the Gitea endpoints: authorization on the page mux,
// token on the API mux.
func Mount(pages *web.Router, apis routes.Mux, core *oauth.Provider, authorize http.Handler) {
	pages.Handle("GET "+AuthorizePath, authorize)
	apis.Handle(TokenPath, core.TokenHandler(oauth.TokenOptions{}))
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
