package oidc

import (
	"encoding/json"
	"net/http"
	"strconv"

	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
)

// Paths served by this package (Gitea's layout).
const (
	JWKSPath          = "/login/oauth/keys"
	UserinfoPath      = "/login/oauth/userinfo"
	DiscoveryPath     = "/.well-known/openid-configuration"
	ASMetadataPath    = "/.well-known/oauth-authorization-server"
	jwksCacheSeconds  = 300
	discoveryCacheAge = 3600
)

// Mount registers the JWKS, userinfo and discovery endpoints. The
// userinfo endpoint checks bearer tokens with the protocol core.
func (p *Provider) Mount(mux routes.Mux, core *oauth.Provider) {
	userinfo := p.userinfo(core)
	mux.HandleFunc("GET "+JWKSPath, p.jwks)
	mux.HandleFunc("GET "+UserinfoPath, userinfo)
	mux.HandleFunc("POST "+UserinfoPath, userinfo)
	mux.HandleFunc("GET "+DiscoveryPath, p.discovery)
	mux.HandleFunc("GET "+ASMetadataPath, p.discovery)
}

func writeJSON(w http.ResponseWriter, status int, cacheSeconds int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if cacheSeconds > 0 {
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(cacheSeconds))
	} else {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jwks publishes every key that is not retired. Clients cache it for a few
// minutes; a rotation publishes the next key well before it signs.
func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	set, err := p.cfg.Keys.Published(r.Context())
	if err != nil {
		p.log.Error("jwks", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, 0, map[string]string{"error": "server_error"})
		return
	}
	writeJSON(w, http.StatusOK, jwksCacheSeconds, set)
}

// userinfo returns the claims of the token's user that its scopes release
// (OpenID Connect Core §5.3). The token must carry the openid scope.
func (p *Provider) userinfo(core *oauth.Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { p.serveUserinfo(core, w, r) }
}

func (p *Provider) serveUserinfo(core *oauth.Provider, w http.ResponseWriter, r *http.Request) {
	token, err := oauth.BearerToken(r)
	if err != nil {
		oauth.WriteBearerError(w, err)
		return
	}
	caller, err := core.AuthenticateToken(r.Context(), token)
	if err != nil {
		oauth.WriteBearerError(w, err)
		return
	}
	scopes := caller.Principal.Scopes
	if !scopes.Has(scope.OpenID) {
		oauth.WriteBearerError(w, oauth.InsufficientScope(scope.OpenID))
		return
	}
	uc, err := p.userClaims(r.Context(), caller.User.ID, scopes)
	if err != nil {
		p.log.Error("userinfo", "error", err)
		oauth.WriteBearerError(w, oauth.ServerError(err))
		return
	}
	writeJSON(w, http.StatusOK, 0, struct {
		Sub string `json:"sub"`
		userClaims
	}{Sub: strconv.FormatInt(caller.User.ID, 10), userClaims: uc})
}
