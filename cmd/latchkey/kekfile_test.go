package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeKey writes base64 of 32 random bytes to a file in its own directory
// (away from the data directory) with the given mode.
func writeKey(t *testing.T, mode os.FileMode) string {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// serveFor runs `latchkey serve` in-process until it stops by itself or d
// has passed, and returns its exit code and standard error.
func serveFor(t *testing.T, d time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var out, errOut bytes.Buffer
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--base-url", "http://127.0.0.1:1",
		"--cleanup-interval", "0"}, args...)
	code := run(ctx, args, strings.NewReader(""), &out, &errOut)
	return code, errOut.String()
}

func TestKeyEncryptionKeyFileIsUsedAndAWrongOrMalformedOneStopsTheStart(t *testing.T) {
	dataDir := t.TempDir()
	right := writeKey(t, 0o600)
	code, out, stderr := cli(t, "", "keys", "rotate", "--data-dir", dataDir, "--key-encryption-key-file", right, "--json")
	if code != 0 {
		t.Fatalf("keys rotate with the key file: exit %d: %s %s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "key-encryption.key")); !os.IsNotExist(err) {
		t.Errorf("a key file was written beside the database although --key-encryption-key-file was given: %v", err)
	}

	if code, stderr := serveFor(t, 3*time.Second, "--data-dir", dataDir, "--key-encryption-key-file", right); code != 0 {
		t.Fatalf("serve with the right key file: exit %d: %s", code, stderr)
	} else if strings.Contains(stderr, "WARNING") {
		t.Errorf("a private key file drew a warning: %s", stderr)
	}

	wrong := writeKey(t, 0o600)
	code, stderr = serveFor(t, 20*time.Second, "--data-dir", dataDir, "--key-encryption-key-file", wrong)
	if code == 0 || !strings.Contains(stderr, "wrong key-encryption key?") {
		t.Errorf("serve with another key file: exit %d, stderr %q; want a start-up error naming a wrong key-encryption key", code, stderr)
	}

	malformed := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(malformed, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr = serveFor(t, 20*time.Second, "--data-dir", dataDir, "--key-encryption-key-file", malformed)
	if code == 0 || !strings.Contains(stderr, "the key-encryption key file "+malformed+" must be the base64 of exactly 32 bytes") {
		t.Errorf("serve with a malformed key file: exit %d, stderr %q", code, stderr)
	}

	missing := filepath.Join(t.TempDir(), "absent")
	code, stderr = serveFor(t, 20*time.Second, "--data-dir", dataDir, "--key-encryption-key-file", missing)
	if code == 0 || !strings.Contains(stderr, "read --key-encryption-key-file") {
		t.Errorf("serve with a missing key file: exit %d, stderr %q", code, stderr)
	}
}

func TestAKeyFileOthersMayReadDrawsAWarning(t *testing.T) {
	dataDir := t.TempDir()
	open := writeKey(t, 0o644)
	code, stderr := serveFor(t, 3*time.Second, "--data-dir", dataDir, "--key-encryption-key-file", open)
	if code != 0 {
		t.Fatalf("serve: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "WARNING: the key-encryption key file "+open+" may be read by group or others (mode 0644)") {
		t.Errorf("no warning about a key file others may read: %s", stderr)
	}
}

func TestKeyEncryptionKeyFromTheEnvironmentOrAFileButNotBoth(t *testing.T) {
	dataDir := t.TempDir()
	t.Setenv("LATCHKEY_KEY_ENCRYPTION_KEY_FILE", writeKey(t, 0o600))
	if code, out, stderr := cli(t, "", "keys", "rotate", "--data-dir", dataDir); code != 0 {
		t.Fatalf("keys rotate with LATCHKEY_KEY_ENCRYPTION_KEY_FILE: exit %d: %s %s", code, out, stderr)
	}
	t.Setenv("LATCHKEY_KEY_ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	code, _, stderr := cli(t, "", "keys", "rotate", "--data-dir", dataDir)
	if code == 0 || !strings.Contains(stderr, "not both") {
		t.Errorf("both the key and the key file: exit %d, %q", code, stderr)
	}
}

// TestDocsSteerTheKeyAwayFromTheCommandLineAndTheDataDirectory: the help
// text and the documentation prefer the environment or a file to a flag
// value (visible in ps), and say that the default SQLite key file sits
// beside the database.
func TestDocsSteerTheKeyAwayFromTheCommandLineAndTheDataDirectory(t *testing.T) {
	_, _, help := cli(t, "", "serve", "-h")
	for _, want := range []string{"-key-encryption-key-file", "prefer the env LATCHKEY_KEY_ENCRYPTION_KEY or --key-encryption-key-file",
		"LATCHKEY_KEY_ENCRYPTION_KEY_FILE"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve -h does not say %q", want)
		}
	}
	docs := map[string][]string{
		"README.md":        {"`--key-encryption-key-file`", "Prefer the environment variable or the file: a flag value shows in `ps`", "beside the database"},
		"docs/deploy.md":   {"LATCHKEY_KEY_ENCRYPTION_KEY_FILE", "Do not pass it as the value of `--key-encryption-key`", "beside the database"},
		"docs/security.md": {"--key-encryption-key-file", "Avoid the `--key-encryption-key` flag with\na value", "beside the database"},
	}
	for file, wants := range docs {
		raw, err := os.ReadFile(filepath.Join("..", "..", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range wants {
			if !strings.Contains(string(raw), want) {
				t.Errorf("%s does not say %q", file, want)
			}
		}
	}
}
