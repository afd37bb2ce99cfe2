// Package resource names Latchkey's own protected resources (RFC 8707
// resource identifiers) and serves their RFC 9728 protected resource
// metadata.
//
// Latchkey has two resources of its own, and a token is for one or both:
//
//   - Code, the issuer URL itself: the REST API in both dialects and git
//     over HTTP. A token requested without a resource parameter is for
//     Code, as every token was before resource indicators, so clients that
//     know nothing of them keep working.
//   - MCP, the issuer URL with "/mcp": the Model Context Protocol endpoint.
//
// Identifiers are compared as exact strings. Resource servers that
// administrators register (store.ResourceServer) are the others; tokens
// for them are JWTs (package oidc signs them).
package resource

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"latchkey/internal/routes"
	"latchkey/internal/scope"
)

// MCPPath is the path of the MCP endpoint.
const MCPPath = "/mcp"

// MCPScopes are the scopes the MCP endpoint's tools use, in both
// vocabularies: its protected resource metadata lists them, and its 401
// challenge names the first as the one to ask for.
var MCPScopes = []string{scope.GiteaReadRepository, scope.RepoRead}

// MetadataPath is the well-known path of RFC 9728 §3; a resource whose
// identifier has a path has its document at this path followed by that
// path.
const MetadataPath = "/.well-known/oauth-protected-resource"

// Code is the identifier of the code-hosting resource (REST API and git)
// of the server whose issuer is issuer (no trailing slash).
func Code(issuer string) string { return issuer }

// MCP is the identifier of the MCP endpoint.
func MCP(issuer string) string { return issuer + MCPPath }

// Own lists the identifiers of the server's own resources.
func Own(issuer string) []string { return []string{Code(issuer), MCP(issuer)} }

// IsOwn reports whether id is one of the server's own resources.
func IsOwn(issuer, id string) bool { return id == Code(issuer) || id == MCP(issuer) }

// Of returns the resources a token of resources is for: resources
// itself, or Code when it is empty (a token issued without resource
// indicators, or before them).
func Of(issuer string, resources []string) []string {
	if len(resources) == 0 {
		return []string{Code(issuer)}
	}
	return resources
}

// For reports whether a token issued for resources is for id.
func For(issuer string, resources []string, id string) bool {
	for _, r := range Of(issuer, resources) {
		if r == id {
			return true
		}
	}
	return false
}

// MetadataURL is where the RFC 9728 metadata of resource id is: the
// well-known path inserted between the host and the identifier's path
// (RFC 9728 §3.1).
func MetadataURL(id string) string {
	u, err := url.Parse(id)
	if err != nil || u.Host == "" {
		return ""
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + MetadataPath + path
}

// Metadata is an RFC 9728 protected resource metadata document.
type Metadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	ResourceDocumentation  string   `json:"resource_documentation,omitempty"`
}

// Documents returns the metadata of the server's own resources, keyed by
// the path each is served at: Code at MetadataPath, MCP at MetadataPath
// followed by MCPPath (RFC 9728 §3.1). codeScopes are the scopes of the
// code-hosting resource; mcpScopes those the MCP endpoint's tools use.
func Documents(issuer string, codeScopes, mcpScopes []string) map[string]Metadata {
	out := map[string]Metadata{}
	for _, m := range []Metadata{
		{Resource: Code(issuer), ResourceName: "Latchkey code hosting: REST API and git over HTTP", ScopesSupported: codeScopes},
		{Resource: MCP(issuer), ResourceName: "Latchkey MCP server", ScopesSupported: mcpScopes},
	} {
		m.AuthorizationServers = []string{issuer}
		m.BearerMethodsSupported = []string{"header"}
		u, _ := url.Parse(MetadataURL(m.Resource))
		out[u.EscapedPath()] = m
	}
	return out
}

// Mount serves docs (Documents) on mux: GET only, JSON, cacheable for an
// hour and readable from any origin (a browser-based MCP client reads it).
func Mount(mux routes.Mux, docs map[string]Metadata) {
	for path, m := range docs {
		body, err := json.Marshal(m)
		if err != nil {
			panic(err) // a Metadata always marshals
		}
		body = append(body, '\n')
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "public, max-age=3600")
			h.Set("Access-Control-Allow-Origin", "*")
			_, _ = w.Write(body)
		})
	}
}
