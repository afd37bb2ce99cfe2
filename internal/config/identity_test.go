package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// TestIdentityAllowedInternalHosts: the flag is read, warns at start-up
// when set, and a list that does not parse stops the start.
func TestIdentityAllowedInternalHosts(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterServeFlags(fs)
	if err := fs.Parse([]string{"--identity-allowed-internal-hosts=keycloak.internal, 10.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	if c.IdentityAllowedInternalHosts != "keycloak.internal, 10.0.0.0/8" {
		t.Fatalf("IdentityAllowedInternalHosts = %q", c.IdentityAllowedInternalHosts)
	}
	base := Config{BaseURL: "http://localhost:8080", AccessTokenTTL: time.Hour, RefreshTokenTTL: time.Hour, CodeTTL: time.Minute,
		SessionTTL: time.Hour, IdentityAllowedInternalHosts: "127.0.0.1"}
	warnings, err := base.ValidateServe()
	if err != nil || !strings.Contains(strings.Join(warnings, "\n"), "--identity-allowed-internal-hosts") {
		t.Fatalf("warnings %q, %v", warnings, err)
	}
	base.IdentityAllowedInternalHosts = "10.0.0.0/99"
	if _, err := base.ValidateServe(); err == nil || !strings.Contains(err.Error(), "--identity-allowed-internal-hosts") {
		t.Fatalf("ValidateServe with a bad list = %v", err)
	}
}
