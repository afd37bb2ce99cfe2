package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// oidcForm is the form of a new upstream provider, with changes.
func oidcForm(name string, changes url.Values) url.Values {
	form := url.Values{"kind": {"oidc"}, "name": {name}, "display_name": {"Example IdP"}, "issuer": {"https://idp.example.com"},
		"client_id": {"latchkey"}, "secret": {"oidc-client-secret-value"}, "scopes": {"openid profile email"},
		"username_claim": {"preferred_username"}, "name_claim": {"name"}, "email_claim": {"email"}, "groups_claim": {"groups"},
		"mappings": {"admins=ADMIN\r\n\r\ndevs=PROJECT_WRITE:PROJ"}, "create_users": {"on"}, "enabled": {"on"}}
	for k, v := range changes {
		form[k] = v
	}
	return form
}

// ldapForm is the form of a new directory, with changes.
func ldapForm(name string, changes url.Values) url.Values {
	form := url.Values{"kind": {"ldap"}, "name": {name}, "display_name": {"Corp directory"}, "url": {"ldaps://ldap.example.com"},
		"bind_dn": {"cn=svc,dc=example,dc=org"}, "secret": {"ldap-bind-password-value"}, "user_base": {"ou=people,dc=example,dc=org"},
		"user_filter": {"(uid=%s)"}, "username_attr": {"uid"}, "display_name_attr": {"cn"}, "email_attr": {"mail"},
		"group_base": {"ou=groups,dc=example,dc=org"}, "group_filter": {"(member=%s)"}, "group_name_attr": {"cn"},
		"timeout": {"10s"}, "sync_interval": {"1h"}, "mappings": {"cn=devs,ou=groups,dc=example,dc=org=REPO_READ:PROJ/code"},
		"enabled": {"on"}}
	for k, v := range changes {
		form[k] = v
	}
	return form
}

// addSource adds a source through the form as root and returns it.
func (f *adminFixture) addSource(t *testing.T, form url.Values) store.IdentitySource {
	t.Helper()
	status, loc, body := submit(t, f.rootUI, "/admin/sources/new", form)
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "/admin/sources?done=source_added") {
		t.Fatalf("add source %s: %d %q %.500s", form.Get("name"), status, loc, body)
	}
	src, err := f.env.Store.GetIdentitySourceByName(t.Context(), form.Get("name"))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestAdminSourcesAreForSystemAdministratorsOnly(t *testing.T) {
	f := newAdminFixture(t)
	for _, path := range []string{"/admin/sources", "/admin/sources/new?kind=ldap", "/admin/sources/new?kind=oidc"} {
		status, body := get(t, f.bobUI, path)
		wantPage(t, "bob: "+path, status, body, http.StatusForbidden, "Only administrators")
		status, body = get(t, f.opsUI, path)
		wantPage(t, "ops: "+path, status, body, http.StatusForbidden, "Only a system administrator")
		status, body = get(t, f.rootUI, path)
		wantPage(t, "root: "+path, status, body, http.StatusOK)
	}
	for _, b := range []*testkit.Browser{f.bobUI, f.opsUI} {
		status, _, _ := submit(t, b, "/admin/sources/new", oidcForm("sneaky", nil))
		if status != http.StatusForbidden {
			t.Errorf("%s adds a source: %d, want 403", b.Username, status)
		}
	}
	if list, _ := f.env.Store.ListIdentitySources(t.Context()); len(list) != 0 {
		t.Errorf("refused forms stored sources: %+v", list)
	}
	_, page := get(t, f.rootUI, "/admin/users")
	if !strings.Contains(page, `href="/admin/sources"`) {
		t.Error("the administration pages do not link the identity sources")
	}
}

func TestAdminAddsSourcesThroughTheForm(t *testing.T) {
	f := newAdminFixture(t)
	oidc := f.addSource(t, oidcForm("example", nil))
	ldap := f.addSource(t, ldapForm("corp", nil))
	for _, c := range []struct {
		src  store.IdentitySource
		kind store.SourceKind
		pw   string
		conf []string
	}{
		{oidc, store.SourceOIDC, "oidc-client-secret-value", []string{`"issuer":"https://idp.example.com"`, `"groups_claim":"groups"`,
			`"create_users":true`, `{"group":"devs","permission":"PROJECT_WRITE","project":"PROJ"}`}},
		{ldap, store.SourceLDAP, "ldap-bind-password-value", []string{`"url":"ldaps://ldap.example.com"`, `"sync_interval":"1h0m0s"`,
			`"timeout":10000000000`, `"repo":"code"`}},
	} {
		if c.src.Kind != c.kind || !c.src.Enabled || len(c.src.Secret) == 0 || bytes.Contains(c.src.Secret, []byte(c.pw)) ||
			bytes.Contains(c.src.Config, []byte(c.pw)) {
			t.Errorf("stored %s: %+v", c.src.Name, c.src)
		}
		for _, want := range c.conf {
			if !strings.Contains(string(c.src.Config), want) {
				t.Errorf("%s settings %s lack %s", c.src.Name, c.src.Config, want)
			}
		}
	}
	status, body := get(t, f.rootUI, "/admin/sources?done=source_added")
	wantPage(t, "sources list", status, body, http.StatusOK, "The identity source was added.", "Example IdP", "Corp directory",
		"OpenID Connect provider", "LDAP directory", "/admin/sources/corp/sync", "/admin/sources/example/move-down")
	if strings.Contains(body, "/admin/sources/example/sync") || strings.Contains(body, "oidc-client-secret-value") {
		t.Error("the list offers to sync an upstream provider, or shows a secret")
	}
	// The edit form shows the settings, never the secret.
	_, edit := get(t, f.rootUI, "/admin/sources/corp")
	wantPage(t, "edit form", http.StatusOK, edit, http.StatusOK, `value="ldaps://ldap.example.com"`,
		"cn=devs,ou=groups,dc=example,dc=org=REPO_READ:PROJ/code", "Leave empty to keep the stored one")
	if strings.Contains(edit, "ldap-bind-password-value") {
		t.Error("the edit form shows the bind password")
	}
	es := events(t, f.env.Store)
	if last := es[len(es)-1]; last.Event != audit.SourceCreated || last.Username != "root" || !strings.Contains(last.Detail, "corp") {
		t.Errorf("newest audit event %+v, want %s by root", last, audit.SourceCreated)
	}
}

func TestAdminSourceFormShowsMistakes(t *testing.T) {
	f := newAdminFixture(t)
	f.addSource(t, oidcForm("example", nil))
	for _, c := range []struct {
		what string
		form url.Values
		want string
	}{
		{"a plain http LDAP URL", ldapForm("corp", url.Values{"url": {"http://ldap.example.com"}}), "ldap:// or ldaps://"},
		{"an http issuer", oidcForm("idp", url.Values{"issuer": {"http://idp.example.com"}}), "must use https"},
		{"a bad name", ldapForm("Corp Dir", nil), "lower-case letters"},
		{"a taken name", oidcForm("example", nil), "exists already"},
		{"a reserved name", oidcForm("new", nil), "reserved"},
		{"a bad mapping", ldapForm("corp", url.Values{"mappings": {"devs=REPO_READ"}}), "devs=REPO_READ"},
		{"a bad sync interval", ldapForm("corp", url.Values{"sync_interval": {"often"}}), "no duration"},
		{"no user base", ldapForm("corp", url.Values{"user_base": {""}}), "user base DN is required"},
	} {
		status, _, body := submit(t, f.rootUI, "/admin/sources/new", c.form)
		wantPage(t, c.what, status, body, http.StatusBadRequest, c.want, `id="form-error"`)
		if strings.Contains(body, c.form.Get("secret")) {
			t.Errorf("%s: the form shows the secret typed again", c.what)
		}
		if c.what == "a plain http LDAP URL" && !strings.Contains(body, `value="http://ldap.example.com"`) {
			t.Errorf("%s: the form lost what was typed", c.what)
		}
	}
	if list, _ := f.env.Store.ListIdentitySources(t.Context()); len(list) != 1 {
		t.Errorf("refused forms stored sources: %d", len(list))
	}
	status, _, body := submit(t, f.rootUI, "/admin/sources/example", url.Values{"issuer": {"ftp://x"}, "client_id": {"x"}})
	wantPage(t, "edit with a bad issuer", status, body, http.StatusBadRequest, "https")
}

func TestAdminSourceEditKeepsTheSecretWhenBlank(t *testing.T) {
	f := newAdminFixture(t)
	before := f.addSource(t, ldapForm("corp", nil))
	form := ldapForm("corp", url.Values{"display_name": {"Head office"}, "secret": {""}, "mappings": {""}})
	status, loc, body := submit(t, f.rootUI, "/admin/sources/corp", form)
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=source_saved") {
		t.Fatalf("save: %d %q %.500s", status, loc, body)
	}
	after, _ := f.env.Store.GetIdentitySourceByName(t.Context(), "corp")
	if after.DisplayName != "Head office" || !bytes.Equal(after.Secret, before.Secret) || strings.Contains(string(after.Config), "mappings") {
		t.Errorf("after a save with a blank secret: %+v (secret kept: %v)", after, bytes.Equal(after.Secret, before.Secret))
	}
	// The stored secret never goes to a new address: a changed URL needs it typed again.
	status, _, body = submit(t, f.rootUI, "/admin/sources/corp", ldapForm("corp", url.Values{"secret": {""},
		"url": {"ldaps://attacker.example.net"}}))
	wantPage(t, "a new URL with the stored secret", status, body, http.StatusBadRequest, "type the secret again")
	if kept, _ := f.env.Store.GetIdentitySourceByName(t.Context(), "corp"); !strings.Contains(string(kept.Config), "ldap.example.com") {
		t.Error("the URL changed without the secret typed again")
	}
	submit(t, f.rootUI, "/admin/sources/corp", ldapForm("corp", url.Values{"secret": {"a-new-password"}}))
	changed, _ := f.env.Store.GetIdentitySourceByName(t.Context(), "corp")
	if len(changed.Secret) == 0 || bytes.Equal(changed.Secret, before.Secret) {
		t.Error("a new secret was not stored")
	}
	submit(t, f.rootUI, "/admin/sources/corp", ldapForm("corp", url.Values{"secret": {""}, "clear_secret": {"on"}}))
	if cleared, _ := f.env.Store.GetIdentitySourceByName(t.Context(), "corp"); len(cleared.Secret) != 0 {
		t.Error("removing the secret kept it")
	}
	if status, _ := get(t, f.rootUI, "/admin/sources/nope"); status != http.StatusNotFound {
		t.Errorf("edit of a missing source: %d", status)
	}
}

// sourceSession writes a browser session of a user, as a sign-in would.
func sourceSession(t *testing.T, env *testkit.Env, userID, sourceID int64) string {
	t.Helper()
	id, now := secret.Hash(secret.New("s_")), env.Clock.Now()
	if err := env.Store.CreateSession(t.Context(), store.Session{ID: id, UserID: userID, AuthTime: now, CreatedAt: now,
		ExpiresAt: now.Add(time.Hour), SourceID: sourceID}); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAdminDisablingASourceEndsItsPeoplesSessions(t *testing.T) {
	f := newAdminFixture(t)
	src := f.addSource(t, ldapForm("corp", nil))
	dirk, err := f.env.Store.CreateUser(t.Context(), store.User{Username: "dirk", SourceID: src.ID, CreatedAt: f.env.Clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.env.Store.LinkIdentity(t.Context(), store.ExternalIdentity{SourceID: src.ID, Subject: "dirk.subject",
		UserID: dirk.ID, CreatedAt: f.env.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	_, page := get(t, f.rootUI, f.userPage(dirk))
	wantPage(t, "dirk's admin page", http.StatusOK, page, http.StatusOK, "Corp directory (ldap)", "dirk.subject")
	_, page = get(t, f.rootUI, f.userPage(f.bob))
	wantPage(t, "bob's admin page", http.StatusOK, page, http.StatusOK, "a Latchkey password")

	dirkSession := sourceSession(t, f.env, dirk.ID, src.ID)
	status, _, body := submit(t, f.rootUI, "/admin/sources/corp/disable", nil)
	wantPage(t, "disable unconfirmed", status, body, http.StatusOK, "Disable source")
	if _, err := f.env.Store.GetSession(t.Context(), dirkSession); err != nil {
		t.Fatal("asking to confirm ended the session")
	}
	status, loc, _ := submit(t, f.rootUI, "/admin/sources/corp/disable", url.Values{"confirm": {"yes"}})
	if status != http.StatusSeeOther || !strings.Contains(loc, "done=source_disabled") || !strings.Contains(loc, "sessions=1") {
		t.Fatalf("disable: %d %q", status, loc)
	}
	if _, err := f.env.Store.GetSession(t.Context(), dirkSession); err == nil {
		t.Error("dirk's session survived disabling his source")
	}
	if s := callAPI(t, f.env, f.bobToken); s != http.StatusOK {
		t.Errorf("bob (local) lost his token: %d", s)
	}
	_, list := get(t, f.rootUI, loc)
	wantPage(t, "list after disabling", http.StatusOK, list, http.StatusOK, "1 session ended", "disabled")
	if got, _ := f.env.Store.GetIdentitySourceByName(t.Context(), "corp"); got.Enabled {
		t.Error("corp is still enabled")
	}
	status, loc, _ = submit(t, f.rootUI, "/admin/sources/corp/enable", nil)
	if got, _ := f.env.Store.GetIdentitySourceByName(t.Context(), "corp"); status != http.StatusSeeOther || !got.Enabled {
		t.Errorf("enable: %d %q, enabled %v", status, loc, got.Enabled)
	}
	seen := map[audit.Event]bool{}
	for _, e := range events(t, f.env.Store) {
		seen[e.Event] = true
	}
	if !seen[audit.SourceDisabled] || !seen[audit.SourceEnabled] {
		t.Error("no audit events of disabling and enabling")
	}
}

func TestAdminDeletesOnlySourcesWithoutAccounts(t *testing.T) {
	f := newAdminFixture(t)
	src := f.addSource(t, ldapForm("corp", nil))
	f.addSource(t, oidcForm("example", nil))
	f.addSource(t, oidcForm("other", url.Values{"display_name": {"Other"}}))
	dirk, err := f.env.Store.CreateUser(t.Context(), store.User{Username: "dirk", SourceID: src.ID, CreatedAt: f.env.Clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	dirkSession := sourceSession(t, f.env, dirk.ID, src.ID)
	status, _, body := submit(t, f.rootUI, "/admin/sources/corp/delete", url.Values{"confirm": {"yes"}})
	wantPage(t, "delete with accounts", status, body, http.StatusConflict, "1 accounts belong to it", "Disable it instead")
	if _, err := f.env.Store.GetIdentitySourceByName(t.Context(), "corp"); err != nil {
		t.Error("corp was deleted")
	}
	if _, err := f.env.Store.GetSession(t.Context(), dirkSession); err != nil {
		t.Error("a refused delete ended dirk's session")
	}

	status, _, body = submit(t, f.rootUI, "/admin/sources/other/move-up", nil)
	if status != http.StatusSeeOther {
		t.Fatalf("move up: %d %.300s", status, body)
	}
	submit(t, f.rootUI, "/admin/sources/corp/move-down", nil)
	if got := sourceOrder(t, f.env); got != "other corp example" {
		t.Errorf("order after moves: %s", got)
	}
	status, _, body = submit(t, f.rootUI, "/admin/sources/example/sync", nil)
	wantPage(t, "sync an upstream", status, body, http.StatusBadRequest, "Only LDAP directories")

	status, _, body = submit(t, f.rootUI, "/admin/sources/example/delete", nil)
	wantPage(t, "delete unconfirmed", status, body, http.StatusOK, "Delete source", "disable it")
	status, loc, _ := submit(t, f.rootUI, "/admin/sources/example/delete", url.Values{"confirm": {"yes"}})
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "done=source_deleted") {
		t.Fatalf("delete: %d %q", status, loc)
	}
	if got := sourceOrder(t, f.env); got != "other corp" {
		t.Errorf("after delete: %s", got)
	}
	seen := map[audit.Event]bool{}
	for _, e := range events(t, f.env.Store) {
		seen[e.Event] = true
	}
	if !seen[audit.SourceMoved] || !seen[audit.SourceDeleted] {
		t.Error("no audit events of moving and deleting")
	}
}

// sourceOrder is the sources' names in their order.
func sourceOrder(t *testing.T, env *testkit.Env) string {
	t.Helper()
	list, err := env.Store.ListIdentitySources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	return strings.Join(names, " ")
}

// TestAdminSourcePagesWithARealDirectory adds a real OpenLDAP through the
// form: its people sign in; "Sync now" disables an account the directory
// no longer has; disabling the source signs its people out at once.
func TestAdminSourcePagesWithARealDirectory(t *testing.T) {
	f := newAdminFixture(t)
	dir := testkit.StartSlapd(t)
	c := dir.Config()
	f.addSource(t, ldapForm("corp", url.Values{"url": {c.URL}, "start_tls": {"on"}, "ca_cert": {c.CACert},
		"bind_dn": {c.BindDN}, "secret": {c.BindPassword}, "user_base": {c.UserBase}, "user_filter": {c.UserFilter},
		"group_base": {c.GroupBase}, "group_filter": {c.GroupFilter}, "mappings": {"developers=PROJECT_READ:PROJ"}}))
	ada, grace := signedIn(t, f.env, "ada", "ada-secret-1"), signedIn(t, f.env, "grace", "grace-secret-1")
	if status, _ := get(t, ada, "/user/settings/account"); status != http.StatusOK {
		t.Fatalf("ada's session: %d", status)
	}

	dir.DeleteUser(t, "grace")
	status, loc, body := submit(t, f.rootUI, "/admin/sources/corp/sync", nil)
	if status != http.StatusSeeOther || !strings.Contains(loc, "checked=2") || !strings.Contains(loc, "disabled=1") {
		t.Fatalf("sync: %d %q %.300s", status, loc, body)
	}
	_, list := get(t, f.rootUI, loc)
	wantPage(t, "list after the sync", http.StatusOK, list, http.StatusOK, "2 accounts checked, 1 account disabled")
	if u, _ := f.env.Store.GetUserByUsername(t.Context(), "grace"); !u.Disabled {
		t.Error("grace left the directory but her account is enabled")
	}
	if status, _ := get(t, grace, "/user/settings/account"); status != http.StatusFound {
		t.Errorf("grace's session after the sync: %d, want 302 to the login page", status)
	}

	status, loc, _ = submit(t, f.rootUI, "/admin/sources/corp/disable", url.Values{"confirm": {"yes"}})
	if status != http.StatusSeeOther || !strings.Contains(loc, "sessions=1") {
		t.Fatalf("disable: %d %q", status, loc)
	}
	if status, _ := get(t, ada, "/user/settings/account"); status != http.StatusFound {
		t.Errorf("ada's session after disabling her source: %d, want 302 to the login page", status)
	}
	if err := f.env.Browser("ada", "ada-secret-1").SignIn(); err == nil {
		t.Error("ada signed in through a disabled source")
	}
}
