package e2e

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/identity"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// TestSignInWithLDAP runs a real OpenLDAP (testkit.StartSlapd) as a
// directory source, on SQLite and PostgreSQL: people of the directory
// sign in with its passwords and get accounts with the directory's name,
// verified address and group permissions; an application gets the usual
// token; the sync disables a person who left the directory and their
// token stops at once; a directory that cannot be reached gives a clear
// page while local administrators still sign in.
func TestSignInWithLDAP(t *testing.T) {
	backends := map[string]func(t *testing.T) []testkit.Option{
		"sqlite":   func(*testing.T) []testkit.Option { return nil },
		"postgres": func(t *testing.T) []testkit.Option { return []testkit.Option{testkit.OnFreshPostgres(t)} },
	}
	for name, opts := range backends {
		t.Run(name, func(t *testing.T) { checkLDAP(t, testkit.New(t, opts(t)...)) })
	}
}

func checkLDAP(t *testing.T, env *testkit.Env) {
	dir := testkit.StartSlapd(t)
	ctx := t.Context()
	env.User("root", "root-password")
	env.Grant("root", admin.Target{Global: true}, "SYS_ADMIN")
	env.Project("PRJ", false)
	env.Repo("PRJ", "code", false)
	id, secret := env.Client(admin.NewClient{Name: "App", RedirectURIs: []string{redirectURI},
		Scopes: "REPO_READ PROJECT_ADMIN"})

	svc := env.Server.Identity()
	var mappings []identity.Mapping
	for _, m := range []string{"developers=PROJECT_WRITE:PRJ", dir.GroupDN("admins") + "=SYS_ADMIN"} {
		mp, err := identity.ParseMapping(m)
		if err != nil {
			t.Fatal(err)
		}
		mappings = append(mappings, mp)
	}
	src, err := svc.Add(ctx, identity.NewSource{Name: "corp", DisplayName: "Corporate directory", Kind: store.SourceLDAP,
		Settings: identity.Settings{Mappings: mappings}.WithLDAP(dir.Config()), Secret: dir.BindPassword, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(src.Secret), dir.BindPassword) || strings.Contains(string(src.Config), dir.BindPassword) {
		t.Fatal("the bind password is stored in the clear")
	}

	// A wrong password and an unknown name get the same answer.
	for _, c := range [][2]string{{"ada", "wrong-password"}, {"nobody", "ada-secret-1"}} {
		status, _, body, err := env.Browser("", "").Submit("/login", url.Values{"username": {c[0]}, "password": {c[1]}})
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusUnauthorized || !strings.Contains(body, "not correct") {
			t.Errorf("%s with a wrong password: %d", c[0], status)
		}
	}
	if _, err := env.Store.GetUserByUsername(ctx, "ada"); err == nil {
		t.Fatal("a wrong password created the account")
	}

	// Ada signs in with the directory's password; her account is made
	// from the directory, and an application gets a token as for anyone.
	ada := env.Browser("ada", "ada-secret-1")
	tok := f2Token(t, env, ada, id, secret)
	u, err := env.Store.GetUserByUsername(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if u.SourceID != src.ID || u.DisplayName != "Ada Lovelace" || u.Email != "ada@example.org" || !u.EmailVerified ||
		u.PasswordHash != "" {
		t.Errorf("account from the directory: %+v", u)
	}
	perms, err := env.Store.ListPermissions(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(perms) != 1 || perms[0].Name != "PROJECT_WRITE" || perms[0].SourceID != src.ID {
		t.Errorf("ada's permissions from her groups: %+v", perms)
	}
	if status, _, _ := apiGet(t, env.URL, "/rest/api/latest/projects/PRJ/repos/code", tok); status != http.StatusOK {
		t.Fatalf("ada's token on her group's repository: %d", status)
	}
	root := env.Browser("root", "root-password")
	if err := root.SignIn(); err != nil {
		t.Fatal(err)
	}
	if _, page, err := root.Get("/admin/users/" + strconv.FormatInt(u.ID, 10)); err != nil ||
		!strings.Contains(page, "from the groups in Corporate directory") || !strings.Contains(page, "Corporate directory") {
		t.Errorf("the admin user page does not say where ada's permission comes from (%v)", err)
	}

	// Grace is in admins: SYS_ADMIN from the DN mapping.
	if err := env.Browser("grace", "grace-secret-1").SignIn(); err != nil {
		t.Fatal(err)
	}
	g, err := env.Store.GetUserByUsername(ctx, "grace")
	if err != nil {
		t.Fatal(err)
	}
	gp, _ := env.Store.ListPermissions(ctx, g.ID)
	if !hasPermission(gp, "SYS_ADMIN") {
		t.Errorf("grace's permissions: %+v", gp)
	}

	// Ada leaves the developers group: the next sign-in takes the
	// permission away (the sync would too).
	dir.SetGroupMembers(t, "developers", "grace")
	if err := env.Browser("ada", "ada-secret-1").SignIn(); err != nil {
		t.Fatal(err)
	}
	if perms, _ := env.Store.ListPermissions(ctx, u.ID); len(perms) != 0 {
		t.Errorf("ada kept a permission of a group she left: %+v", perms)
	}

	// Ada leaves the directory: the sync disables her and her token
	// stops at once.
	dir.DeleteUser(t, "ada")
	rep, err := svc.Sync(ctx, "corp")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Disabled != 1 || rep.Checked != 2 {
		t.Errorf("sync report: %+v", rep)
	}
	if status, _, _ := apiGet(t, env.URL, "/rest/api/latest/projects/PRJ/repos/code", tok); status != http.StatusUnauthorized {
		t.Errorf("the token of a user who left the directory: %d, want 401", status)
	}
	if u, _ := env.Store.GetUser(ctx, u.ID); !u.Disabled {
		t.Error("ada is not disabled")
	}

	// The directory goes away: a clear page, no account harmed, and the
	// local administrator still signs in.
	dir.Stop(t)
	status, _, body, err := env.Browser("", "").Submit("/login", url.Values{"username": {"grace"}, "password": {"grace-secret-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "Corporate directory cannot be reached") {
		t.Errorf("sign-in with the directory down: %d %s", status, body)
	}
	if err := env.Browser("root", "root-password").SignIn(); err != nil {
		t.Errorf("the local administrator cannot sign in with the directory down: %v", err)
	}
	if _, err := svc.Sync(ctx, "corp"); err == nil {
		t.Error("a sync with the directory down succeeded")
	}
	if g, _ := env.Store.GetUser(ctx, g.ID); g.Disabled {
		t.Error("a sync with the directory down disabled a user")
	}
	got, _ := env.Store.GetIdentitySource(ctx, src.ID)
	if got.SyncError == "" || got.SyncedAt.IsZero() {
		t.Errorf("the failed sync is not recorded: %+v", got)
	}
}

func hasPermission(ps []store.Permission, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// TestPeriodicDirectorySyncRunsOnceAcrossNodes: two nodes on one
// database run the periodic sync of a directory whose interval is due;
// exactly one of them syncs (the other finds the interval's marker
// taken), and the person who left the directory is disabled by it.
func TestPeriodicDirectorySyncRunsOnceAcrossNodes(t *testing.T) {
	dir := testkit.StartSlapd(t)
	dsn := testkit.FreshPostgres(t)
	onShared := func(c *config.Config) { c.DB, c.KeyEncryptionKey = dsn, testkit.TestKeyEncryptionKey }
	var logs [2]testkit.SyncBuffer
	a := testkit.NewWithLog(t, &logs[0], onShared)
	b := testkit.NewWithLog(t, &logs[1], onShared)
	ctx := t.Context()
	_, err := a.Server.Identity().Add(ctx, identity.NewSource{Name: "corp", DisplayName: "Corporate directory",
		Kind: store.SourceLDAP, Settings: identity.Settings{SyncInterval: identity.Duration(time.Hour)}.WithLDAP(dir.Config()),
		Secret: dir.BindPassword, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	id, secret := a.Client(admin.NewClient{Name: "App", RedirectURIs: []string{redirectURI}, Scopes: "PROJECT_ADMIN"})
	tok := f2Token(t, a, a.Browser("linus", "linus-secret-1"), id, secret)
	if status, _, _ := apiGet(t, b.URL, "/rest/api/latest/projects", tok); status != http.StatusOK {
		t.Fatalf("linus's token before the sync: %d", status)
	}
	linus, err := a.Store.GetUserByUsername(ctx, "linus")
	if err != nil {
		t.Fatal(err)
	}
	dir.DeleteUser(t, "linus")
	stopA := a.Server.StartDirectorySync(ctx, 20*time.Millisecond)
	stopB := b.Server.StartDirectorySync(ctx, 20*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err := a.Store.GetUser(ctx, linus.ID)
		if err != nil {
			t.Fatal(err)
		}
		if u.Disabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the periodic sync did not disable linus; logs:\n%s\n%s", logs[0].String(), logs[1].String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// On either node, at once.
	for _, node := range []string{a.URL, b.URL} {
		if status, _, _ := apiGet(t, node, "/rest/api/latest/projects", tok); status != http.StatusUnauthorized {
			t.Errorf("linus's token after the sync disabled him: %d, want 401", status)
		}
	}
	time.Sleep(200 * time.Millisecond) // ten more rounds of both nodes
	stopA()
	stopB()
	runs := strings.Count(logs[0].String(), "directory synchronised") + strings.Count(logs[1].String(), "directory synchronised")
	if runs != 1 {
		t.Errorf("the due sync ran %d times on two nodes, want once", runs)
	}
}

// TestDirectoryPasswordsAreThrottledLikeLocalOnes: failed directory
// passwords count against the same throttle as local ones (the sixth try
// from one browser waits, even with the right password, before the
// directory is asked); a name of a disabled source gets the
// wrong-password answer; and while the directory is down, attempts prove
// nothing and are not counted as failures.
func TestDirectoryPasswordsAreThrottledLikeLocalOnes(t *testing.T) {
	env := testkit.New(t)
	dir := testkit.StartSlapd(t)
	ctx := t.Context()
	svc := env.Server.Identity()
	if _, err := svc.Add(ctx, identity.NewSource{Name: "corp", DisplayName: "Corporate directory", Kind: store.SourceLDAP,
		Settings: identity.Settings{}.WithLDAP(dir.Config()), Secret: dir.BindPassword, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := env.Browser("ada", "ada-secret-1").SignIn(); err != nil {
		t.Fatal(err)
	}
	try := func(b *testkit.Browser, user, password string) (int, string) {
		t.Helper()
		status, _, body, err := b.Submit("/login", url.Values{"username": {user}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}

	if _, err := svc.SetEnabled(ctx, "corp", false); err != nil {
		t.Fatal(err)
	}
	if status, body := try(env.Browser("", ""), "ada", "ada-secret-1"); status != http.StatusUnauthorized || !strings.Contains(body, "not correct") {
		t.Errorf("a name of a disabled source: %d, want the wrong-password answer", status)
	}
	if _, err := svc.SetEnabled(ctx, "corp", true); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Hour)

	b := env.Browser("", "")
	for i := range 5 {
		if status, _ := try(b, "ada", "wrong-password"); status != http.StatusUnauthorized {
			t.Fatalf("wrong directory password %d: %d", i+1, status)
		}
	}
	if status, _ := try(b, "ada", "ada-secret-1"); status != http.StatusTooManyRequests {
		t.Errorf("after five wrong directory passwords: %d, want 429", status)
	}

	env.Clock.Advance(time.Hour)
	dir.Stop(t)
	down := env.Browser("", "")
	// This address has five failures already: each attempt sets the
	// first, one-second delay for a moment (a delay set stays, see
	// throttle.Release), but given back, the failures never grow, so the
	// delay never doubles past the two seconds between attempts.
	for i := range 8 {
		if status, _ := try(down, "grace", "grace-secret-1"); status != http.StatusServiceUnavailable {
			t.Fatalf("attempt %d with the directory down: %d, want 503 (not counted as a failure)", i+1, status)
		}
		env.Clock.Advance(2 * time.Second)
	}
}
