package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/gitserve"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

func userCreateCommand() *command {
	var username, email string
	var isAdmin, passwordStdin bool
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&username, "username", "", "user name (required)")
			fs.StringVar(&email, "email", "", "email address")
			fs.BoolVar(&isAdmin, "admin", false, "make the user a system administrator")
			fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from one line of standard input")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			password := ""
			if passwordStdin {
				var err error
				if password, err = readLine(e); err != nil {
					return err
				}
			}
			u, generated, err := admin.CreateUser(ctx, e.store, admin.NewUser{Username: username, Email: email, Password: password, Admin: isAdmin}, time.Now())
			if err != nil {
				return err
			}
			out := map[string]any{"id": u.ID, "username": u.Username}
			text := fmt.Sprintf("created user %s (id %d)", u.Username, u.ID)
			if generated != "" {
				out["password"] = generated
				text += "\none-time password (shown only now): " + generated
			}
			return e.emit(out, text)
		},
	}
}

// readLine reads one line of standard input without its line ending.
func readLine(e *cmdEnv) (string, error) {
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("--password-stdin: no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func clientCreateCommand() *command {
	var nc admin.NewClient
	var redirects, postLogout stringList
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&nc.Name, "name", "", "application name shown on the consent page (required)")
			fs.Var(&redirects, "redirect-uri", "a redirect URI (repeatable; at least one)")
			fs.Var(&postLogout, "post-logout-redirect-uri", "where OpenID Connect RP-initiated logout may return (repeatable)")
			fs.StringVar(&nc.BackchannelLogoutURI, "backchannel-logout-uri", "", "where OpenID Connect back-channel logout tokens are posted")
			fs.BoolVar(&nc.BackchannelLogoutSessionRequired, "backchannel-logout-session-required", false,
				"the client needs sid in logout tokens (Latchkey sends it whenever the session has one)")
			fs.StringVar(&nc.Scopes, "scopes", "", "space-separated scopes the client may ask for (default \""+admin.DefaultClientScopes+"\")")
			fs.StringVar(&nc.DefaultScopes, "default-scopes", "", "space-separated scopes for requests without scope (default PUBLIC_REPOS)")
			fs.StringVar(&nc.GrantTypes, "grant-types", "", "space-separated grant types (default \""+admin.DefaultGrantTypes+"\")")
			fs.BoolVar(&nc.Public, "public", false, "a public client (no secret; PKCE required)")
			fs.BoolVar(&nc.PKCERequired, "pkce-required", false, "require PKCE from this confidential client too")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			nc.RedirectURIs, nc.PostLogoutRedirectURIs = redirects, postLogout
			nc.AllowInsecureRedirects = e.cfg.SkipRedirectURLHTTPS
			c, plain, err := admin.CreateClient(ctx, e.store, nc, time.Now())
			if err != nil {
				return err
			}
			out := map[string]any{"client_id": c.ID}
			text := "client_id: " + c.ID
			if plain != "" {
				out["client_secret"] = plain
				text += "\nclient_secret (shown only now): " + plain
			}
			return e.emit(out, text)
		},
	}
}

func projectCreateCommand() *command {
	var key, name string
	var public bool
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&key, "key", "", "project key (required)")
			fs.StringVar(&name, "name", "", "project name")
			fs.BoolVar(&public, "public", false, "make the project and its repositories public")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			p, err := admin.CreateProject(ctx, e.store, key, name, public, time.Now())
			if err != nil {
				return err
			}
			return e.emit(map[string]any{"id": p.ID, "key": p.Key, "name": p.Name, "public": p.Public},
				fmt.Sprintf("created project %s (id %d)", p.Key, p.ID))
		},
	}
}

func repoCreateCommand() *command {
	var project, slug string
	var public bool
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&project, "project", "", "project key (required)")
			fs.StringVar(&slug, "slug", "", "repository slug (required)")
			fs.BoolVar(&public, "public", false, "make the repository public")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			r, err := admin.CreateRepo(ctx, e.store, gitserve.NewRepos(e.cfg.ReposDir()),
				admin.NewRepo{ProjectKey: project, Slug: slug, Public: public}, time.Now())
			if err != nil {
				return err
			}
			return e.emit(map[string]any{"id": r.ID, "project": r.ProjectKey, "slug": r.Slug, "public": r.Public},
				fmt.Sprintf("created repository %s/%s (id %d)", r.ProjectKey, r.Slug, r.ID))
		},
	}
}

// permissionList names the permissions of a kind of target for help texts.
func permissionList(kind store.TargetKind) string {
	var names []string
	for _, n := range scope.PermissionNames(kind) {
		names = append(names, string(n))
	}
	return strings.Join(names, ", ")
}

func permissionCommand(grant bool) *command {
	var who admin.Subject
	var permission string
	var target admin.Target
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&who.Username, "user", "", "user name (this or --client)")
			fs.StringVar(&who.ClientID, "client", "", "client ID: the permission goes to the client's service identity (client_credentials grant)")
			fs.BoolVar(&target.Global, "global", false, "a global permission ("+permissionList(store.TargetGlobal)+")")
			fs.StringVar(&target.Project, "project", "", "a project permission ("+permissionList(store.TargetProject)+") on this project key")
			fs.StringVar(&target.Repo, "repo", "", "a repository permission ("+permissionList(store.TargetRepo)+") on KEY/slug")
			fs.StringVar(&permission, "permission", "", "permission name (required)")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			op, verb := admin.GrantPermission, "granted"
			if !grant {
				op, verb = admin.RevokePermission, "revoked"
			}
			if err := op(ctx, e.store, who, target, permission); err != nil {
				return err
			}
			out := map[string]any{"permission": strings.ToUpper(permission), verb: true}
			if who.ClientID != "" {
				out["client"] = who.ClientID
			} else {
				out["user"] = who.Username
			}
			return e.emit(out, fmt.Sprintf("%s %s: %s", verb, strings.ToUpper(permission), who))
		},
	}
}
