package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"latchkey/internal/register"
)

// registrationCommands are the commands that administer dynamic client
// registration (package register).
func registrationCommands() map[string]*command {
	return map[string]*command{
		"registration token create": registrationTokenCreateCommand(),
		"registration token list":   registrationTokenListCommand(),
		"registration token revoke": registrationTokenRevokeCommand(),
	}
}

// registrationTokenCreateCommand issues an initial access token (RFC 7591
// §3) for the token registration policy, printed once.
func registrationTokenCreateCommand() *command {
	var label string
	var expires time.Duration
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&label, "label", "", "what the token is for, shown by list and in the audit trail")
			fs.DurationVar(&expires, "expires", 30*24*time.Hour, "lifetime of the token; 0: it never expires")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			plain, t, err := register.CreateInitialAccessToken(ctx, e.store, label, expires, time.Now())
			if err != nil {
				return err
			}
			out := map[string]any{"initial_access_token": plain, "hash": t.Hash, "label": t.Label, "expires_at": timeOrNever(t.ExpiresAt)}
			text := fmt.Sprintf("initial access token (shown only now): %s\nhash %s, label %q, expires %s\n"+
				"register with: Authorization: Bearer <token> on POST %s (needs --registration token)",
				plain, t.Hash[:12], t.Label, timeOrNever(t.ExpiresAt), register.Path)
			return e.emit(out, text)
		},
	}
}

func registrationTokenListCommand() *command {
	return &command{run: func(ctx context.Context, e *cmdEnv) error {
		tokens, err := e.store.ListInitialAccessTokens(ctx)
		if err != nil {
			return err
		}
		type row struct {
			Hash      string `json:"hash"`
			Label     string `json:"label"`
			CreatedAt string `json:"created_at"`
			ExpiresAt string `json:"expires_at"`
			Expired   bool   `json:"expired"`
		}
		now := time.Now()
		rows := []row{}
		var text strings.Builder
		for _, t := range tokens {
			r := row{Hash: t.Hash, Label: t.Label, CreatedAt: t.CreatedAt.UTC().Format(time.RFC3339),
				ExpiresAt: timeOrNever(t.ExpiresAt), Expired: !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)}
			rows = append(rows, r)
			state := "valid"
			if r.Expired {
				state = "expired"
			}
			fmt.Fprintf(&text, "%s  %-7s  created %s  expires %s  %q\n", t.Hash[:12], state, r.CreatedAt, r.ExpiresAt, t.Label)
		}
		if len(rows) == 0 {
			text.WriteString("no initial access tokens")
		}
		return e.emit(map[string]any{"tokens": rows}, text.String())
	}}
}

func registrationTokenRevokeCommand() *command {
	return &command{
		arg: "the token's hash, a prefix of it (at least 8 hex digits) or the token",
		run: func(ctx context.Context, e *cmdEnv) error {
			t, err := register.FindInitialAccessToken(ctx, e.store, e.arg)
			if err != nil {
				return err
			}
			if err := e.store.DeleteInitialAccessToken(ctx, t.Hash); err != nil {
				return err
			}
			return e.emit(map[string]any{"hash": t.Hash, "label": t.Label, "revoked": true},
				fmt.Sprintf("revoked initial access token %s (%q); clients it registered stay", t.Hash[:12], t.Label))
		},
	}
}

// timeOrNever formats an expiry; zero is "never".
func timeOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
