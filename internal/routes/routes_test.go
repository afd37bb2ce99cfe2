package routes

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestParseSplitsMethodAndPath(t *testing.T) {
	for pattern, want := range map[string]Route{
		"GET /login":                 {Method: "GET", Path: "/login"},
		"POST   /admin/users/{user}": {Method: "POST", Path: "/admin/users/{user}"},
		"/login/oauth/access_token":  {Path: "/login/oauth/access_token"},
		"GET example.com/{$}":        {Method: "GET", Path: "example.com/{$}"},
	} {
		got := Parse(pattern)
		if got != want {
			t.Errorf("Parse(%q) = %+v, want %+v", pattern, got, want)
		}
		if reparsed := Parse(got.String()); reparsed != got {
			t.Errorf("Parse(%q).String() = %q does not parse back", pattern, got.String())
		}
	}
}

func TestFillTriesEveryValueOfEveryWildcard(t *testing.T) {
	values := map[string][]string{"key": {"PRIV", "nope"}, "slug": {"repo"}, "rest": {"a/b"}}
	value := func(name string) []string { return values[name] }
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/", []string{"/"}},
		{"/{$}", []string{"/"}},
		{"/admin/{$}", []string{"/admin/"}},
		{"/static/", []string{"/static/"}},
		{"/projects/{key}/repos/{slug}", []string{"/projects/PRIV/repos/repo", "/projects/nope/repos/repo"}},
		{"/files/{rest...}", []string{"/files/a/b"}},
		{"/missing/{other}", []string{}},
		{"example.com/login", []string{"/login"}},
	} {
		got := Route{Method: "GET", Path: c.path}.Fill(value)
		if !slices.Equal(got, c.want) {
			t.Errorf("Fill(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}

func TestTableRecordsWhatItServes(t *testing.T) {
	table := NewTable()
	table.HandleFunc("GET /a/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(r.PathValue("id"))) })
	table.Handle("/b", http.NotFoundHandler())
	want := []Route{{Method: "GET", Path: "/a/{id}"}, {Path: "/b"}}
	if got := table.Routes(); !slices.Equal(got, want) {
		t.Fatalf("Routes() = %+v, want %+v", got, want)
	}
	table.Routes()[0].Path = "/changed"
	if table.Routes()[0].Path != "/a/{id}" {
		t.Fatal("Routes() hands out the table's own slice")
	}
	rec := httptest.NewRecorder()
	table.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/a/42", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "42" {
		t.Fatalf("GET /a/42 = %d %q", rec.Code, rec.Body.String())
	}
	if _, pattern := table.Handler(httptest.NewRequest(http.MethodPost, "/a/42", nil)); pattern != "" {
		t.Fatalf("POST /a/42 matched %q, want no pattern (405)", pattern)
	}
}

func TestOverlapFindsAPathBothServe(t *testing.T) {
	api := NewTable()
	api.Handle("GET /rest/api/{key}", http.NotFoundHandler())
	api.Handle("/login/oauth/access_token", http.NotFoundHandler())
	for _, c := range []struct {
		page    Route
		overlap string // the API pattern that serves it too, or ""
	}{
		{Route{Method: "GET", Path: "/login"}, ""},
		{Route{Method: "GET", Path: "/rest/api/{id}"}, "GET /rest/api/{key}"},
		{Route{Method: "POST", Path: "/rest/api/PRIV"}, "GET /rest/api/{key}"}, // another method, the same path
		{Route{Method: "POST", Path: "/login/oauth/access_token"}, "/login/oauth/access_token"},
		{Route{Method: "GET", Path: "/rest/api/{key}/more"}, ""},
	} {
		list := []Route{{Method: "GET", Path: "/elsewhere"}, c.page}
		r, pattern, ok := Overlap(list, api)
		if ok != (c.overlap != "") || pattern != c.overlap || (ok && r != c.page) {
			t.Errorf("Overlap(%v) = %v, %q, %v; want the API's %q", c.page, r, pattern, ok, c.overlap)
		}
	}
}
