package web_test

import (
	"fmt"
	"latchkey/internal/audit"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// adminFixture: root (SYS_ADMIN), ops (ADMIN), bob (no global permission)
// with a token, and a project with a repository.
type adminFixture struct {
	env            *testkit.Env
	root, ops, bob store.User
	bobToken       string
	rootUI, opsUI  *testkit.Browser
	bobUI          *testkit.Browser
	clientID       string
}

func newAdminFixture(t *testing.T) *adminFixture {
	env := testkit.New(t)
	f := &adminFixture{env: env}
	f.root, f.ops, f.bob = env.User("root", "root-password"), env.User("ops", "ops-password"), env.User("bob", "bob-password")
	env.Grant("root", admin.Target{Global: true}, "SYS_ADMIN")
	env.Grant("ops", admin.Target{Global: true}, "ADMIN")
	env.Project("PROJ", false)
	env.Repo("PROJ", "code", false)
	id, plain := env.Client(admin.NewClient{Name: "Bob's Tool", RedirectURIs: []string{redirectURI},
		Scopes: "REPO_READ read:user", OwnerUserID: f.bob.ID})
	f.clientID = id
	f.bobToken = token(t, env, id, plain, "bob").AccessToken
	f.rootUI, f.opsUI = signedIn(t, env, "root", "root-password"), signedIn(t, env, "ops", "ops-password")
	f.bobUI = signedIn(t, env, "bob", "bob-password")
	return f
}

func (f *adminFixture) userPage(u store.User) string {
	return "/admin/users/" + strconv.FormatInt(u.ID, 10)
}

func TestAdminPagesAreForAdministratorsOnly(t *testing.T) {
	f := newAdminFixture(t)
	for _, path := range []string{"/admin/applications", "/admin/users", f.userPage(f.root), "/admin/audit"} {
		status, body := get(t, f.bobUI, path)
		wantPage(t, "bob: "+path, status, body, http.StatusForbidden, "Only administrators")
		status, body = get(t, f.opsUI, path)
		wantPage(t, "ops: "+path, status, body, http.StatusOK)
	}
	status, _, body := submit(t, f.bobUI, "/admin/applications/"+f.clientID+"/suspend", nil)
	wantPage(t, "bob suspends", status, body, http.StatusForbidden, "Only administrators")
	if c, _ := f.env.Store.GetClient(t.Context(), f.clientID); c.Suspended {
		t.Error("a non-administrator suspended an application")
	}
	_, home := get(t, f.bobUI, "/")
	_, opsHome := get(t, f.opsUI, "/")
	if strings.Contains(home, `href="/admin/applications"`) || !strings.Contains(opsHome, `href="/admin/applications"`) {
		t.Error("the administration link shows for the wrong users")
	}
}

func TestAdminDisablesAndEnablesUsers(t *testing.T) {
	f := newAdminFixture(t)
	status, loc, _ := submit(t, f.opsUI, f.userPage(f.bob)+"/disable", nil)
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=disabled") {
		t.Fatalf("disable bob: %d to %q", status, loc)
	}
	if s := callAPI(t, f.env, f.bobToken); s != http.StatusUnauthorized {
		t.Errorf("bob's token after disabling him: %d, want 401", s)
	}
	if s, _ := get(t, f.bobUI, "/user/settings/account"); s != http.StatusFound {
		t.Errorf("bob's session after disabling him: %d, want 302 to the login page", s)
	}
	if err := f.env.Browser("bob", "bob-password").SignIn(); err == nil {
		t.Error("a disabled user signed in")
	}
	submit(t, f.opsUI, f.userPage(f.bob)+"/enable", nil)
	if s := callAPI(t, f.env, f.bobToken); s != http.StatusOK {
		t.Errorf("bob's token after enabling him: %d, want 200", s)
	}

	status, _, body := submit(t, f.opsUI, f.userPage(f.root)+"/disable", nil)
	wantPage(t, "an ADMIN disables a SYS_ADMIN", status, body, http.StatusForbidden, "Only a system administrator")
	status, _, body = submit(t, f.opsUI, f.userPage(f.ops)+"/disable", nil)
	wantPage(t, "an admin disables themselves", status, body, http.StatusBadRequest, "your own account")
	for _, u := range []store.User{f.root, f.ops} {
		if got, _ := f.env.Store.GetUser(t.Context(), u.ID); got.Disabled {
			t.Errorf("%s was disabled", u.Username)
		}
	}
}

func TestAdminGrantsAndRevokesPermissions(t *testing.T) {
	f := newAdminFixture(t)
	page := f.userPage(f.bob) + "/permissions"
	grant := func(b *testkit.Browser, kind, target, permission string) (int, string, string) {
		return submit(t, b, page, url.Values{"kind": {kind}, "target": {target}, "permission": {permission}})
	}
	for _, c := range []struct {
		what                     string
		as                       *testkit.Browser
		kind, target, permission string
		status                   int
		want                     string
	}{
		{"a missing project", f.opsUI, "project", "NOPE", "PROJECT_READ", http.StatusBadRequest, "There is no project"},
		{"a missing repository", f.opsUI, "repo", "PROJ/nope", "REPO_READ", http.StatusBadRequest, "There is no repository"},
		{"a permission of another kind", f.opsUI, "project", "PROJ", "REPO_READ", http.StatusBadRequest, "applies to"},
		{"SYS_ADMIN by an ADMIN", f.opsUI, "global", "", "SYS_ADMIN", http.StatusBadRequest, "Only a system administrator"},
	} {
		status, _, body := grant(c.as, c.kind, c.target, c.permission)
		wantPage(t, c.what, status, body, c.status, c.want)
	}
	if perms, _ := f.env.Store.ListPermissions(t.Context(), f.bob.ID); len(perms) != 0 {
		t.Fatalf("refused grants stored %+v", perms)
	}

	for _, g := range [][3]string{{"project", "PROJ", "PROJECT_WRITE"}, {"repo", "PROJ/code", "REPO_ADMIN"}, {"global", "", "PROJECT_CREATE"}} {
		if status, loc, body := grant(f.opsUI, g[0], g[1], g[2]); status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=granted") {
			t.Fatalf("grant %v: %d %q %.300s", g, status, loc, body)
		}
	}
	_, body := get(t, f.opsUI, f.userPage(f.bob))
	wantPage(t, "bob's permissions", http.StatusOK, body, http.StatusOK,
		"PROJECT_WRITE", "project PROJ", "REPO_ADMIN", "repository PROJ/code", "PROJECT_CREATE", "the whole server")

	status, loc, _ := submit(t, f.opsUI, page+"/revoke", url.Values{"kind": {"repo"}, "target": {"PROJ/code"}, "permission": {"REPO_ADMIN"}})
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=taken") {
		t.Fatalf("revoke: %d %q", status, loc)
	}
	status, _, body = submit(t, f.opsUI, page+"/revoke", url.Values{"kind": {"repo"}, "target": {"PROJ/code"}, "permission": {"REPO_ADMIN"}})
	wantPage(t, "revoke twice", status, body, http.StatusConflict, "already changed")
	perms, _ := f.env.Store.ListPermissions(t.Context(), f.bob.ID)
	if len(perms) != 2 {
		t.Errorf("bob holds %+v, want PROJECT_WRITE and PROJECT_CREATE", perms)
	}

	status, _, body = submit(t, f.opsUI, f.userPage(f.ops)+"/permissions/revoke", url.Values{"kind": {"global"}, "permission": {"ADMIN"}})
	wantPage(t, "an admin removes their own ADMIN", status, body, http.StatusBadRequest, "your own global permission")
	status, _, _ = grant(f.rootUI, "global", "", "SYS_ADMIN")
	if status != http.StatusSeeOther {
		t.Errorf("a SYS_ADMIN grants SYS_ADMIN: %d", status)
	}
}

func TestAdminSuspendsReinstatesAndDeletesApplications(t *testing.T) {
	f := newAdminFixture(t)
	status, loc, _ := submit(t, f.opsUI, "/admin/applications/"+f.clientID+"/suspend", nil)
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=suspended") {
		t.Fatalf("suspend: %d %q", status, loc)
	}
	if s := callAPI(t, f.env, f.bobToken); s != http.StatusUnauthorized {
		t.Errorf("token of a suspended application: %d", s)
	}
	_, body := get(t, f.bobUI, "/user/settings/applications/"+f.clientID)
	wantPage(t, "the owner's page of a suspended application", http.StatusOK, body, http.StatusOK, "suspended this application")
	submit(t, f.opsUI, "/admin/applications/"+f.clientID+"/reinstate", nil)
	if c, _ := f.env.Store.GetClient(t.Context(), f.clientID); c.Suspended {
		t.Error("reinstating left the application suspended")
	}
	status, _, body = submit(t, f.opsUI, "/admin/applications/"+f.clientID+"/delete", nil)
	wantPage(t, "delete unconfirmed", status, body, http.StatusOK, "suspend it")
	submit(t, f.opsUI, "/admin/applications/"+f.clientID+"/delete", url.Values{"confirm": {"yes"}})
	if _, err := f.env.Store.GetClient(t.Context(), f.clientID); err == nil {
		t.Error("the application survived a confirmed deletion")
	}
}

// TestAuditTrailRecordsSecurityEvents: the pages and the protocol core
// write who did what, when and from where; the audit page shows it, a page
// at a time.
func TestAuditTrailRecordsSecurityEvents(t *testing.T) {
	f := newAdminFixture(t)
	if err := f.env.Browser("bob", "wrong").SignIn(); err == nil {
		t.Fatal("a wrong password signed in")
	}
	submit(t, f.opsUI, "/admin/applications/"+f.clientID+"/suspend", nil)
	submit(t, f.bobUI, "/user/settings/authorizations/"+f.clientID+"/revoke", nil)

	byName := map[string]store.AuditEvent{}
	for _, e := range events(t, f.env.Store) {
		byName[string(e.Event)] = e
	}
	for _, c := range []struct{ event, username, client string }{
		{"login", "bob", ""}, {"login.failed", "bob", ""}, {"consent.granted", "bob", f.clientID},
		{"client.suspended", "ops", f.clientID}, {"authorization.revoked", "bob", f.clientID},
	} {
		e, ok := byName[c.event]
		switch {
		case !ok:
			t.Errorf("no %s event", c.event)
		case e.Username != c.username || e.ClientID != c.client || e.Remote != "127.0.0.1" || e.At.IsZero():
			t.Errorf("%s event %+v, want user %s, client %q, remote 127.0.0.1", c.event, e, c.username, c.client)
		}
	}

	for i := range 60 {
		if _, err := f.env.Store.AppendAudit(t.Context(), store.AuditEvent{At: f.env.Clock.Now(), Event: audit.Event(fmt.Sprintf("test.event%02d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	_, first := get(t, f.opsUI, "/admin/audit")
	wantPage(t, "audit page 1", http.StatusOK, first, http.StatusOK, "test.event59", `href="/admin/audit?page=2"`)
	_, second := get(t, f.opsUI, "/admin/audit?page=2")
	wantPage(t, "audit page 2", http.StatusOK, second, http.StatusOK, "client.suspended", "127.0.0.1", `href="/admin/audit?page=1"`)
	if strings.Contains(second, "test.event59") {
		t.Error("page 2 repeats the newest event")
	}
}
