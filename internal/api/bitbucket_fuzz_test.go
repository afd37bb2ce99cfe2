package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
	"latchkey/internal/webhook"
)

// bbWantClientError fails unless err is nil or a 400.
func bbWantClientError(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if err != nil && (!errors.As(err, &ae) || ae.status != http.StatusBadRequest) {
		t.Fatalf("error %v is not a 400", err)
	}
}

// FuzzBitbucketHookInput feeds arbitrary webhook bodies through the JSON
// reader and the validation of creation and update: they never panic, a
// refusal is a 400, and what is accepted is a hook a delivery can use
// (a URL CheckTarget accepts, known events without repeats, a name), with
// the secret apart, never in the stored configuration.
func FuzzBitbucketHookInput(f *testing.F) {
	for _, seed := range []string{
		`{"name":"drone","url":"http://ci.example.com/hook","events":["repo:refs_changed"],"configuration":{"secret":"s"}}`,
		`{"name":"x","url":"https://h/","events":["pr:opened","pr:opened"],"active":false,"sslVerificationRequired":false}`,
		`{"name":"x","url":"javascript:alert(1)","events":["repo:refs_changed"]}`,
		`{"name":"","url":"http://h","events":[]}`,
		`{"events":["nope"]}`, `{"credentials":{"username":"u"}}`, `{"configuration":{"a":"b","secret":""}}`, `{}`, `null`,
	} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, creating bool) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var in bbHookInput
		if err := decodeJSON(r, &in); err != nil {
			bbWantClientError(t, err)
			return
		}
		old := store.Webhook{ID: 1, Name: "old", URL: "http://old.example.com", Events: []string{"repo:refs_changed"}, Active: true}
		h, secret, set, err := in.apply(old, creating)
		if err != nil {
			bbWantClientError(t, err)
			return
		}
		if webhook.CheckTarget(h.URL) != nil || h.Name == "" || len(h.Events) == 0 {
			t.Fatalf("accepted an unusable hook %+v", h)
		}
		for i, e := range h.Events {
			if !slices.Contains(bbHookEvents, e) || slices.Contains(h.Events[:i], e) {
				t.Fatalf("accepted events %v", h.Events)
			}
		}
		var cfg bbHookConfig
		if err := json.Unmarshal([]byte(h.Config), &cfg); err != nil {
			t.Fatalf("stored configuration %q: %v", h.Config, err)
		}
		if _, ok := cfg.Configuration["secret"]; ok {
			t.Fatalf("secret stored in the configuration: %s", h.Config)
		}
		if !set && secret != "" {
			t.Fatalf("a secret %q without configuration.secret", secret)
		}
		out, err := json.Marshal(bbHook(h))
		if err != nil || !utf8.Valid(out) {
			t.Fatalf("hook JSON: %v", err)
		}
	})
}

// FuzzBitbucketBuildInput feeds arbitrary build status bodies and commit
// IDs to the validation: never a panic, a refusal is a 400, and an
// accepted status has a known state that reads back as posted, a key, a
// web URL and a full commit ID.
func FuzzBitbucketBuildInput(f *testing.F) {
	sha := strings.Repeat("a1", 20)
	for _, seed := range []string{
		`{"state":"SUCCESSFUL","key":"k","url":"https://ci.example.com/1"}`,
		`{"state":"inprogress","key":"k","name":"n","url":"http://h","buildNumber":"7","duration":3,"testResults":{"failed":1}}`,
		`{"state":"GREEN","key":"k","url":"https://h"}`, `{"state":"FAILED","key":"","url":"https://h"}`,
		`{"state":"CANCELLED","key":"k","url":"data:text/html,x"}`, `{}`,
	} {
		f.Add([]byte(seed), sha)
	}
	f.Add([]byte(`{}`), "HEAD")
	f.Add([]byte(`{}`), strings.Repeat("G", 40))
	f.Fuzz(func(t *testing.T, body []byte, id string) {
		if got, err := bbFullSHA(id); err != nil {
			bbWantClientError(t, err)
		} else if len(got) != 40 && len(got) != 64 || strings.Trim(got, "0123456789abcdef") != "" {
			t.Fatalf("bbFullSHA(%q) = %q", id, got)
		}
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var in bbBuildInput
		if err := decodeJSON(r, &in); err != nil {
			bbWantClientError(t, err)
			return
		}
		st, err := in.status(sha)
		if err != nil {
			bbWantClientError(t, err)
			return
		}
		if back := fromStatusState(st.State); !strings.EqualFold(string(back), in.State) {
			t.Fatalf("state %q stored as %q reads back as %q", in.State, st.State, back)
		}
		if st.Context == "" || !bbWebURL(st.TargetURL) {
			t.Fatalf("accepted %+v", st)
		}
	})
}

// FuzzBitbucketRepoListFilter feeds arbitrary repository list filters:
// never a panic, a refusal is a 400, and an accepted filter never keeps
// a repository the caller may not read.
func FuzzBitbucketRepoListFilter(f *testing.F) {
	f.Add("code", "PRJ", "REPO_WRITE", "private")
	f.Add("", "", "repo_admin", "PUBLIC")
	f.Add(" x ", "\x00", "PROJECT_ADMIN", "secret")
	f.Fuzz(func(t *testing.T, name, project, permission, visibility string) {
		q := url.Values{"name": {name}, "projectname": {project}, "permission": {permission}, "visibility": {visibility}}
		r := httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil)
		c := &oauth.Caller{Principal: scope.Principal{UserID: 1, Scopes: scope.Set{scope.RepoRead}}}
		keep, err := repoListFilter(r, c)
		if err != nil {
			bbWantClientError(t, err)
			return
		}
		p := store.Project{ID: 1, Key: "PRJ", Name: "Project"}
		for _, repo := range []store.Repo{{ID: 1, ProjectID: 1, Slug: "code", Name: "Code"}, {ID: 2, ProjectID: 1, Slug: "open", Name: "Open", Public: true}} {
			if keep(repoIn{repo, p}) && c.Principal.RepoLevel(repo, p) < scope.Read {
				t.Fatalf("kept %s, which the caller may not read", repo.Slug)
			}
		}
	})
}

// FuzzBitbucketPath: the path object of any path (a request's {path...}
// or a tree entry's name) never panics and describes the path: its
// components join back to it, the last is its name, the others its
// parent.
func FuzzBitbucketPath(f *testing.F) {
	for _, seed := range []string{"", "README", "docs/guide.md", ".drone.yml", "a/b/c.tar.gz", "dir.d/", "/x", "a//b", ".", "x."} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		out := bbPath(p)
		if out.ToString != p || strings.Join(out.Components, "/") != p && p != "" {
			t.Fatalf("bbPath(%q) = %+v", p, out)
		}
		if p != "" && (out.Name != out.Components[len(out.Components)-1] ||
			out.Parent != strings.Join(out.Components[:len(out.Components)-1], "/")) {
			t.Fatalf("bbPath(%q) = %+v", p, out)
		}
		if out.Extension != "" && !strings.HasSuffix(out.Name, "."+out.Extension) {
			t.Fatalf("bbPath(%q): extension %q of name %q", p, out.Extension, out.Name)
		}
	})
}
