package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"latchkey/internal/testkit"
)

// dsnMarker is a database password recognizable in any output.
const dsnMarker = "Pg-S3cr3t-marker"

// withPassword returns the test server's DSN with the password dsnMarker
// in the given form.
func withPassword(t *testing.T, base, form string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	switch form {
	case "userinfo":
		u.User = url.UserPassword(u.User.Username(), dsnMarker)
	default: // a query parameter: password, sslpassword
		q.Set(form, dsnMarker)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// TestDSNPasswordsReachNoLogOrError starts nodes and runs commands with a
// database password in each form pgx reads one in (URL userinfo, the
// password and sslpassword parameters, key=value): neither the log, the
// usage text nor any error shows it.
func TestDSNPasswordsReachNoLogOrError(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	base := testkit.FreshPostgres(t)
	bin := buildBinary(t)
	for _, form := range []string{"userinfo", "password"} {
		_, logs, _ := startServe(t, bin, t.TempDir(), "--db", withPassword(t, base, form),
			"--key-encryption-key", testkit.TestKeyEncryptionKey)
		if strings.Contains(logs.String(), dsnMarker) || !strings.Contains(logs.String(), `"db":"postgres://`) {
			t.Errorf("password as %s: the node's log shows it, or no database at all:\n%s", form, logs)
		}
	}
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unreachable := strings.Replace(base, "127.0.0.1:5432", "127.0.0.1:1", 1)
	failing := map[string]string{
		"userinfo, bad sslmode":     withPassword(t, base, "userinfo") + "&sslmode=bogus",
		"password, unreachable":     withPassword(t, unreachable, "password"),
		"sslpassword, bad sslmode":  withPassword(t, base, "sslpassword") + "&sslmode=bogus",
		"key=value, under a file":   notADir + "/host=127.0.0.1 password=" + dsnMarker,
		"key = value, quoted value": notADir + "/host=127.0.0.1 password = '" + dsnMarker + " x'",
	}
	for what, dsn := range failing {
		code, stdout, stderr := cli(t, "", "migrate", "--db", dsn, "--data-dir", t.TempDir())
		if code == 0 || strings.Contains(stdout+stderr, dsnMarker) {
			t.Errorf("%s: exit %d, output %q %q", what, code, stdout, stderr)
		}
	}
	t.Setenv("LATCHKEY_DB", withPassword(t, base, "password"))
	for _, args := range [][]string{{"serve", "-h"}, {"serve", "--no-such-flag"}, {"migrate", "-h"}} {
		_, stdout, stderr := cli(t, "", args...)
		if strings.Contains(stdout+stderr, dsnMarker) || !strings.Contains(stdout+stderr, "-db") {
			t.Errorf("%v shows the password of LATCHKEY_DB, or no usage: %q", args, stdout+stderr)
		}
	}
}

// TestKeyEncryptionKeyFromTheEnvironmentIsNotShownInUsage: usage and flag
// errors say that the key is set, never what it is.
func TestKeyEncryptionKeyFromTheEnvironmentIsNotShownInUsage(t *testing.T) {
	const marker = "S2V5LW1hcmtlci1ub3QtdG8tYmUtc2hvd24tYW55d2hlcmU="
	t.Setenv("LATCHKEY_KEY_ENCRYPTION_KEY", marker)
	for _, args := range [][]string{{"serve", "-h"}, {"serve", "--no-such-flag"}, {"migrate", "-h"}} {
		_, stdout, stderr := cli(t, "", args...)
		if strings.Contains(stdout+stderr, marker) || !strings.Contains(stdout+stderr, "-key-encryption-key") {
			t.Errorf("%v shows the key-encryption key of LATCHKEY_KEY_ENCRYPTION_KEY, or no usage: %q", args, stdout+stderr)
		}
	}
}
