// Command latchkey is the Latchkey OAuth 2.0 / OpenID Connect provider:
// `latchkey serve` runs a node, the other subcommands administer the
// database (users, clients, projects, repositories, permissions).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"latchkey/internal/config"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
)

const usage = `latchkey: a self-hostable OAuth 2.0 / OpenID Connect provider for code hosting

Usage:
  latchkey serve [flags]                      run the server
  latchkey migrate [flags]                    create or upgrade the database schema
  latchkey user create --username U --email E [--admin] [--password-stdin]
  latchkey client create --name N --redirect-uri URI [--redirect-uri URI ...]
                         [--post-logout-redirect-uri URI ...] [--backchannel-logout-uri URI [--backchannel-logout-session-required]]
                         [--scopes "S ..."] [--default-scopes "S ..."] [--grant-types "G ..."]
                         [--public] [--pkce-required]
  latchkey project create --key K --name N [--public]
  latchkey repo create --project K --slug S [--public]
  latchkey permission grant|revoke --user U (--global | --project K | --repo K/S) --permission P
  latchkey user list | user disable --username U | user enable --username U
  latchkey user sign-out --username U         end every session, revoke every application's tokens
  latchkey user reset-factors --username U    remove every second factor and recovery code, end every session
  latchkey client list | client suspend|reinstate|delete --client-id ID
  latchkey client device-grant --client-id ID --on|--off   allow or refuse the device grant (RFC 8628)
  latchkey client trust --client-id ID --on|--off         a trusted first-party application: no consent page
  latchkey tokens list --user U | tokens revoke --user U [--client-id ID]
  latchkey registration token create [--label L] [--expires 720h]
                                              issue an initial access token for --registration token
  latchkey registration token list | registration token revoke HASH-PREFIX
  latchkey keys list                          list the ID-token signing keys
  latchkey resource-server add --uri URI --name NAME [--scopes "a b"] [--introspect] [--base-url URL]
                                              register an external resource server (RFC 8707;
                                              its tokens are RFC 9068 JWTs)
  latchkey resource-server list               list the external resource servers
  latchkey resource-server delete --uri URI   remove one
  latchkey keys rotate [--publish-ahead 10m] [--access-token-ttl 1h]
                                              publish a new signing key, retire the old one safely
  latchkey source add-ldap --name NAME [--display-name TEXT] --url ldaps://HOST[:PORT] [--start-tls]
                           [--ca-file PEM] [--bind-dn DN] [--bind-password-stdin | --bind-password-file PATH]
                           --user-base DN [--user-filter FILTER] [--username-attr uid]
                           [--display-name-attr cn] [--email-attr mail] [--group-base DN --group-filter FILTER]
                           [--group-name-attr cn] [--map GROUP=PERMISSION[:PROJECT[/repo]] ...]
                           [--sync-interval 1h] [--timeout 10s] [--disabled]
                                              add an LDAP directory people sign in with
  latchkey source add-oidc --name NAME [--display-name TEXT] --issuer URL --client-id ID
                           [--client-secret-stdin | --client-secret-file PATH] [--scopes "openid profile email"]
                           [--username-claim preferred_username] [--name-claim name] [--email-claim email]
                           [--groups-claim groups] [--map ...] [--create-users] [--trust-upstream-mfa]
                           [--mfa-acr VALUE ...] [--disabled]
                                              add an upstream OpenID Connect provider ("Sign in with ...")
  latchkey source list                        list the identity sources in their order
  latchkey source enable|disable NAME         turn a source on or off (off ends its users' sessions and grants)
  latchkey source move NAME POSITION          put a source at a position of the order (1 is first)
  latchkey source delete NAME                 delete a source no account belongs to
  latchkey source sync NAME                   synchronise the accounts of an LDAP source now
  latchkey source map NAME [--map GROUP=PERMISSION[:PROJECT[/repo]] ...]
                                              replace the group mappings of a source (none: clear them)

Every command takes --db (a SQLite path or a postgres:// DSN), --data-dir and --json.
Run "latchkey COMMAND -h" for the flags of one command.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// command is one subcommand: it registers its flags and runs.
type command struct {
	flags func(fs *flag.FlagSet)
	check func(env *cmdEnv) error // optional, before the database is opened
	// arg names the one positional argument the command takes after its
	// flags (env.arg); "" for none.
	arg string
	// arg2 names a second positional argument (env.arg2) after arg; ""
	// for none.
	arg2 string
	run  func(ctx context.Context, env *cmdEnv) error
}

// cmdEnv is what a running subcommand gets.
type cmdEnv struct {
	cfg    config.Config
	json   bool
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	store  store.Store
	arg    string // the positional argument of a command that takes one
	arg2   string // the second positional argument of a command that takes two
}

func commands() map[string]*command {
	cmds := map[string]*command{
		"serve":                  serveCommand(),
		"migrate":                {run: func(context.Context, *cmdEnv) error { return nil }},
		"user create":            userCreateCommand(),
		"client create":          clientCreateCommand(),
		"project create":         projectCreateCommand(),
		"repo create":            repoCreateCommand(),
		"permission grant":       permissionCommand(true),
		"permission revoke":      permissionCommand(false),
		"keys rotate":            keysRotateCommand(),
		"user list":              userListCommand(),
		"user disable":           userDisableCommand(true),
		"user enable":            userDisableCommand(false),
		"user sign-out":          userSignOutCommand(),
		"user reset-factors":     userResetFactorsCommand(),
		"client list":            clientListCommand(),
		"client suspend":         clientSuspendCommand(true),
		"client reinstate":       clientSuspendCommand(false),
		"client delete":          clientDeleteCommand(),
		"client device-grant":    clientDeviceGrantCommand(),
		"client trust":           clientTrustCommand(),
		"tokens list":            tokensListCommand(),
		"tokens revoke":          tokensRevokeCommand(),
		"keys list":              keysListCommand(),
		"resource-server add":    resourceServerAddCommand(),
		"resource-server list":   resourceServerListCommand(),
		"resource-server delete": resourceServerDeleteCommand(),
	}
	for name, c := range registrationCommands() {
		cmds[name] = c
	}
	for name, c := range sourceCommands() {
		cmds[name] = c
	}
	return cmds
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name, rest, cmd := lookup(args)
	if cmd == nil {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			return 0
		}
		return 2
	}
	env := &cmdEnv{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("latchkey "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if name == "serve" {
		env.cfg.RegisterServeFlags(fs)
	} else {
		env.cfg.RegisterStorageFlags(fs)
	}
	fs.BoolVar(&env.json, "json", false, "print the result as one JSON object")
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if cmd.arg != "" {
		if fs.NArg() == 0 {
			fmt.Fprintf(stderr, "latchkey %s: missing %s\n", name, cmd.arg)
			return 2
		}
		env.arg = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil { // flags may follow the argument
			return 2
		}
		if cmd.arg2 != "" {
			if fs.NArg() == 0 {
				fmt.Fprintf(stderr, "latchkey %s: missing %s\n", name, cmd.arg2)
				return 2
			}
			env.arg2 = fs.Arg(0)
			if err := fs.Parse(fs.Args()[1:]); err != nil {
				return 2
			}
		}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "latchkey %s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	env.log = newLogger(stderr, env.cfg.LogLevel)
	if err := execute(ctx, name, cmd, env); err != nil {
		fmt.Fprintf(stderr, "latchkey %s: %v\n", name, err)
		return 1
	}
	return 0
}

// lookup finds the subcommand named by the first three, two or one arguments.
func lookup(args []string) (string, []string, *command) {
	cmds := commands()
	if len(args) >= 3 {
		name := args[0] + " " + args[1] + " " + args[2]
		if c, ok := cmds[name]; ok {
			return name, args[3:], c
		}
	}
	if len(args) >= 2 {
		if c, ok := cmds[args[0]+" "+args[1]]; ok {
			return args[0] + " " + args[1], args[2:], c
		}
	}
	if len(args) >= 1 {
		if c, ok := cmds[args[0]]; ok {
			return args[0], args[1:], c
		}
	}
	return "", nil, nil
}

// execute opens (creating and migrating) the database and runs cmd.
func execute(ctx context.Context, name string, cmd *command, env *cmdEnv) error {
	if cmd.check != nil {
		if err := cmd.check(env); err != nil {
			return err
		}
	}
	st, err := backend.Open(ctx, env.cfg.DSN())
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	env.store = st
	if err := cmd.run(ctx, env); err != nil {
		return err
	}
	if name == "migrate" {
		return env.emit(map[string]any{"migrated": true}, "the database schema is up to date")
	}
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// emit prints a command's result: one JSON object with --json, else text.
func (e *cmdEnv) emit(v any, text string) error {
	if e.json {
		return json.NewEncoder(e.stdout).Encode(v)
	}
	_, err := fmt.Fprintln(e.stdout, strings.TrimRight(text, "\n"))
	return err
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

func lookupEnv(name string) string { return os.Getenv(name) }
