package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestWebhookSettingsTakeFlagsEnvironmentAndDefaults(t *testing.T) {
	t.Setenv("LATCHKEY_WEBHOOK_ALLOWED_HOSTS", "ci.internal,10.0.0.0/8")
	t.Setenv("LATCHKEY_WEBHOOK_TIMEOUT", "3s")
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterServeFlags(fs)
	if err := fs.Parse([]string{"--webhook-max-attempts=3"}); err != nil {
		t.Fatal(err)
	}
	want := Webhook{AllowedHosts: "ci.internal,10.0.0.0/8", Timeout: 3 * time.Second, MaxAttempts: 3,
		RetryBackoff: DefaultWebhookRetryBackoff, PollInterval: DefaultWebhookPollInterval}
	if c.Webhook != want {
		t.Fatalf("Webhook = %+v, want %+v", c.Webhook, want)
	}
	if err := fs.Parse([]string{"--webhook-allowed-hosts=127.0.0.1"}); err != nil || c.Webhook.AllowedHosts != "127.0.0.1" {
		t.Fatalf("the flag does not override the environment: %q, %v", c.Webhook.AllowedHosts, err)
	}
}

func TestWebhookSettingsAreValidated(t *testing.T) {
	for _, w := range []Webhook{{AllowedHosts: "http://x"}, {AllowedHosts: "10.0.0.0/99"}, {Timeout: -1}, {MaxAttempts: -1}} {
		if err := w.validate(); err == nil {
			t.Errorf("%+v validated", w)
		}
	}
	if err := (Webhook{AllowedHosts: " localhost, ::1 ,192.168.0.0/16"}).validate(); err != nil {
		t.Fatal(err)
	}
	c := Config{BaseURL: "http://localhost:8080", AccessTokenTTL: time.Hour, RefreshTokenTTL: time.Hour, CodeTTL: time.Minute,
		SessionTTL: time.Hour, Webhook: Webhook{AllowedHosts: "127.0.0.1"}}
	warnings, err := c.ValidateServe()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), "127.0.0.1") {
		t.Fatalf("no warning names the allowed internal hosts: %q", warnings)
	}
	c.Webhook.AllowedHosts = "not a host"
	if _, err := c.ValidateServe(); err == nil || !strings.Contains(err.Error(), "--webhook-allowed-hosts") {
		t.Fatalf("ValidateServe = %v, want an error naming the flag", err)
	}
}
