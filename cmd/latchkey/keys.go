package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"latchkey/internal/oidc"
)

// keysManager opens the signing keys with the configured key-encryption key.
func keysManager(e *cmdEnv) (*oidc.Keys, error) {
	kek, err := e.cfg.LoadKeyEncryptionKey()
	if err != nil {
		return nil, err
	}
	alg := e.cfg.IDTokenAlgorithm
	if alg == "" {
		alg = oidc.RS256
	}
	return oidc.NewKeys(e.store, kek, alg, time.Now)
}

func keysRotateCommand() *command {
	var publishAhead, tokenTTL time.Duration
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&publishAhead, "publish-ahead", 10*time.Minute,
				"how long the new key is published before it signs (longer than clients cache the JWKS)")
			fs.DurationVar(&tokenTTL, "access-token-ttl", envDuration("ACCESS_TOKEN_TTL", time.Hour),
				"the servers' access and ID token lifetime: the old key stays published this long after the new one signs (env LATCHKEY_ACCESS_TOKEN_TTL)")
		},
		run: func(ctx context.Context, e *cmdEnv) error {
			keys, err := keysManager(e)
			if err != nil {
				return err
			}
			if err := keys.EnsureKey(ctx); err != nil {
				return err
			}
			kid, err := keys.Rotate(ctx, publishAhead, tokenTTL)
			if err != nil {
				return err
			}
			activate := time.Now().Add(publishAhead).UTC().Truncate(time.Second)
			return e.emit(map[string]any{"kid": kid, "activate_at": activate.Format(time.RFC3339)},
				fmt.Sprintf("new signing key %s is published now and signs from %s on", kid, activate.Format(time.RFC3339)))
		},
	}
}

func keysListCommand() *command {
	return &command{run: func(ctx context.Context, e *cmdEnv) error {
		keys, err := e.store.ListSigningKeys(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		type row struct {
			Kid        string `json:"kid"`
			Algorithm  string `json:"alg"`
			State      string `json:"state"`
			ActivateAt string `json:"activate_at"`
			RetireAt   string `json:"retire_at,omitempty"`
		}
		rows := []row{}
		var text strings.Builder
		for _, k := range keys {
			r := row{Kid: k.ID, Algorithm: k.Algorithm, State: keyState(k.ActivateAt, k.RetireAt, now),
				ActivateAt: k.ActivateAt.Format(time.RFC3339)}
			if !k.RetireAt.IsZero() {
				r.RetireAt = k.RetireAt.Format(time.RFC3339)
			}
			rows = append(rows, r)
			fmt.Fprintf(&text, "%s  %-5s  %-9s  active from %s  retires %s\n", r.Kid, r.Algorithm, r.State, r.ActivateAt, orDash(r.RetireAt))
		}
		return e.emit(map[string]any{"keys": rows}, text.String())
	}}
}

func keyState(activate, retire, now time.Time) string {
	switch {
	case !retire.IsZero() && !retire.After(now):
		return "retired"
	case activate.After(now):
		return "published"
	case !retire.IsZero():
		return "retiring"
	}
	return "active"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(lookupEnv("LATCHKEY_" + name)); err == nil {
		return d
	}
	return def
}
