package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/identity"
	"latchkey/internal/ldapdir"
	"latchkey/internal/store"
	"latchkey/internal/upstream"
)

// sourceCommands are the commands that administer identity sources
// (package identity): LDAP directories and upstream OpenID Connect
// providers. Their secrets are read from standard input or a file, never
// from the command line, and stored sealed under the key-encryption key.
func sourceCommands() map[string]*command {
	return map[string]*command{
		"source add-ldap": sourceAddLDAPCommand(),
		"source add-oidc": sourceAddOIDCCommand(),
		"source list":     sourceListCommand(),
		"source enable":   sourceEnableCommand(true),
		"source disable":  sourceEnableCommand(false),
		"source move":     sourceMoveCommand(),
		"source delete":   sourceDeleteCommand(),
		"source sync":     sourceSyncCommand(),
		"source map":      sourceMapCommand(),
	}
}

// identityService opens the identity sources with the configured
// key-encryption key; a change that ends sessions queues back-channel
// logout for the server to send, as the server's own changes do.
func identityService(e *cmdEnv) (*identity.Service, error) {
	kek, err := e.cfg.LoadKeyEncryptionKey()
	if err != nil {
		return nil, err
	}
	return identity.ForNode(e.store, kek, time.Now, e.log, func(ctx context.Context, userID int64) error {
		return queueUserSignedOut(ctx, e, userID)
	})
}

// sourceAudit records an administrator's change of a source in the audit
// trail.
func sourceAudit(ctx context.Context, e *cmdEnv, ev audit.Event, detail string) error {
	_, err := e.store.AppendAudit(ctx, store.AuditEvent{At: time.Now(), Event: ev, Detail: detail + "; from the command line"})
	if err != nil {
		return fmt.Errorf("record the audit event: %w", err)
	}
	return nil
}

// sourceShared are the flags every kind of source has.
type sourceShared struct {
	name, displayName string
	maps              stringList
	disabled          bool
}

func (s *sourceShared) register(fs *flag.FlagSet) {
	fs.StringVar(&s.name, "name", "", "the source's name: lower-case letters, digits and '-', used in URLs and commands (required)")
	fs.StringVar(&s.displayName, "display-name", "", "what people see, as in \"Sign in with TEXT\" (default the name)")
	fs.Var(&s.maps, "map", "grant members of a group a permission: GROUP=PERMISSION[:PROJECT[/repo]] (repeatable)")
	fs.BoolVar(&s.disabled, "disabled", false, "add the source switched off")
}

// mappings parses the --map flags.
func parseMappings(list []string) ([]identity.Mapping, error) {
	var out []identity.Mapping
	for _, s := range list {
		m, err := identity.ParseMapping(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// readSecret reads a secret from one line of standard input (fromStdin)
// or from a file (path, its content without the final line ending); ""
// when neither is asked for. flagName names the flags in messages.
func readSecret(e *cmdEnv, fromStdin bool, path, flagName string) (string, error) {
	switch {
	case fromStdin && path != "":
		return "", fmt.Errorf("give the %s once: --%s-stdin or --%s-file, not both", strings.ReplaceAll(flagName, "-", " "), flagName, flagName)
	case fromStdin:
		line, err := readLine(e)
		if err != nil || line == "" {
			return "", fmt.Errorf("--%s-stdin: no %s on standard input", flagName, strings.ReplaceAll(flagName, "-", " "))
		}
		return line, nil
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("--%s-file: %w", flagName, err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", fmt.Errorf("--%s-file: %s is empty", flagName, path)
		}
		return s, nil
	}
	return "", nil
}

// addSource validates and stores a new source and reports it.
func addSource(ctx context.Context, e *cmdEnv, ns identity.NewSource) error {
	svc, err := identityService(e)
	if err != nil {
		return err
	}
	src, err := svc.Add(ctx, ns)
	if err != nil {
		return err
	}
	if err := sourceAudit(ctx, e, audit.SourceCreated, fmt.Sprintf("source: %s (%s)", src.Name, src.Kind)); err != nil {
		return err
	}
	state := "enabled"
	if !src.Enabled {
		state = "disabled"
	}
	return e.emit(map[string]any{"name": src.Name, "kind": src.Kind, "display_name": src.DisplayName,
		"enabled": src.Enabled, "position": src.Position + 1},
		fmt.Sprintf("added %s source %s (%q, %s, position %d)", src.Kind, src.Name, src.DisplayName, state, src.Position+1))
}

func sourceAddLDAPCommand() *command {
	var shared sourceShared
	var c ldapdir.Config
	var caFile, passwordFile string
	var passwordStdin bool
	var syncInterval time.Duration
	return &command{
		flags: func(fs *flag.FlagSet) {
			shared.register(fs)
			fs.StringVar(&c.URL, "url", "", "the directory: ldaps://host[:port], or ldap://host[:port] with --start-tls (required)")
			fs.BoolVar(&c.StartTLS, "start-tls", false, "encrypt an ldap:// connection with StartTLS")
			fs.StringVar(&caFile, "ca-file", "", "PEM file of the CA certificates that sign the directory's certificate (default the system's)")
			fs.StringVar(&c.BindDN, "bind-dn", "", "DN of the service account that searches (default an anonymous search)")
			fs.BoolVar(&passwordStdin, "bind-password-stdin", false, "read the service account's password from one line of standard input")
			fs.StringVar(&passwordFile, "bind-password-file", "", "read the service account's password from this file")
			fs.StringVar(&c.UserBase, "user-base", "", "DN under which people are searched, e.g. ou=people,dc=example,dc=org (required)")
			fs.StringVar(&c.UserFilter, "user-filter", "", "filter that finds one person; %s is the typed user name (default (USERNAME-ATTR=%s))")
			fs.StringVar(&c.UsernameAttr, "username-attr", ldapdir.DefaultUsernameAttr, "attribute holding the user name")
			fs.StringVar(&c.DisplayNameAttr, "display-name-attr", ldapdir.DefaultDisplayNameAttr, "attribute holding the display name")
			fs.StringVar(&c.EmailAttr, "email-attr", ldapdir.DefaultEmailAttr, "attribute holding the email address (taken as verified)")
			fs.StringVar(&c.GroupBase, "group-base", "", "DN under which groups are searched (default no groups)")
			fs.StringVar(&c.GroupFilter, "group-filter", "", "filter that finds a person's groups; %s is their DN (default (member=%s))")
			fs.StringVar(&c.GroupNameAttr, "group-name-attr", ldapdir.DefaultGroupNameAttr, "attribute holding a group's name")
			fs.DurationVar(&syncInterval, "sync-interval", 0, "how often accounts are checked against the directory (users gone are disabled); 0: only at sign-in")
			fs.DurationVar(&c.Timeout, "timeout", ldapdir.DefaultTimeout, "limit of each connection and operation")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			password, err := readSecret(e, passwordStdin, passwordFile, "bind-password")
			if err != nil {
				return err
			}
			if caFile != "" {
				pem, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("--ca-file: %w", err)
				}
				c.CACert = string(pem)
			}
			if err := c.Validate(); err != nil {
				return err
			}
			settings, err := sharedSettings(shared)
			if err != nil {
				return err
			}
			settings = settings.WithLDAP(c)
			settings.SyncInterval = identity.Duration(syncInterval)
			return addSource(ctx, e, identity.NewSource{Name: shared.name, DisplayName: shared.displayName,
				Kind: store.SourceLDAP, Settings: settings, Secret: password, Enabled: !shared.disabled})
		},
	}
}

// sharedSettings are the settings of the flags every kind has.
func sharedSettings(shared sourceShared) (identity.Settings, error) {
	if shared.name == "" {
		return identity.Settings{}, errors.New("--name is required")
	}
	maps, err := parseMappings(shared.maps)
	if err != nil {
		return identity.Settings{}, err
	}
	return identity.Settings{Mappings: maps}, nil
}

func sourceAddOIDCCommand() *command {
	var shared sourceShared
	var s upstream.Settings
	var scopes, secretFile string
	var secretStdin bool
	var acrs stringList
	var createUsers, trustMFA bool
	return &command{
		flags: func(fs *flag.FlagSet) {
			shared.register(fs)
			fs.StringVar(&s.Issuer, "issuer", "", "the provider's issuer URL, as its discovery document states it (required)")
			fs.StringVar(&s.ClientID, "client-id", "", "Latchkey's client ID at the provider (required)")
			fs.BoolVar(&secretStdin, "client-secret-stdin", false, "read the client secret from one line of standard input")
			fs.StringVar(&secretFile, "client-secret-file", "", "read the client secret from this file (neither: a public client, PKCE only)")
			fs.StringVar(&scopes, "scopes", strings.Join(upstream.DefaultScopes, " "), "space-separated scopes to ask for")
			fs.StringVar(&s.UsernameClaim, "username-claim", upstream.DefaultUsernameClaim, "claim proposed as the user name of a new account")
			fs.StringVar(&s.NameClaim, "name-claim", upstream.DefaultNameClaim, "claim holding the display name")
			fs.StringVar(&s.EmailClaim, "email-claim", upstream.DefaultEmailClaim, "claim holding the email address (used only if email_verified)")
			fs.StringVar(&s.GroupsClaim, "groups-claim", "", "claim listing the person's groups, for --map (default none)")
			fs.BoolVar(&createUsers, "create-users", false, "create an account the first time someone signs in (default: only linked accounts sign in)")
			fs.BoolVar(&trustMFA, "trust-upstream-mfa", false, "a multi-factor sign-in at the provider (amr or --mfa-acr) satisfies the second-factor policy")
			fs.Var(&acrs, "mfa-acr", "an acr value of the provider that means a multi-factor sign-in (repeatable)")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			secret, err := readSecret(e, secretStdin, secretFile, "client-secret")
			if err != nil {
				return err
			}
			s.Scopes = strings.Fields(scopes)
			if err := s.Validate(); err != nil {
				return err
			}
			settings, err := sharedSettings(shared)
			if err != nil {
				return err
			}
			settings = settings.WithOIDC(s)
			settings.CreateUsers, settings.TrustUpstreamMFA, settings.MFAACRValues = createUsers, trustMFA, acrs
			return addSource(ctx, e, identity.NewSource{Name: shared.name, DisplayName: shared.displayName,
				Kind: store.SourceOIDC, Settings: settings, Secret: secret, Enabled: !shared.disabled})
		},
	}
}

func sourceListCommand() *command {
	return &command{run: func(ctx context.Context, e *cmdEnv) error {
		list, err := e.store.ListIdentitySources(ctx)
		if err != nil {
			return err
		}
		type row struct {
			Position    int              `json:"position"`
			Name        string           `json:"name"`
			DisplayName string           `json:"display_name"`
			Kind        store.SourceKind `json:"kind"`
			Enabled     bool             `json:"enabled"`
			Mappings    []string         `json:"mappings"`
			SyncedAt    string           `json:"synced_at,omitempty"`
			SyncError   string           `json:"sync_error,omitempty"`
		}
		rows := []row{}
		var text strings.Builder
		for i, src := range list {
			r := row{Position: i + 1, Name: src.Name, DisplayName: src.DisplayName, Kind: src.Kind, Enabled: src.Enabled,
				Mappings: []string{}, SyncError: src.SyncError}
			if settings, err := identity.DecodeSettings(src); err == nil {
				for _, m := range settings.Mappings {
					r.Mappings = append(r.Mappings, m.String())
				}
			}
			if !src.SyncedAt.IsZero() {
				r.SyncedAt = src.SyncedAt.UTC().Format(time.RFC3339)
			}
			rows = append(rows, r)
			state := "enabled"
			if !src.Enabled {
				state = "disabled"
			}
			fmt.Fprintf(&text, "%d  %-16s  %-4s  %-8s  %q  synced %s%s\n", r.Position, r.Name, r.Kind, state, r.DisplayName,
				orDash(r.SyncedAt), map[bool]string{true: " (" + r.SyncError + ")", false: ""}[r.SyncError != ""])
		}
		if len(rows) == 0 {
			text.WriteString("no identity sources: people sign in with Latchkey passwords only")
		}
		return e.emit(map[string]any{"sources": rows}, text.String())
	}}
}

// sourceEnableCommand turns a source on, or off (ending its users'
// sessions and grants).
func sourceEnableCommand(enable bool) *command {
	return &command{
		arg: "the source's name",
		run: func(ctx context.Context, e *cmdEnv) error {
			svc, err := identityService(e)
			if err != nil {
				return err
			}
			out, err := svc.SetEnabled(ctx, e.arg, enable)
			if err != nil {
				return err
			}
			if enable {
				if err := sourceAudit(ctx, e, audit.SourceEnabled, "source: "+e.arg); err != nil {
					return err
				}
				return e.emit(map[string]any{"name": e.arg, "enabled": true}, "enabled source "+e.arg)
			}
			detail := fmt.Sprintf("source: %s; %d sessions ended, %d token grants revoked", e.arg, out.Sessions, out.Families)
			if err := sourceAudit(ctx, e, audit.SourceDisabled, detail); err != nil {
				return err
			}
			return e.emit(map[string]any{"name": e.arg, "enabled": false, "sessions_ended": out.Sessions, "revoked": out.Families},
				fmt.Sprintf("disabled source %s: %d sessions ended, %d grants revoked", e.arg, out.Sessions, out.Families))
		},
	}
}

func sourceMoveCommand() *command {
	return &command{
		arg:  "the source's name",
		arg2: "the position (1 is first)",
		run: func(ctx context.Context, e *cmdEnv) error {
			pos, err := strconv.Atoi(e.arg2)
			if err != nil || pos < 1 {
				return fmt.Errorf("position %q: give a number, 1 for the first place", e.arg2)
			}
			svc, err := identityService(e)
			if err != nil {
				return err
			}
			if err := svc.Move(ctx, e.arg, pos-1); err != nil {
				return err
			}
			if err := sourceAudit(ctx, e, audit.SourceMoved, fmt.Sprintf("source: %s; to position %d", e.arg, pos)); err != nil {
				return err
			}
			return e.emit(map[string]any{"name": e.arg, "moved": true}, fmt.Sprintf("moved source %s to position %d", e.arg, pos))
		},
	}
}

// sourceUsers reports whether any account belongs to a source.
func sourceHasUsers(ctx context.Context, st store.Store, sourceID int64) (bool, error) {
	users, _, err := st.ListSourceUsers(ctx, sourceID, store.Page{Limit: 1})
	if err != nil {
		return false, fmt.Errorf("list the accounts of the source: %w", err)
	}
	return len(users) > 0, nil
}

func sourceDeleteCommand() *command {
	return &command{
		arg: "the source's name",
		run: func(ctx context.Context, e *cmdEnv) error {
			svc, err := identityService(e)
			if err != nil {
				return err
			}
			src, err := svc.Get(ctx, e.arg)
			if err != nil {
				return err
			}
			// Refuse before Delete, which would end the sessions of the
			// accounts first.
			if has, err := sourceHasUsers(ctx, e.store, src.ID); err != nil {
				return err
			} else if has {
				return fmt.Errorf("accounts belong to source %q: disable it instead, or delete those accounts first", src.Name)
			}
			if err := svc.Delete(ctx, src.Name); err != nil {
				return err
			}
			if err := sourceAudit(ctx, e, audit.SourceDeleted, "source: "+src.Name); err != nil {
				return err
			}
			return e.emit(map[string]any{"name": src.Name, "deleted": true}, "deleted source "+src.Name)
		},
	}
}

func sourceSyncCommand() *command {
	return &command{
		arg: "the source's name",
		run: func(ctx context.Context, e *cmdEnv) error {
			svc, err := identityService(e)
			if err != nil {
				return err
			}
			rep, err := svc.Sync(ctx, e.arg)
			if err != nil {
				return err
			}
			detail := fmt.Sprintf("source: %s; %d accounts checked, %d disabled", e.arg, rep.Checked, rep.Disabled)
			if err := sourceAudit(ctx, e, audit.SourceSynced, detail); err != nil {
				return err
			}
			return e.emit(map[string]any{"name": e.arg, "checked": rep.Checked, "disabled": rep.Disabled},
				fmt.Sprintf("synchronised source %s: %d accounts checked, %d disabled", e.arg, rep.Checked, rep.Disabled))
		},
	}
}

// sourceMapCommand replaces the group mappings of a source.
func sourceMapCommand() *command {
	var maps stringList
	return &command{
		arg: "the source's name",
		flags: func(fs *flag.FlagSet) {
			fs.Var(&maps, "map", "grant members of a group a permission: GROUP=PERMISSION[:PROJECT[/repo]] (repeatable; none clears)")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			list, err := parseMappings(maps)
			if err != nil {
				return err
			}
			svc, err := identityService(e)
			if err != nil {
				return err
			}
			src, err := svc.Get(ctx, e.arg)
			if err != nil {
				return err
			}
			settings, err := identity.DecodeSettings(src)
			if err != nil {
				return err
			}
			settings.Mappings = list
			if _, err := svc.Update(ctx, src.Name, "", settings, nil); err != nil {
				return err
			}
			names := []string{}
			for _, m := range list {
				names = append(names, m.String())
			}
			if err := sourceAudit(ctx, e, audit.SourceUpdated, "source: "+src.Name+"; group mappings: "+orDash(strings.Join(names, ", "))); err != nil {
				return err
			}
			return e.emit(map[string]any{"name": src.Name, "mappings": names},
				fmt.Sprintf("source %s now has %d group mappings; accounts get them at their next sign-in or sync", src.Name, len(list)))
		},
	}
}
