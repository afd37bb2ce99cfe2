package config

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClientMetadataSettings(t *testing.T) {
	t.Setenv("LATCHKEY_CLIENT_METADATA_HOSTS", "agents.example.com, vscode.dev")
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterServeFlags(fs)
	if err := fs.Parse([]string{"--client-metadata-allowed-internal-hosts=127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if c.ClientMetadata.Off() || c.ClientMetadata.Documents != "on" || c.ClientMetadata.AllowedInternalHosts != "127.0.0.1" ||
		!slices.Equal(c.ClientMetadata.HostList(), []string{"agents.example.com", "vscode.dev"}) {
		t.Fatalf("ClientMetadata = %+v", c.ClientMetadata)
	}
	if err := fs.Parse([]string{"--client-metadata-documents=off"}); err != nil || !c.ClientMetadata.Off() {
		t.Fatalf("off: %+v %v", c.ClientMetadata, err)
	}
	for _, m := range []ClientMetadata{{Documents: "yes"}, {Hosts: "https://x.example"}, {AllowedInternalHosts: "10.0.0.0/99"}} {
		if err := m.validate(); err == nil {
			t.Errorf("%+v validated", m)
		}
	}
	base := Config{BaseURL: "http://localhost:8080", AccessTokenTTL: time.Hour, RefreshTokenTTL: time.Hour, CodeTTL: time.Minute,
		SessionTTL: time.Hour, ClientMetadata: ClientMetadata{AllowedInternalHosts: "127.0.0.1"}}
	warnings, err := base.ValidateServe()
	if err != nil || !strings.Contains(strings.Join(warnings, "\n"), "--client-metadata-allowed-internal-hosts") {
		t.Fatalf("warnings %q, %v", warnings, err)
	}
	base.ClientMetadata.Documents = "maybe"
	if _, err := base.ValidateServe(); err == nil || !strings.Contains(err.Error(), "--client-metadata-documents") {
		t.Fatalf("ValidateServe = %v", err)
	}
}
