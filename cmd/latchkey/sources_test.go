package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/identity"
	"latchkey/internal/ldapdir"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
	"latchkey/internal/upstream"
)

const bindPassword = "bind-Pa55word-that-must-stay-sealed"

// addLDAP adds the directory source corp with its bind password on
// standard input.
func addLDAP(t *testing.T, db string, extra ...string) map[string]any {
	t.Helper()
	args := append([]string{"source", "add-ldap", "--db", db, "--json", "--name", "corp", "--display-name", "Corp directory",
		"--url", "ldap://ldap.example.com:389", "--start-tls", "--bind-dn", "cn=svc,dc=example,dc=org", "--bind-password-stdin",
		"--user-base", "ou=people,dc=example,dc=org", "--user-filter", "(&(objectClass=inetOrgPerson)(uid=%s))",
		"--group-base", "ou=groups,dc=example,dc=org", "--map", "cn=devs,ou=groups,dc=example,dc=org=PROJECT_CREATE",
		"--sync-interval", "1h", "--timeout", "5s"}, extra...)
	code, out, stderr := cli(t, bindPassword+"\n", args...)
	if code != 0 {
		t.Fatalf("source add-ldap: exit %d: %s", code, stderr)
	}
	return decode(t, out)
}

// openStore opens the test database; it is closed when the test ends.
func openStore(t *testing.T, db string) store.Store {
	t.Helper()
	st, err := backend.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sourceNames lists the sources' names in their order, as source list
// prints them.
func sourceNames(t *testing.T, db string) []string {
	t.Helper()
	var names []string
	for _, r := range runJSON(t, db, "source", "list")["sources"].([]any) {
		names = append(names, r.(map[string]any)["name"].(string))
	}
	return names
}

// TestSourceAddLDAPSealsTheBindPassword: the directory's settings are
// stored as typed, the bind password (from standard input) only sealed
// under the key-encryption key, and the list shows the source without it.
func TestSourceAddLDAPSealsTheBindPassword(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lk.db")
	out := addLDAP(t, db)
	if out["name"] != "corp" || out["kind"] != "ldap" || out["enabled"] != true || out["position"] != float64(1) {
		t.Fatalf("add-ldap output %v", out)
	}
	code, text, _ := cli(t, "", "source", "list", "--db", db, "--json")
	if code != 0 || strings.Contains(text, bindPassword) || !strings.Contains(text, `"display_name":"Corp directory"`) ||
		!strings.Contains(text, "cn=devs,ou=groups,dc=example,dc=org=PROJECT_CREATE") {
		t.Fatalf("source list: %d %s", code, text)
	}

	st := openStore(t, db)
	src, err := st.GetIdentitySourceByName(t.Context(), "corp")
	if err != nil {
		t.Fatal(err)
	}
	if len(src.Secret) == 0 || strings.Contains(string(src.Secret), bindPassword) || strings.Contains(string(src.Config), bindPassword) {
		t.Fatalf("the bind password is not sealed: secret %q, config %s", src.Secret, src.Config)
	}
	settings, err := identity.DecodeSettings(src)
	if err != nil {
		t.Fatal(err)
	}
	var c ldapdir.Config
	if err := json.Unmarshal(settings.LDAP, &c); err != nil {
		t.Fatal(err)
	}
	if c.URL != "ldap://ldap.example.com:389" || !c.StartTLS || c.UserFilter != "(&(objectClass=inetOrgPerson)(uid=%s))" ||
		c.Timeout != 5*time.Second || c.UsernameAttr != "uid" || time.Duration(settings.SyncInterval) != time.Hour {
		t.Errorf("stored directory settings %+v, shared %+v", c, settings)
	}
	// The sealed secret opens to the password with the data directory's key.
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(db), "key-encryption.key"))
	if err != nil {
		t.Fatal(err)
	}
	kek, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	svc, err := identity.ForNode(st, kek, time.Now, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.Secret(src); err != nil || got != bindPassword {
		t.Errorf("the sealed secret opens to %q, %v", got, err)
	}
	es, _ := store.All(t.Context(), st.ListAudit)
	if len(es) == 0 || es[0].Event != audit.SourceCreated || !strings.Contains(es[0].Detail, "corp") {
		t.Errorf("newest audit event %+v, want %s", es, audit.SourceCreated)
	}
}

func TestSourceAddOIDCWithSecretFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lk.db")
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("oidc-client-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runJSON(t, db, "source", "add-oidc", "--name", "google", "--display-name", "Google", "--issuer", "https://accounts.google.com",
		"--client-id", "latchkey", "--client-secret-file", file, "--scopes", "openid email", "--groups-claim", "groups",
		"--create-users", "--trust-upstream-mfa", "--mfa-acr", "urn:mfa", "--mfa-acr", "gold", "--disabled")
	st := openStore(t, db)
	src, err := st.GetIdentitySourceByName(t.Context(), "google")
	if err != nil {
		t.Fatal(err)
	}
	settings, _ := identity.DecodeSettings(src)
	var s upstream.Settings
	if err := json.Unmarshal(settings.OIDC, &s); err != nil {
		t.Fatal(err)
	}
	if src.Enabled || src.Kind != store.SourceOIDC || s.Issuer != "https://accounts.google.com" || s.ClientID != "latchkey" ||
		strings.Join(s.Scopes, " ") != "openid email" || s.GroupsClaim != "groups" || !settings.CreateUsers ||
		!settings.TrustUpstreamMFA || strings.Join(settings.MFAACRValues, ",") != "urn:mfa,gold" {
		t.Errorf("stored %+v, settings %+v, provider %+v", src, settings, s)
	}
	if len(src.Secret) == 0 || strings.Contains(string(src.Secret), "oidc-client-secret") {
		t.Errorf("the client secret is not sealed: %q", src.Secret)
	}
}

// TestSourceEnableDisableMoveMapDelete: disabling ends the sessions and
// grants of the source's accounts; move reorders; map replaces the group
// mappings; delete is refused, changing nothing, while an account belongs
// to the source.
func TestSourceEnableDisableMoveMapDelete(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lk.db")
	addLDAP(t, db)
	runJSON(t, db, "source", "add-oidc", "--name", "google", "--issuer", "https://accounts.google.com", "--client-id", "x")
	runJSON(t, db, "source", "add-oidc", "--name", "okta", "--issuer", "https://example.okta.com", "--client-id", "y")
	runJSON(t, db, "user", "create", "--username", "local")
	clientID := runJSON(t, db, "client", "create", "--name", "CI", "--redirect-uri", "https://ci.example.com/cb")["client_id"].(string)
	st := openStore(t, db)
	corp, _ := st.GetIdentitySourceByName(t.Context(), "corp")
	if _, err := st.CreateUser(t.Context(), store.User{Username: "dirk", SourceID: corp.ID, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	dirk, dirkSession := seedGrantAndSession(t, st, "dirk", clientID)
	local, localSession := seedGrantAndSession(t, st, "local", clientID)

	out := runJSON(t, db, "source", "disable", "corp")
	if out["enabled"] != false || out["sessions_ended"] != float64(1) || out["revoked"] != float64(1) {
		t.Errorf("source disable: %v, want 1 session ended and 1 grant revoked", out)
	}
	wantUserSignedOut(t, st, "dirk", dirk, dirkSession, true)
	wantUserSignedOut(t, st, "local", local, localSession, false)
	if src, _ := st.GetIdentitySourceByName(t.Context(), "corp"); src.Enabled {
		t.Error("corp is still enabled")
	}
	if out := runJSON(t, db, "source", "enable", "corp"); out["enabled"] != true {
		t.Errorf("source enable: %v", out)
	}

	runJSON(t, db, "source", "move", "okta", "1")
	if got := strings.Join(sourceNames(t, db), " "); got != "okta corp google" {
		t.Errorf("after move okta 1: %s", got)
	}
	runJSON(t, db, "source", "move", "okta", "9")
	if got := strings.Join(sourceNames(t, db), " "); got != "corp google okta" {
		t.Errorf("after move okta 9: %s", got)
	}

	out = runJSON(t, db, "source", "map", "google", "--map", "admins=ADMIN", "--map", "devs=repo_write:proj/code")
	if fmt.Sprint(out["mappings"]) != "[admins=ADMIN devs=REPO_WRITE:PROJ/code]" {
		t.Errorf("source map: %v", out)
	}
	runJSON(t, db, "source", "map", "google")
	if src, _ := st.GetIdentitySourceByName(t.Context(), "google"); strings.Contains(string(src.Config), "mappings") {
		t.Errorf("map without --map left mappings: %s", src.Config)
	}

	// dirk belongs to corp: deleting it is refused and ends nothing.
	_, dirkSession = seedGrantAndSession(t, st, "dirk", clientID)
	code, _, stderr := cli(t, "", "source", "delete", "corp", "--db", db)
	if code != 1 || !strings.Contains(stderr, `accounts belong to source "corp"`) {
		t.Errorf("delete of a source with accounts: exit %d, %q", code, stderr)
	}
	if _, err := st.GetSession(t.Context(), dirkSession); err != nil {
		t.Errorf("a refused delete ended dirk's session: %v", err)
	}
	runJSON(t, db, "source", "delete", "okta")
	if got := strings.Join(sourceNames(t, db), " "); got != "corp google" {
		t.Errorf("after delete okta: %s", got)
	}
	es, _ := store.All(t.Context(), st.ListAudit)
	seen := map[audit.Event]bool{}
	for _, e := range es {
		seen[e.Event] = true
	}
	for _, want := range []audit.Event{audit.SourceCreated, audit.SourceDisabled, audit.SourceEnabled, audit.SourceMoved,
		audit.SourceUpdated, audit.SourceDeleted} {
		if !seen[want] {
			t.Errorf("no %s audit event", want)
		}
	}
}

func TestSourceCommandsRefuseBadInput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lk.db")
	addLDAP(t, db)
	ldap := func(changes ...string) []string {
		args := []string{"source", "add-ldap", "--name", "dir2", "--url", "ldaps://ldap.example.com", "--user-base", "dc=example,dc=org"}
		return append(args, changes...)
	}
	secret := filepath.Join(t.TempDir(), "s")
	_ = os.WriteFile(secret, []byte("x\n"), 0o600)
	for _, c := range []struct {
		what  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"taken name", "", append(ldap(), "--name", "corp"), 1, `a source named "corp" exists already`},
		{"bad name", "", append(ldap(), "--name", "Corp Dir"), 1, "use 1 to 32 lower-case letters"},
		{"no name", "", []string{"source", "add-oidc", "--issuer", "https://a.example", "--client-id", "x"}, 1, "--name is required"},
		{"http URL", "", append(ldap(), "--url", "http://ldap.example.com"), 1, "ldap:// or ldaps://"},
		{"no user base", "", []string{"source", "add-ldap", "--name", "d", "--url", "ldaps://h"}, 1, "user base DN is required"},
		{"StartTLS on ldaps", "", append(ldap(), "--start-tls"), 1, "StartTLS is only for ldap://"},
		{"bad mapping", "", append(ldap(), "--map", "devs"), 1, "GROUP=PERMISSION"},
		{"unknown permission", "", append(ldap(), "--map", "devs=EVERYTHING"), 1, "devs=EVERYTHING"},
		{"empty stdin", "", append(ldap(), "--bind-password-stdin"), 1, "no bind password on standard input"},
		{"stdin and file", "pw\n", append(ldap(), "--bind-password-stdin", "--bind-password-file", secret), 1, "not both"},
		{"missing CA file", "", append(ldap(), "--ca-file", "/nonexistent/ca.pem"), 1, "--ca-file"},
		{"plain http issuer", "", []string{"source", "add-oidc", "--name", "o", "--issuer", "http://idp.example.com", "--client-id", "x"}, 1, "must use https"},
		{"no client ID", "", []string{"source", "add-oidc", "--name", "o", "--issuer", "https://idp.example.com"}, 1, "client ID is required"},
		{"short sync interval", "", append(ldap(), "--sync-interval", "5s"), 1, "sync interval"},
		{"unknown source", "", []string{"source", "disable", "nope"}, 1, `no identity source is named "nope"`},
		{"enable without name", "", []string{"source", "enable"}, 2, "missing the source's name"},
		{"move without position", "", []string{"source", "move", "corp"}, 2, "missing the position"},
		{"move to position 0", "", []string{"source", "move", "corp", "0"}, 1, "1 for the first place"},
		{"sync an upstream", "", []string{"source", "sync", "google"}, 1, "only LDAP sources are synchronised"},
		{"map bad", "", []string{"source", "map", "corp", "--map", "=ADMIN"}, 1, "GROUP=PERMISSION"},
	} {
		if c.what == "sync an upstream" {
			runJSON(t, db, "source", "add-oidc", "--name", "google", "--issuer", "https://accounts.google.com", "--client-id", "x")
		}
		code, out, stderr := cli(t, c.stdin, append(c.args, "--db", db)...)
		if code != c.code || out != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d (want %d), stdout %q, stderr %q (want %q)", c.what, code, c.code, out, stderr, c.want)
		}
	}
	if got := strings.Join(sourceNames(t, db), " "); got != "corp google" {
		t.Errorf("refused commands changed the sources: %s", got)
	}
}

// TestSourceSyncWithARealDirectory: `source sync` looks every account of a
// real OpenLDAP up and disables the ones it no longer has.
func TestSourceSyncWithARealDirectory(t *testing.T) {
	dir := testkit.StartSlapd(t)
	db := filepath.Join(t.TempDir(), "lk.db")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte(dir.CACert), 0o600); err != nil {
		t.Fatal(err)
	}
	c := dir.Config()
	code, _, stderr := cli(t, dir.BindPassword+"\n", "source", "add-ldap", "--db", db, "--name", "corp", "--url", c.URL,
		"--start-tls", "--ca-file", ca, "--bind-dn", c.BindDN, "--bind-password-stdin", "--user-base", c.UserBase,
		"--user-filter", c.UserFilter)
	if code != 0 {
		t.Fatalf("add-ldap: %d %s", code, stderr)
	}
	st := openStore(t, db)
	src, _ := st.GetIdentitySourceByName(t.Context(), "corp")
	for _, name := range []string{"ada", "gone"} {
		if _, err := st.CreateUser(t.Context(), store.User{Username: name, SourceID: src.ID, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	out := runJSON(t, db, "source", "sync", "corp")
	if out["checked"] != float64(2) || out["disabled"] != float64(1) {
		t.Errorf("source sync: %v, want 2 checked and 1 disabled", out)
	}
	ada, _ := st.GetUserByUsername(t.Context(), "ada")
	gone, _ := st.GetUserByUsername(t.Context(), "gone")
	if ada.Disabled || !gone.Disabled || ada.DisplayName != "Ada Lovelace" {
		t.Errorf("after the sync: ada %+v, gone disabled %v", ada, gone.Disabled)
	}
	if list := runJSON(t, db, "source", "list")["sources"].([]any); list[0].(map[string]any)["synced_at"] == nil {
		t.Errorf("the list shows no sync time: %v", list)
	}
	// A directory that does not answer: the sync fails and disables nobody.
	dir.Stop(t)
	code, _, stderr = cli(t, "", "source", "sync", "corp", "--db", db)
	if code != 1 || !strings.Contains(stderr, "could not be reached") {
		t.Errorf("sync of a stopped directory: exit %d %q", code, stderr)
	}
	if ada, _ := st.GetUserByUsername(t.Context(), "ada"); ada.Disabled {
		t.Error("a failed sync disabled ada")
	}
}
