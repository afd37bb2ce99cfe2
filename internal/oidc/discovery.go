package oidc

import (
	"net/http"

	"latchkey/internal/oauth"
	"latchkey/internal/resource"
	"latchkey/internal/scope"
)

// Endpoints are the absolute URLs of the provider's endpoints in one
// dialect's layout.
type Endpoints struct {
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	Revocation    string `json:"revocation_endpoint,omitempty"`
	Introspection string `json:"introspection_endpoint,omitempty"`
	Device        string `json:"device_authorization_endpoint,omitempty"`
	// EndSession is the RP-Initiated Logout 1.0 end_session_endpoint.
	EndSession string `json:"end_session_endpoint,omitempty"`
}

// Discovery is the provider metadata (OpenID Connect Discovery 1.0 §3,
// RFC 8414 §2). It states exactly what the server supports.
type Discovery struct {
	Issuer string `json:"issuer"`
	Endpoints
	Userinfo                          string   `json:"userinfo_endpoint"`
	JWKS                              string   `json:"jwks_uri"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypes                     []string `json:"response_types_supported"`
	ResponseModes                     []string `json:"response_modes_supported"`
	GrantTypes                        []string `json:"grant_types_supported"`
	SubjectTypes                      []string `json:"subject_types_supported"`
	IDTokenAlgs                       []string `json:"id_token_signing_alg_values_supported"`
	TokenAuthMethods                  []string `json:"token_endpoint_auth_methods_supported"`
	RevocationAuthMethods             []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionAuthMethods          []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethods              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	ACRValuesSupported                []string `json:"acr_values_supported"`
	PromptValues                      []string `json:"prompt_values_supported"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	AuthorizationResponseIssSupported bool     `json:"authorization_response_iss_parameter_supported"`
	// ClientIDMetadataDocumentSupported: an https client_id may name a
	// client ID metadata document (draft-ietf-oauth-client-id-metadata-document §6).
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
	// ProtectedResources are the resource identifiers (RFC 8707) of the
	// resources the server issues tokens for (RFC 9728 §4): Latchkey's
	// own, and the external resource servers administrators registered.
	ProtectedResources []string `json:"protected_resources"`
	// Back-channel logout (Back-Channel Logout 1.0 §2.1): supported, with
	// sid in logout tokens; front-channel logout is not.
	BackchannelLogoutSupported        bool `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool `json:"backchannel_logout_session_supported"`
	FrontchannelLogoutSupported       bool `json:"frontchannel_logout_supported"`
	// Registration is the RFC 7591 registration endpoint; omitted when
	// dynamic registration is off.
	Registration string `json:"registration_endpoint,omitempty"`
	// BitbucketEndpoints lists the same endpoints in the Bitbucket layout
	// (an extension member; RFC 8414 §2 allows additional metadata).
	BitbucketEndpoints Endpoints `json:"latchkey_bitbucket_endpoints"`
}

// DiscoveryConfig is what the discovery document is built from.
type DiscoveryConfig struct {
	Gitea, Bitbucket Endpoints
	GrantTypes       []string
	// ClientIDMetadataDocuments says that client ID metadata documents
	// are accepted (package clientmeta).
	ClientIDMetadataDocuments bool
	Registration              string // the registration endpoint's URL; "" when off
}

// Document builds the discovery document.
func (p *Provider) Document() Discovery {
	d := p.cfg.Discovery
	return Discovery{
		Issuer:                            p.cfg.Issuer,
		Endpoints:                         d.Gitea,
		Userinfo:                          p.cfg.Issuer + UserinfoPath,
		JWKS:                              p.cfg.Issuer + JWKSPath,
		ScopesSupported:                   scope.Known(),
		ResponseTypes:                     []string{"code"},
		ResponseModes:                     []string{oauth.ResponseModeQuery},
		GrantTypes:                        d.GrantTypes,
		SubjectTypes:                      []string{"public"},
		IDTokenAlgs:                       []string{p.cfg.Keys.Algorithm()},
		TokenAuthMethods:                  []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationAuthMethods:             []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionAuthMethods:          []string{"client_secret_basic", "client_secret_post"},
		CodeChallengeMethods:              []string{"S256", "plain"},
		ClaimsSupported:                   []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "acr", "name", "preferred_username", "nickname", "email", "email_verified", "groups"},
		ACRValuesSupported:                oauth.ACRValuesSupported(),
		PromptValues:                      []string{"none", "login", "consent", "select_account"},
		AuthorizationResponseIssSupported: true,
		ClientIDMetadataDocumentSupported: d.ClientIDMetadataDocuments,
		ProtectedResources:                resource.Own(p.cfg.Issuer),
		BitbucketEndpoints:                d.Bitbucket,
		Registration:                      d.Registration,
		BackchannelLogoutSupported:        true,
		BackchannelLogoutSessionSupported: true,
	}
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	d := p.Document()
	servers, err := p.cfg.Store.ListResourceServers(r.Context())
	if err != nil {
		p.log.Error("discovery: list resource servers", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, 0, map[string]string{"error": "server_error"})
		return
	}
	for _, rs := range servers {
		d.ProtectedResources = append(d.ProtectedResources, rs.URI)
	}
	writeJSON(w, http.StatusOK, discoveryCacheAge, d)
}
