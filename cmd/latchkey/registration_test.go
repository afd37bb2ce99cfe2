package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"latchkey/internal/secret"
	"latchkey/internal/store/backend"
)

// TestRegistrationTokenCommands: create prints a token once and stores
// its hash; list shows it without the token; revoke by a hash prefix
// deletes it; bad references are refused.
func TestRegistrationTokenCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lk.db")
	code, out, stderr := cli(t, "", "registration", "token", "create", "--db", db, "--label", "agents", "--expires", "1h", "--json")
	if code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	m := decode(t, out)
	tok, _ := m["initial_access_token"].(string)
	hash, _ := m["hash"].(string)
	if !strings.HasPrefix(tok, "lki_") || hash != secret.Hash(tok) || m["label"] != "agents" || m["expires_at"] == "never" {
		t.Fatalf("create output %v", m)
	}
	st, err := backend.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetInitialAccessToken(context.Background(), hash)
	st.Close()
	if err != nil || got.Label != "agents" || got.ExpiresAt.IsZero() {
		t.Fatalf("stored %+v %v", got, err)
	}
	code, out, _ = cli(t, "", "registration", "token", "list", "--db", db, "--json")
	if code != 0 || strings.Contains(out, tok) || !strings.Contains(out, hash) {
		t.Fatalf("list: %d %s", code, out)
	}
	for _, bad := range [][]string{{}, {"abc"}, {"ffffffffff"}, {hash[:10], "extra"}} {
		args := append([]string{"registration", "token", "revoke", "--db", db}, bad...)
		if code, _, _ := cli(t, "", args...); code == 0 {
			t.Errorf("revoke %q succeeded", bad)
		}
	}
	code, out, stderr = cli(t, "", "registration", "token", "revoke", hash[:10], "--db", db, "--json")
	if m := decode(t, out); code != 0 || m["revoked"] != true || m["hash"] != hash {
		t.Fatalf("revoke: %d %v %s", code, m, stderr)
	}
	if code, out, _ = cli(t, "", "registration", "token", "list", "--db", db, "--json"); code != 0 || strings.Contains(out, hash) {
		t.Fatalf("list after revoke: %s", out)
	}
}
