package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

// TestRegistrationSettings: registration is off by default with the
// read-only scopes and a 30-day clean-up; a bad policy, an unknown scope
// or a negative period is refused at start-up; open is said loudly.
func TestRegistrationSettings(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterServeFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.Registration != "off" || c.RegistrationScopes != DefaultRegistrationScopes || c.RegistrationUnusedAfter != 30*24*time.Hour {
		t.Fatalf("defaults %q %q %v", c.Registration, c.RegistrationScopes, c.RegistrationUnusedAfter)
	}
	base := func() Config {
		return Config{BaseURL: "https://lk.example", AccessTokenTTL: 1, RefreshTokenTTL: 1, CodeTTL: 1, SessionTTL: 1}
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.Registration = "closed" },
		func(c *Config) { c.RegistrationScopes = "REPO_READ nope" },
		func(c *Config) { c.RegistrationScopes = "   " },
		func(c *Config) { c.RegistrationUnusedAfter = -time.Hour },
	} {
		c := base()
		bad(&c)
		if _, err := c.ValidateServe(); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	c = base()
	c.Registration = "open"
	warnings, err := c.ValidateServe()
	if err != nil || !strings.Contains(strings.Join(warnings, "\n"), "registration is open") {
		t.Fatalf("open: %v %v", warnings, err)
	}
}
