package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/logout"
	"latchkey/internal/store"
)

// userListCommand lists users with their global permission and state.
func userListCommand() *command {
	return &command{run: func(ctx context.Context, e *cmdEnv) error {
		users, err := store.All(ctx, e.store.ListUsers)
		if err != nil {
			return err
		}
		type row struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
			Email    string `json:"email"`
			Disabled bool   `json:"disabled"`
		}
		rows := []row{}
		var text strings.Builder
		for _, u := range users {
			rows = append(rows, row{u.ID, u.Username, u.Email, u.Disabled})
			state := ""
			if u.Disabled {
				state = " (disabled)"
			}
			fmt.Fprintf(&text, "%d\t%s\t%s%s\n", u.ID, u.Username, u.Email, state)
		}
		return e.emit(map[string]any{"users": rows}, text.String())
	}}
}

// userDisableCommand disables or enables a user.
func userDisableCommand(disable bool) *command {
	var username string
	return &command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&username, "username", "", "user name (required)") },
		run: func(ctx context.Context, e *cmdEnv) error {
			u, err := e.store.GetUserByUsername(ctx, username)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("user %q does not exist", username)
			}
			if err != nil {
				return err
			}
			if disable {
				if err := queueUserSignedOut(ctx, e, u.ID); err != nil {
					return err
				}
			}
			if _, err := admin.SetUserDisabled(ctx, e.store, u.ID, disable); err != nil {
				return err
			}
			verb := map[bool]string{true: "disabled", false: "enabled"}[disable]
			return e.emit(map[string]any{"username": u.Username, "disabled": disable}, verb+" user "+u.Username)
		},
	}
}

// userSignOutCommand ends every session of a user and revokes every
// application's tokens of theirs (admin.SignOutEverywhere), and records it
// in the audit trail. The account stays enabled.
func userSignOutCommand() *command {
	var username string
	return &command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&username, "username", "", "user name (required)") },
		run: func(ctx context.Context, e *cmdEnv) error {
			u, err := lookupUsername(ctx, e, username)
			if err != nil {
				return err
			}
			now := time.Now()
			if err := queueUserSignedOut(ctx, e, u.ID); err != nil {
				return err
			}
			out, err := admin.SignOutEverywhere(ctx, e.store, u.ID, "", now)
			if err != nil {
				return err
			}
			detail := fmt.Sprintf("user: %s; %d sessions ended, %d token grants revoked; from the command line",
				u.Username, out.Sessions, out.Families)
			if _, err := e.store.AppendAudit(ctx, store.AuditEvent{At: now, Event: audit.UserSignedOut, Detail: detail}); err != nil {
				return fmt.Errorf("record the audit event: %w", err)
			}
			return e.emit(map[string]any{"username": u.Username, "sessions_ended": out.Sessions, "revoked": out.Families},
				fmt.Sprintf("signed %s out everywhere: %d sessions ended, %d grants revoked", u.Username, out.Sessions, out.Families))
		},
	}
}

// userResetFactorsCommand removes every second factor and recovery code
// of a user and ends their sessions (admin.ResetFactors), for someone
// who lost their factors and recovery codes.
func userResetFactorsCommand() *command {
	var username string
	return &command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&username, "username", "", "user name (required)") },
		run: func(ctx context.Context, e *cmdEnv) error {
			u, err := lookupUsername(ctx, e, username)
			if err != nil {
				return err
			}
			if err := queueUserSignedOut(ctx, e, u.ID); err != nil {
				return err
			}
			out, err := admin.ResetFactors(ctx, e.store, u.ID)
			if err != nil {
				return err
			}
			detail := fmt.Sprintf("user: %s; %d factors removed, %d sessions ended; from the command line",
				u.Username, out.Factors, out.Sessions)
			if _, err := e.store.AppendAudit(ctx, store.AuditEvent{At: time.Now(), Event: audit.FactorsReset, Detail: detail}); err != nil {
				return fmt.Errorf("record the audit event: %w", err)
			}
			return e.emit(map[string]any{"username": u.Username, "factors_removed": out.Factors, "sessions_ended": out.Sessions},
				fmt.Sprintf("reset the second factors of %s: %d factors removed (with their recovery codes), %d sessions ended",
					u.Username, out.Factors, out.Sessions))
		},
	}
}

// clientListCommand lists clients (never their secrets: only hashes are stored).
func clientListCommand() *command {
	return &command{run: func(ctx context.Context, e *cmdEnv) error {
		clients, err := store.All(ctx, e.store.ListClients)
		if err != nil {
			return err
		}
		type row struct {
			ClientID     string   `json:"client_id"`
			Name         string   `json:"name"`
			Public       bool     `json:"public"`
			Suspended    bool     `json:"suspended"`
			RedirectURIs []string `json:"redirect_uris"`
			Scopes       []string `json:"scopes"`
			GrantTypes   []string `json:"grant_types"`
		}
		rows := []row{}
		var text strings.Builder
		for _, c := range clients {
			rows = append(rows, row{c.ID, c.Name, c.Public, c.Suspended, c.RedirectURIs, c.Scopes, c.GrantTypes})
			fmt.Fprintf(&text, "%s\t%s\t%s\n", c.ID, c.Name, strings.Join(c.RedirectURIs, " "))
		}
		return e.emit(map[string]any{"clients": rows}, text.String())
	}}
}

// clientSuspendCommand suspends (revoking every token) or reinstates a client.
func clientSuspendCommand(suspend bool) *command {
	var id string
	return &command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&id, "client-id", "", "client ID (required)") },
		run: func(ctx context.Context, e *cmdEnv) error {
			c, revoked, err := admin.SetClientSuspended(ctx, e.store, id, suspend, time.Now())
			if err != nil {
				return err
			}
			return e.emit(map[string]any{"client_id": c.ID, "suspended": c.Suspended, "revoked": revoked},
				fmt.Sprintf("client %s suspended=%v (%d grants revoked)", c.ID, c.Suspended, revoked))
		},
	}
}

// clientDeleteCommand deletes a client with its consents and tokens.
func clientDeleteCommand() *command {
	var id string
	return &command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&id, "client-id", "", "client ID (required)") },
		run: func(ctx context.Context, e *cmdEnv) error {
			if err := admin.DeleteClient(ctx, e.store, id); err != nil {
				return err
			}
			return e.emit(map[string]any{"client_id": id, "deleted": true}, "deleted client "+id)
		},
	}
}

// clientDeviceGrantCommand switches a client's device authorization grant
// on or off (admin.SetDeviceGrant): off, nobody can start a device flow in
// its name (RFC 8628 §5.4).
func clientDeviceGrantCommand() *command {
	return clientSwitchCommand("allow the device grant", "refuse the device grant",
		func(ctx context.Context, e *cmdEnv, id string, on bool) error {
			c, err := admin.SetDeviceGrant(ctx, e.store, id, on)
			if err != nil {
				return err
			}
			return e.emit(map[string]any{"client_id": c.ID, "device_grant": on, "grant_types": c.GrantTypes},
				"client "+c.ID+": device grant "+onOff(on))
		})
}

// clientSwitchCommand is a command that turns a setting of a client on
// (--on) or off (--off), exactly one of them, with set.
func clientSwitchCommand(onUsage, offUsage string, set func(ctx context.Context, e *cmdEnv, id string, on bool) error) *command {
	var id string
	var on, off bool
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&id, "client-id", "", "client ID (required)")
			fs.BoolVar(&on, "on", false, onUsage)
			fs.BoolVar(&off, "off", false, offUsage)
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			if on == off {
				return errors.New("give exactly one of --on and --off")
			}
			return set(ctx, e, id, on)
		},
	}
}

// onOff words a switch.
func onOff(on bool) string { return map[bool]string{true: "on", false: "off"}[on] }

// tokensListCommand lists a user's live grants (token families).
func tokensListCommand() *command {
	var username string
	return &command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&username, "user", "", "user name (required)") },
		run: func(ctx context.Context, e *cmdEnv) error {
			u, err := lookupUsername(ctx, e, username)
			if err != nil {
				return err
			}
			fams, err := liveFamilies(ctx, e, u.ID)
			if err != nil {
				return err
			}
			type row struct {
				ID         int64    `json:"id"`
				ClientID   string   `json:"client_id"`
				ClientName string   `json:"client_name"`
				Scopes     []string `json:"scopes"`
				CreatedAt  string   `json:"created_at"`
			}
			rows := []row{}
			var text strings.Builder
			for _, f := range fams {
				rows = append(rows, row{f.Family.ID, f.Family.ClientID, f.ClientName, f.Family.Scopes, f.Family.CreatedAt.Format(time.RFC3339)})
				fmt.Fprintf(&text, "%d\t%s\t%s\t%s\n", f.Family.ID, f.ClientName, strings.Join(f.Family.Scopes, " "), f.Family.CreatedAt.Format(time.RFC3339))
			}
			return e.emit(map[string]any{"grants": rows}, text.String())
		},
	}
}

// tokensRevokeCommand revokes a user's tokens: for one client, or all.
func tokensRevokeCommand() *command {
	var username, clientID string
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&username, "user", "", "user name (required)")
			fs.StringVar(&clientID, "client-id", "", "only this client's tokens (default: every client)")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			u, err := lookupUsername(ctx, e, username)
			if err != nil {
				return err
			}
			clients := []string{clientID}
			if clientID == "" {
				fams, err := liveFamilies(ctx, e, u.ID)
				if err != nil {
					return err
				}
				clients = clients[:0]
				for _, f := range fams {
					clients = append(clients, f.Family.ClientID)
				}
			}
			total := 0
			for _, c := range clients {
				n, err := e.store.RevokeUserClient(ctx, u.ID, c, time.Now())
				if err != nil {
					return err
				}
				total += n
			}
			return e.emit(map[string]any{"user": u.Username, "revoked": total},
				fmt.Sprintf("revoked %d grants of %s", total, u.Username))
		},
	}
}

// liveFamilies lists every live token family of a user.
func liveFamilies(ctx context.Context, e *cmdEnv, userID int64) ([]store.UserFamily, error) {
	now := time.Now()
	return store.All(ctx, func(ctx context.Context, p store.Page) ([]store.UserFamily, store.Cursor, error) {
		return e.store.ListFamiliesByUser(ctx, userID, now, p)
	})
}

func lookupUsername(ctx context.Context, e *cmdEnv, username string) (store.User, error) {
	u, err := e.store.GetUserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("user %q does not exist", username)
	}
	return u, err
}

// clientTrustCommand marks a client a trusted first-party application or
// takes the mark away (admin.SetClientTrusted): its users are then not
// asked to consent.
func clientTrustCommand() *command {
	return clientSwitchCommand("trust it: its users are not shown the consent page", "ask its users for consent again",
		func(ctx context.Context, e *cmdEnv, id string, on bool) error {
			c, err := admin.SetClientTrusted(ctx, e.store, id, on)
			if err != nil {
				return err
			}
			return e.emit(map[string]any{"client_id": c.ID, "trusted": c.Trusted}, "client "+c.ID+": trusted "+onOff(on))
		})
}

// queueUserSignedOut queues the back-channel logout of a user-wide event
// in the database; the running nodes send it (logout.Service).
func queueUserSignedOut(ctx context.Context, e *cmdEnv, userID int64) error {
	return logout.New(logout.Config{Store: e.store}).UserSignedOut(ctx, userID, "")
}
