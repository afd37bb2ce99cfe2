package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/store"
)

// apiFixture is a node with a private project PRJ holding PRJ/code, a
// public project OPEN holding OPEN/docs, and users: alice (REPO_ADMIN on
// PRJ/code), bob (nothing), creator (PROJECT_CREATE), root (ADMIN) and
// sys (SYS_ADMIN).
type apiFixture struct {
	*rsNode
	users map[string]store.User
}

func newAPIFixture(t *testing.T) *apiFixture {
	f := &apiFixture{rsNode: newRSNode(t), users: map[string]store.User{}}
	f.env.Project("PRJ", false)
	f.env.Repo("PRJ", "code", false)
	f.env.Project("OPEN", true)
	f.env.Repo("OPEN", "docs", false)
	for name, grant := range map[string]struct {
		target     admin.Target
		permission string
	}{
		"alice": {admin.Target{Repo: "PRJ/code"}, "REPO_ADMIN"}, "bob": {},
		"creator": {admin.Target{Global: true}, "PROJECT_CREATE"},
		"root":    {admin.Target{Global: true}, "ADMIN"}, "sys": {admin.Target{Global: true}, "SYS_ADMIN"},
	} {
		f.users[name] = f.env.User(name, name+"-password")
		if grant.permission != "" {
			f.env.Grant(name, grant.target, grant.permission)
		}
	}
	return f
}

// as mints a token for a fixture user.
func (f *apiFixture) as(t *testing.T, user, scopes string) string {
	t.Helper()
	return f.token(t, f.users[user], scopes)
}

// want fails unless the response has the status.
func (r rsResponse) want(t *testing.T, what string, status int) rsResponse {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	return r
}

// bitbucketError returns the message of Bitbucket's error JSON, failing
// the test if the body is not that shape.
func (r rsResponse) bitbucketError(t *testing.T) string {
	t.Helper()
	errs, _ := r.json(t)["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("status %d: body is not Bitbucket's error JSON: %s", r.status, r.body)
	}
	e, _ := errs[0].(map[string]any)
	if _, ok := e["context"]; !ok {
		t.Fatalf("error entry without context: %s", r.body)
	}
	msg, _ := e["message"].(string)
	return msg
}

func (r rsResponse) insufficientScope(t *testing.T, what string) {
	t.Helper()
	r.want(t, what, http.StatusForbidden)
	if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) {
		t.Fatalf("%s: WWW-Authenticate %q, want insufficient_scope", what, h)
	}
}

// values returns the "values" of a Bitbucket page, checking its shape.
func (r rsResponse) values(t *testing.T) []map[string]any {
	t.Helper()
	body := r.json(t)
	for _, k := range []string{"size", "limit", "isLastPage", "start", "values"} {
		if _, ok := body[k]; !ok {
			t.Fatalf("paged response lacks %q: %s", k, r.body)
		}
	}
	var out []map[string]any
	for _, v := range body["values"].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}

func field(values []map[string]any, path ...string) []string {
	var out []string
	for _, v := range values {
		var cur any = v
		for _, p := range path {
			cur = cur.(map[string]any)[p]
		}
		out = append(out, cur.(string))
	}
	return out
}

func TestProjectAndRepositoryLifecycle(t *testing.T) {
	f := newAPIFixture(t)
	tok := f.as(t, "creator", "PROJECT_ADMIN")
	p := f.call(t, "POST", "/rest/api/latest/projects", tok, map[string]any{"key": "new", "name": "New", "description": "A project"}).
		want(t, "create project", http.StatusCreated).json(t)
	if p["key"] != "NEW" || p["name"] != "New" || p["public"] != false || p["type"] != "NORMAL" || p["links"] == nil {
		t.Fatalf("created project %v", p)
	}
	holders := f.call(t, "GET", "/rest/api/latest/projects/NEW/permissions/users", tok, nil).want(t, "list permissions", 200).values(t)
	if got := field(holders, "user", "name"); !slices.Equal(got, []string{"creator"}) || holders[0]["permission"] != "PROJECT_ADMIN" {
		t.Fatalf("the creator does not administer the new project: %v", holders)
	}
	msg := f.call(t, "POST", "/rest/api/latest/projects", tok, map[string]any{"key": "NEW"}).want(t, "create taken key", 409).bitbucketError(t)
	if !strings.Contains(msg, "already exists") {
		t.Fatalf("taken key message %q", msg)
	}
	f.call(t, "POST", "/rest/api/latest/projects", tok, map[string]any{"key": "1bad"}).want(t, "create bad key", 400).bitbucketError(t)
	f.call(t, "PUT", "/rest/api/latest/projects/NEW", tok, map[string]any{"name": "Renamed", "public": true}).want(t, "update project", 200)
	if got := f.call(t, "GET", "/rest/api/latest/projects/NEW", "", nil).want(t, "anonymous get public project", 200).json(t); got["name"] != "Renamed" {
		t.Fatalf("updated project %v", got)
	}

	r := f.call(t, "POST", "/rest/api/latest/projects/NEW/repos", tok, map[string]any{"name": "My Repo", "scmId": "git"}).
		want(t, "create repository", http.StatusCreated).json(t)
	clone := r["links"].(map[string]any)["clone"].([]any)[0].(map[string]any)["href"]
	if r["slug"] != "my-repo" || r["name"] != "My Repo" || clone != f.env.URL+"/scm/new/my-repo.git" {
		t.Fatalf("created repository %v", r)
	}
	f.call(t, "POST", "/rest/api/latest/projects/NEW/repos", tok, map[string]any{"name": "my repo"}).want(t, "create taken slug", 409)
	f.call(t, "POST", "/rest/api/latest/projects/NEW/repos", tok, map[string]any{"name": "x", "scmId": "hg"}).want(t, "create hg", 400)
	f.call(t, "PUT", "/rest/api/latest/projects/NEW/repos/my-repo", tok, map[string]any{"name": "Other Name"}).want(t, "rename repository", 200)
	f.call(t, "GET", "/rest/api/latest/projects/NEW/repos/other-name", tok, nil).want(t, "get renamed repository", 200)
	f.call(t, "DELETE", "/rest/api/latest/projects/NEW", tok, nil).want(t, "delete project with repositories", 409).bitbucketError(t)
	f.call(t, "DELETE", "/rest/api/latest/projects/NEW/repos/other-name", tok, nil).want(t, "delete repository", 202)
	f.call(t, "DELETE", "/rest/api/latest/projects/NEW", tok, nil).want(t, "delete empty project", 204)
	f.call(t, "GET", "/rest/api/latest/projects/NEW", tok, nil).want(t, "get deleted project", 404).bitbucketError(t)
}

func TestProjectCreationNeedsScopeAndPermission(t *testing.T) {
	f := newAPIFixture(t)
	body := map[string]any{"key": "X"}
	f.call(t, "POST", "/rest/api/latest/projects", f.as(t, "creator", "REPO_ADMIN"), body).insufficientScope(t, "REPO_ADMIN token")
	msg := f.call(t, "POST", "/rest/api/latest/projects", f.as(t, "bob", "PROJECT_ADMIN"), body).
		want(t, "user without PROJECT_CREATE", 403).bitbucketError(t)
	if !strings.Contains(msg, "not permitted") {
		t.Fatalf("message %q", msg)
	}
	resp := f.call(t, "POST", "/rest/api/latest/projects", "", body).want(t, "no token", 401)
	if h := resp.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Fatalf("401 without a Bearer challenge: %q", h)
	}
	f.call(t, "POST", "/rest/api/latest/projects", "lka_invalid", body).want(t, "invalid token", 401)
	req := f.call(t, "POST", "/rest/api/latest/projects", f.as(t, "root", "write:organization"), body)
	req.want(t, "write:organization token of an ADMIN", 201)
}

func TestPrivateResourcesAreNotFoundNotForbidden(t *testing.T) {
	f := newAPIFixture(t)
	bob := f.as(t, "bob", "SYSTEM_ADMIN")
	for _, c := range []struct{ method, path, missing string }{
		{"GET", "/rest/api/latest/projects/PRJ", "/rest/api/latest/projects/NOPE"},
		{"PUT", "/rest/api/latest/projects/PRJ", "/rest/api/latest/projects/NOPE"},
		{"DELETE", "/rest/api/latest/projects/PRJ", "/rest/api/latest/projects/NOPE"},
		{"GET", "/rest/api/latest/projects/PRJ/repos", "/rest/api/latest/projects/NOPE/repos"},
		{"POST", "/rest/api/latest/projects/PRJ/repos", "/rest/api/latest/projects/NOPE/repos"},
		{"GET", "/rest/api/latest/projects/PRJ/repos/code", "/rest/api/latest/projects/PRJ/repos/nope"},
		{"DELETE", "/rest/api/latest/projects/PRJ/repos/code", "/rest/api/latest/projects/PRJ/repos/nope"},
		{"GET", "/rest/api/latest/projects/PRJ/repos/code/permissions/users", "/rest/api/latest/projects/PRJ/repos/nope/permissions/users"},
		{"GET", "/rest/api/latest/projects/PRJ/permissions/users", "/rest/api/latest/projects/NOPE/permissions/users"},
	} {
		norm := strings.NewReplacer("PRJ/code", "X", "PRJ/nope", "X", "PRJ", "X", "NOPE", "X")
		for _, token := range []string{bob, ""} {
			body := map[string]any{"name": "x"}
			hidden := f.call(t, c.method, c.path, token, body)
			missing := f.call(t, c.method, c.missing, token, body)
			if token != "" {
				hidden.want(t, c.method+" "+c.path, 404).bitbucketError(t)
			}
			if hidden.status != missing.status || norm.Replace(string(hidden.body)) != norm.Replace(string(missing.body)) {
				t.Errorf("%s %s: a hidden resource (%d %s) answers unlike a missing one (%d %s)",
					c.method, c.path, hidden.status, hidden.body, missing.status, missing.body)
			}
		}
	}
	projects := f.call(t, "GET", "/rest/api/latest/projects", bob, nil).want(t, "list projects", 200).values(t)
	if got := field(projects, "key"); !slices.Equal(got, []string{"OPEN"}) {
		t.Errorf("bob sees projects %v, want only OPEN", got)
	}
	alice := f.as(t, "alice", "REPO_READ")
	projects = f.call(t, "GET", "/rest/api/latest/projects", alice, nil).want(t, "list projects", 200).values(t)
	if got := field(projects, "key"); !slices.Equal(got, []string{"OPEN", "PRJ"}) {
		t.Errorf("alice sees projects %v, want OPEN and PRJ (through her repository)", got)
	}
	repos := f.call(t, "GET", "/rest/api/latest/repos", alice, nil).want(t, "list all repositories", 200).values(t)
	if got := field(repos, "slug"); !slices.Equal(got, []string{"docs", "code"}) {
		t.Errorf("alice reads repositories %v", got)
	}
}

func TestRepositoryPermissionsAreManagedByItsAdministrators(t *testing.T) {
	f := newAPIFixture(t)
	alice := f.as(t, "alice", "REPO_ADMIN")
	bob := f.as(t, "bob", "REPO_ADMIN")
	const perms = "/rest/api/latest/projects/PRJ/repos/code/permissions/users"
	f.call(t, "GET", "/rest/api/latest/projects/PRJ/repos/code", bob, nil).want(t, "bob before the grant", 404)
	f.call(t, "PUT", perms+"?name=bob&permission=REPO_WRITE", alice, nil).want(t, "grant bob REPO_WRITE", 204)
	f.call(t, "GET", "/rest/api/latest/projects/PRJ/repos/code", bob, nil).want(t, "bob after the grant", 200)
	f.call(t, "PUT", perms+"?name=alice&permission=REPO_ADMIN", bob, nil).want(t, "bob granting", 403).bitbucketError(t)
	holders := f.call(t, "GET", perms, alice, nil).want(t, "list", 200).values(t)
	if got := field(holders, "user", "name"); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("holders %v", got)
	}
	if got := field(holders, "permission"); !slices.Equal(got, []string{"REPO_ADMIN", "REPO_WRITE"}) {
		t.Fatalf("permissions %v", got)
	}
	f.call(t, "PUT", perms+"?name=bob&permission=PROJECT_READ", alice, nil).want(t, "project permission on a repository", 400)
	f.call(t, "PUT", perms+"?name=nobody&permission=REPO_READ", alice, nil).want(t, "unknown user", 404)
	f.call(t, "PUT", perms+"?name=bob&permission=REPO_READ", f.as(t, "alice", "REPO_WRITE"), nil).insufficientScope(t, "REPO_WRITE token")
	f.call(t, "DELETE", perms+"?name=bob", alice, nil).want(t, "revoke bob", 204)
	f.call(t, "GET", "/rest/api/latest/projects/PRJ/repos/code", bob, nil).want(t, "bob after the revocation, same token", 404)

	// Project permissions: alice administers a repository, not the project.
	f.call(t, "PUT", "/rest/api/latest/projects/PRJ/permissions/users?name=bob&permission=PROJECT_READ",
		f.as(t, "alice", "PROJECT_ADMIN"), nil).want(t, "repository admin granting on the project", 403)
	f.call(t, "PUT", "/rest/api/latest/projects/PRJ/permissions/users?name=bob&permission=PROJECT_READ",
		f.as(t, "root", "PROJECT_ADMIN"), nil).want(t, "global admin granting on the project", 204)
	f.call(t, "GET", "/rest/api/latest/projects/PRJ/repos/code", bob, nil).want(t, "bob reads through the project", 200)
}

func TestCurrentUserAndUserDirectory(t *testing.T) {
	f := newAPIFixture(t)
	// Without a mail server an address cannot be verified, so a user
	// cannot set their own (this asserted the insecure behaviour before:
	// the address was set at once), and nothing of the request is applied.
	f.call(t, "PUT", "/rest/api/latest/users", f.as(t, "alice", "ACCOUNT_WRITE"),
		map[string]any{"displayName": "Alice A.", "email": "alice@example.org"}).want(t, "change own address without SMTP", 403).bitbucketError(t)
	u := f.call(t, "PUT", "/rest/api/latest/users", f.as(t, "alice", "ACCOUNT_WRITE"),
		map[string]any{"displayName": "Alice A."}).want(t, "update current user", 200).json(t)
	if u["displayName"] != "Alice A." || u["emailAddress"] != "alice@example.com" || u["name"] != "alice" || u["slug"] != "alice" {
		t.Fatalf("updated user %v", u)
	}
	f.call(t, "PUT", "/rest/api/latest/users", f.as(t, "alice", "write:user"), map[string]any{"email": "not an address"}).
		want(t, "invalid email", 400).bitbucketError(t)
	f.call(t, "PUT", "/rest/api/latest/users", f.as(t, "alice", "ACCOUNT_WRITE"), map[string]any{"name": "bob", "displayName": "B"}).
		want(t, "update another user", 400)
	f.call(t, "PUT", "/rest/api/latest/users", f.as(t, "sys", "SYSTEM_ADMIN"), map[string]any{"displayName": "S"}).
		insufficientScope(t, "SYSTEM_ADMIN token without ACCOUNT_WRITE")
	resp := f.call(t, "PUT", "/rest/api/latest/users", f.as(t, "alice", "ACCOUNT_WRITE"), nil)
	resp.want(t, "no JSON body", http.StatusUnsupportedMediaType)

	bob := f.as(t, "bob", "PUBLIC_REPOS")
	got := f.call(t, "GET", "/rest/api/latest/users/ALICE", bob, nil).want(t, "get user", 200).json(t)
	if got["displayName"] != "Alice A." || got["active"] != true || got["type"] != "NORMAL" {
		t.Fatalf("user %v", got)
	}
	f.call(t, "GET", "/rest/api/latest/users/nobody", bob, nil).want(t, "get unknown user", 404)
	f.call(t, "GET", "/rest/api/latest/users/alice", "", nil).want(t, "anonymous", 401)
	list := f.call(t, "GET", "/rest/api/latest/users?filter=ali", bob, nil).want(t, "list users", 200).values(t)
	if names := field(list, "name"); !slices.Equal(names, []string{"alice"}) {
		t.Fatalf("filtered users %v", names)
	}
}

func TestAdminManagesUsers(t *testing.T) {
	f := newAPIFixture(t)
	root := f.as(t, "root", "ADMIN_WRITE")
	f.call(t, "POST", "/rest/api/latest/admin/users?name=carol&password=carol-password&displayName=Carol&emailAddress=carol@example.com",
		root, nil).want(t, "create user", 204)
	f.call(t, "POST", "/rest/api/latest/admin/users?name=carol&password=carol-password", root, nil).want(t, "create taken name", 409)
	f.call(t, "POST", "/rest/api/latest/admin/users?name=bad%20name&password=carol-password", root, nil).want(t, "create bad name", 400)
	users := f.call(t, "GET", "/rest/api/latest/admin/users?filter=carol", root, nil).want(t, "list users", 200).values(t)
	if len(users) != 1 || users[0]["displayName"] != "Carol" || users[0]["deletable"] != true || users[0]["directoryName"] == nil {
		t.Fatalf("admin user list %v", users)
	}
	carol := f.token(t, f.user(t, "carol"), "REPO_READ")
	f.call(t, "PUT", "/rest/api/latest/admin/users", root, map[string]any{"name": "carol", "email": "c@example.org"}).want(t, "update user", 200)

	f.call(t, "GET", "/rest/api/latest/admin/users", f.as(t, "root", "read:admin"), nil).want(t, "read:admin lists users", 200)
	f.call(t, "GET", "/rest/api/latest/admin/users", f.as(t, "root", "PROJECT_ADMIN"), nil).insufficientScope(t, "PROJECT_ADMIN token")
	f.call(t, "GET", "/rest/api/latest/admin/users", f.as(t, "bob", "ADMIN_WRITE"), nil).want(t, "plain user", 403)
	f.call(t, "DELETE", "/rest/api/latest/admin/users?name=sys", root, nil).want(t, "ADMIN deleting a SYS_ADMIN", 403)
	f.call(t, "DELETE", "/rest/api/latest/admin/users?name=root", root, nil).want(t, "deleting oneself", 400)

	f.call(t, "PUT", "/rest/api/latest/admin/permissions/users?name=carol&permission=PROJECT_CREATE", root, nil).want(t, "grant PROJECT_CREATE", 204)
	f.call(t, "PUT", "/rest/api/latest/admin/permissions/users?name=carol&permission=SYS_ADMIN", root, nil).want(t, "ADMIN granting SYS_ADMIN", 403)
	global := f.call(t, "GET", "/rest/api/latest/admin/permissions/users?filter=carol", root, nil).want(t, "list global permissions", 200).values(t)
	if got := field(global, "permission"); !slices.Equal(got, []string{"PROJECT_CREATE"}) {
		t.Fatalf("carol's global permissions %v", got)
	}

	deleted := f.call(t, "DELETE", "/rest/api/latest/admin/users?name=carol", root, nil).want(t, "delete user", 200).json(t)
	if deleted["name"] != "carol" || deleted["emailAddress"] != "c@example.org" {
		t.Fatalf("deleted user %v", deleted)
	}
	f.call(t, "GET", "/rest/api/latest/users/carol", root, nil).want(t, "get deleted user", 404)
	f.call(t, "GET", "/rest/api/latest/repos", carol, nil).want(t, "deleted user's token", 401)

	events, err := store.All(t.Context(), f.env.Store.ListAudit)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, e := range events {
		if e.Username == "root" && e.ClientID == f.clientID {
			trail = append(trail, string(e.Event)+" "+e.Detail)
		}
	}
	slices.Reverse(trail)
	want := []string{"user.created user carol", "user.updated user carol",
		"permission.granted user carol: PROJECT_CREATE on the whole server", "user.deleted user carol"}
	if !slices.Equal(trail, want) {
		t.Fatalf("audit trail of the API changes:\n%q\nwant\n%q", trail, want)
	}
}

func (f *apiFixture) user(t *testing.T, name string) store.User {
	t.Helper()
	u, err := f.env.Store.GetUserByUsername(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSystemAdministrationOfSigningKeys(t *testing.T) {
	f := newAPIFixture(t)
	sys := f.as(t, "sys", "SYSTEM_ADMIN")
	keys := f.call(t, "GET", "/rest/api/latest/admin/signing-keys", sys, nil).want(t, "list keys", 200).values(t)
	if len(keys) != 1 || keys[0]["state"] != "ACTIVE" || keys[0]["algorithm"] != "RS256" {
		t.Fatalf("keys %v", keys)
	}
	if strings.Contains(string(f.call(t, "GET", "/rest/api/latest/admin/signing-keys", sys, nil).body), "private") {
		t.Fatal("the key list mentions private key material")
	}
	f.call(t, "POST", "/rest/api/latest/admin/signing-keys/rotate", f.as(t, "root", "ADMIN_WRITE"), nil).insufficientScope(t, "ADMIN_WRITE token")
	f.call(t, "POST", "/rest/api/latest/admin/signing-keys/rotate", f.as(t, "root", "SYSTEM_ADMIN"), nil).want(t, "ADMIN user", 403)
	rotated := f.call(t, "POST", "/rest/api/latest/admin/signing-keys/rotate", sys, nil).want(t, "rotate", 201).json(t)
	keys = f.call(t, "GET", "/rest/api/latest/admin/signing-keys", sys, nil).want(t, "list keys", 200).values(t)
	if states := field(keys, "state"); !slices.Equal(states, []string{"RETIRING", "PENDING"}) || keys[1]["id"] != rotated["id"] {
		t.Fatalf("keys after rotation %v (rotated %v)", keys, rotated)
	}
}

func TestGiteaRepositoryAPI(t *testing.T) {
	f := newAPIFixture(t)
	f.env.Repo("PRJ", "more", false)
	f.env.Grant("alice", admin.Target{Repo: "PRJ/more"}, "REPO_READ")
	read := f.as(t, "alice", "read:repository")
	repo := f.call(t, "GET", "/api/v1/repos/prj/code", read, nil).want(t, "get repository", 200).json(t)
	owner := repo["owner"].(map[string]any)
	perms := repo["permissions"].(map[string]any)
	if repo["full_name"] != "PRJ/code" || repo["name"] != "code" || repo["private"] != true || owner["login"] != "PRJ" ||
		repo["clone_url"] != f.env.URL+"/scm/prj/code.git" || perms["pull"] != true || perms["push"] != false || perms["admin"] != false {
		t.Fatalf("Gitea repository %v", repo)
	}
	perms = f.call(t, "GET", "/api/v1/repos/PRJ/code", f.as(t, "alice", "all"), nil).want(t, "get with all", 200).json(t)["permissions"].(map[string]any)
	if perms["admin"] != true || perms["push"] != true {
		t.Fatalf("permissions with scope all: %v", perms)
	}
	notFound := f.call(t, "GET", "/api/v1/repos/PRJ/code", "", nil).want(t, "anonymous on a private repository", 404).json(t)
	if notFound["message"] == nil || notFound["url"] == nil {
		t.Fatalf("not Gitea's error JSON: %v", notFound)
	}
	f.call(t, "GET", "/api/v1/repos/PRJ/code", f.as(t, "alice", "public-only read:repository"), nil).want(t, "public-only", 404)
	if docs := f.call(t, "GET", "/api/v1/repos/OPEN/docs", "", nil).want(t, "anonymous on a public repository", 200).json(t); docs["private"] != false {
		t.Fatalf("public repository %v", docs)
	}

	mine := f.call(t, "GET", "/api/v1/user/repos", read, nil).want(t, "user repos", 200)
	var names []string
	for _, r := range mine.jsonArray(t) {
		names = append(names, r["full_name"].(string))
	}
	if !slices.Equal(names, []string{"PRJ/code", "PRJ/more"}) || mine.header.Get("X-Total-Count") != "2" {
		t.Fatalf("user repos %v, total %q", names, mine.header.Get("X-Total-Count"))
	}
	first := f.call(t, "GET", "/api/v1/orgs/PRJ/repos?limit=1", read, nil).want(t, "org repos", 200)
	if rows := first.jsonArray(t); len(rows) != 1 || rows[0]["name"] != "code" || !strings.Contains(first.header.Get("Link"), `rel="next"`) {
		t.Fatalf("first page %s, Link %q", first.body, first.header.Get("Link"))
	}
	f.call(t, "GET", "/api/v1/orgs/PRJ/repos", f.as(t, "bob", "read:repository"), nil).want(t, "org bob cannot see", 404)
	f.call(t, "GET", "/api/v1/user/repos", "", nil).want(t, "user repos without a token", 401)
}

// jsonArray decodes a body that is a JSON array of objects.
func (r rsResponse) jsonArray(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("status %d, body is not a JSON array: %v: %s", r.status, err, r.body)
	}
	return out
}
