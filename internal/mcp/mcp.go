// Package mcp is Latchkey's own Model Context Protocol endpoint: the
// projects, repositories, branches, commits and files that the caller may
// see, served as MCP tools over the streamable HTTP transport at Path, with
// the official Go SDK.
//
// Every request carries a Latchkey access token (Bearer only, RFC 6750
// §2.1) issued for the endpoint's resource, resource.MCP (RFC 8707), and
// goes through an access.Guard before the SDK sees it: a request without
// such a token is answered 401 with the Bearer challenge, which names the
// endpoint's RFC 9728 metadata (resource_metadata) and the scope to ask
// for, and one
// whose token cannot read repositories at all (its scopes imply neither
// read:repository nor REPO_READ) 403 insufficient_scope, both as RFC 6750
// JSON. The caller the guard authenticated reaches the tool handlers
// through the SDK's per-request token information (auth.TokenInfo), built
// from that request alone: nothing about a caller is kept between requests.
// Each tool then decides as the REST API does: the token's scopes capped by
// the user's permissions as they are at the call (scope.Principal), what a
// caller may list from package visible, a repository it may not read
// answered exactly like one that does not exist.
//
// The transport is stateless (no Mcp-Session-Id, a fresh SDK session per
// POST, JSON responses), so any node of a cluster answers any request; GET
// and DELETE are answered 405 after authentication, as the streamable HTTP
// transport allows for a server without a standalone event stream.
//
// Bad arguments are a tool error (CallToolResult.IsError) saying what is
// wrong; an unknown tool is the SDK's JSON-RPC error; a failure of the
// server (the database, git) is a JSON-RPC internal error, logged.
package mcp

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"latchkey/internal/access"
	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/resource"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Path is where the endpoint is served.
const Path = resource.MCPPath

// RequiredScope is the scope the endpoint's tools need, named in its
// insufficient_scope answers (REPO_READ, or anything implying either, does
// as well).
const RequiredScope = scope.GiteaReadRepository

// RepoPaths says where the bare git repository of a repository row lives
// (gitserve.Repos in a server).
type RepoPaths interface {
	Path(r store.Repo) string
}

// Config is what the endpoint needs.
type Config struct {
	// Tokens checks access tokens (the oauth.Provider).
	Tokens access.Tokens
	// Store loads projects, repositories and permissions.
	Store store.Store
	// Repos locates the git repositories on disk.
	Repos RepoPaths
	// Issuer is the node's issuer URL: the endpoint's resource
	// identifier is resource.MCP(Issuer), and a token not issued for it
	// is refused (RFC 8707).
	Issuer string
	// Version is reported to clients in the initialize result.
	Version string
	// Logger logs the failures answered as internal errors.
	Logger *slog.Logger
	// Git is the git binary ("" for git from PATH).
	Git string
}

// Endpoint is the MCP endpoint of a node.
type Endpoint struct {
	cfg     Config
	guard   *access.Guard
	log     *slog.Logger
	handler http.Handler
}

// New builds the endpoint.
func New(cfg Config) *Endpoint {
	e := &Endpoint{cfg: cfg, log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))}
	id := resource.MCP(cfg.Issuer)
	e.guard = access.New(access.Config{Tokens: cfg.Tokens, Store: cfg.Store, Schemes: []access.Scheme{access.Bearer()},
		Resource: id, ResourceMetadata: resource.MetadataURL(id), ChallengeScope: RequiredScope})
	server := sdk.NewServer(&sdk.Implementation{Name: "latchkey", Title: "Latchkey", Version: cfg.Version},
		&sdk.ServerOptions{Instructions: instructions})
	e.addTools(server)
	streamable := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, &sdk.StreamableHTTPOptions{
		Stateless: true, JSONResponse: true, Logger: e.log,
		// Every request carries a bearer token, which a page that rebinds
		// a name to a loopback address cannot have; and behind a reverse
		// proxy on the same machine every request arrives on loopback
		// with the public Host, which the SDK's protection would refuse.
		DisableLocalhostProtection: true,
	})
	// The SDK hands tool handlers the auth.TokenInfo that its middleware
	// put in the request's context; the verifier reads the caller that
	// ServeHTTP authenticated for this very request.
	e.handler = auth.RequireBearerToken(func(ctx context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		c, ok := r.Context().Value(callerKey{}).(*oauth.Caller)
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: c.Principal.Scopes, UserID: strconv.FormatInt(c.User.ID, 10),
			Extra: map[string]any{callerExtra: c}}, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(streamable)
	return e
}

// instructions tell a model what the server is.
const instructions = "Latchkey hosts git repositories in projects. Repositories are named PROJECT/slug " +
	"(e.g. PRJ/code). The tools list what the signed-in user may read and read it: " +
	"list_projects, list_repositories, list_branches, list_commits, read_file, search_files."

// Mount registers the endpoint at Path, for every method.
func (e *Endpoint) Mount(mux routes.Mux) { mux.Handle(Path, e) }

// callerKey is the request context key of the authenticated caller.
type callerKey struct{}

// callerExtra is the key of the caller in auth.TokenInfo.Extra.
const callerExtra = "latchkey.caller"

// ServeHTTP authenticates the request and hands it to the SDK, or answers
// the refusal as RFC 6750 says.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := e.guard.Authenticate(r)
	if err == nil && c.Principal.Scopes.RepoCap() < scope.Read {
		err = &access.Denied{Verdict: scope.DenyScope, Required: RequiredScope}
	}
	if err != nil {
		ans := e.guard.Answer(err)
		if ans.Bearer == nil {
			if ans.Status >= 500 {
				e.log.Error("mcp: authenticate", "error", err)
			}
			ans.WriteText(w, http.StatusText(ans.Status))
			return
		}
		ans.WriteJSON(w)
		return
	}
	e.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
}

// caller is the caller of the request a tool handler serves.
func caller(req *sdk.CallToolRequest) (*oauth.Caller, error) {
	if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
		if c, ok := extra.TokenInfo.Extra[callerExtra].(*oauth.Caller); ok {
			return c, nil
		}
	}
	return nil, errors.New("mcp: the request carries no authenticated caller")
}

// gitRepo opens the git repository of r.
func (e *Endpoint) gitRepo(r store.Repo) *gitrepo.Repo {
	return gitrepo.Open(e.cfg.Git, e.cfg.Repos.Path(r))
}
