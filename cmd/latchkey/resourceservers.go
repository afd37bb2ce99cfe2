package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/config"
)

// resourceServerAddCommand registers an external resource server (issue
// 14): tokens for it are RFC 9068 JWTs it verifies with the JWKS.
func resourceServerAddCommand() *command {
	var n admin.NewResourceServer
	var baseURL string
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&baseURL, "base-url", cmp.Or(lookupEnv("LATCHKEY_BASE_URL"), config.DefaultBaseURL),
				"the server's base URL, as serve has it: its own resources cannot be registered (env LATCHKEY_BASE_URL)")
			fs.StringVar(&n.URI, "uri", "", "the resource identifier, the audience of its tokens, e.g. https://mcp.example.com/mcp (required)")
			fs.StringVar(&n.Name, "name", "", "name shown on the consent page (required)")
			fs.StringVar(&n.Scopes, "scopes", "", "space-separated scopes it understands")
			fs.BoolVar(&n.Introspect, "introspect", false, "create a client whose credentials it presents at the introspection endpoint")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			n.AllowInsecure = e.cfg.SkipRedirectURLHTTPS
			e.cfg.BaseURL = baseURL
			e.cfg.NormalizeBaseURL()
			rs, plain, err := admin.CreateResourceServer(ctx, e.store, e.cfg.Issuer(), n, time.Now())
			if err != nil {
				return err
			}
			out := map[string]any{"uri": rs.URI, "name": rs.Name, "scopes": rs.Scopes}
			text := "registered resource server " + rs.URI
			if plain != "" {
				out["introspection_client_id"], out["introspection_client_secret"] = rs.IntrospectionClientID, plain
				text += "\nintrospection client_id: " + rs.IntrospectionClientID +
					"\nintrospection client_secret (shown only now): " + plain
			}
			return e.emit(out, text)
		},
	}
}

func resourceServerListCommand() *command {
	return &command{run: func(ctx context.Context, e *cmdEnv) error {
		list, err := e.store.ListResourceServers(ctx)
		if err != nil {
			return err
		}
		type row struct {
			URI                   string   `json:"uri"`
			Name                  string   `json:"name"`
			Scopes                []string `json:"scopes"`
			IntrospectionClientID string   `json:"introspection_client_id,omitempty"`
		}
		rows := []row{}
		var text strings.Builder
		for _, rs := range list {
			rows = append(rows, row{URI: rs.URI, Name: rs.Name, Scopes: rs.Scopes, IntrospectionClientID: rs.IntrospectionClientID})
			fmt.Fprintf(&text, "%s  %q  scopes: %s  introspection: %s\n", rs.URI, rs.Name,
				orDash(strings.Join(rs.Scopes, " ")), orDash(rs.IntrospectionClientID))
		}
		return e.emit(map[string]any{"resource_servers": rows}, text.String())
	}}
}

func resourceServerDeleteCommand() *command {
	var uri string
	return &command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&uri, "uri", "", "the resource identifier (required)") },
		run: func(ctx context.Context, e *cmdEnv) error {
			if err := admin.DeleteResourceServer(ctx, e.store, uri); err != nil {
				return err
			}
			return e.emit(map[string]any{"uri": uri, "deleted": true}, "deleted resource server "+uri)
		},
	}
}
