package oidc

import (
	"encoding/json"
	"net/http"
	"strconv"

	"latchkey/internal/access"
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
// userinfo endpoint takes access tokens as Bearer only and has package
// access check them with the protocol core.
func (p *Provider) Mount(mux routes.Mux, core *oauth.Provider) {
	userinfo := p.userinfo(access.New(access.Config{Tokens: core, Schemes: []access.Scheme{access.Bearer()}}))
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
// (OpenID Connect Core §5.3). The token must carry the openid scope; every
// error is answered as RFC 6750 §3 says.
func (p *Provider) userinfo(guard *access.Guard) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sub, uc, err := p.serveUserinfo(guard, r)
		if err != nil {
			ans := guard.Answer(err)
			if ans.Status >= 500 {
				p.log.Error("userinfo", "error", err)
			}
			ans.WriteJSON(w)
			return
		}
		writeJSON(w, http.StatusOK, 0, struct {
			Sub string `json:"sub"`
			userClaims
		}{Sub: sub, userClaims: uc})
	}
}

// serveUserinfo authenticates the request and loads the claims: the
// subject and what the token's scopes release.
func (p *Provider) serveUserinfo(guard *access.Guard, r *http.Request) (string, userClaims, error) {
	caller, err := guard.Authenticate(r)
	if err == nil {
		err = access.RequireScope(caller, scope.OpenID)
	}
	if err != nil {
		return "", userClaims{}, err
	}
	uc, err := p.userClaims(r.Context(), caller.User.ID, caller.Principal.Scopes)
	if err != nil {
		return "", userClaims{}, oauth.ServerError(err)
	}
	return strconv.FormatInt(caller.User.ID, 10), uc, nil
}
