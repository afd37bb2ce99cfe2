package e2e

import (
	"fmt"
	"slices"
	"testing"

	"latchkey/internal/admin"
)

// TestListingsPageWhatTheCallerMaySee walks the listings a page at a time.
// The store pages by cursor and the API filters what the caller may see as
// it reads, so every page holds only visible items, in order, with
// Bitbucket's start, nextPageStart and isLastPage, and Gitea's total.
func TestListingsPageWhatTheCallerMaySee(t *testing.T) {
	f := newAPIFixture(t)
	for _, key := range []string{"AAA", "BBB", "ZZZ"} {
		f.env.Project(key, false)
	}
	f.env.Repo("BBB", "one", false)
	f.env.Repo("BBB", "two", false)
	f.env.Grant("alice", admin.Target{Repo: "BBB/two"}, "REPO_READ")
	alice := f.as(t, "alice", "REPO_READ")

	walk := func(path, key string, limit int) []string {
		var got []string
		for start := 0; ; {
			r := f.call(t, "GET", fmt.Sprintf("%s?limit=%d&start=%d", path, limit, start), alice, nil).want(t, path, 200)
			body, values := r.json(t), r.values(t)
			got = append(got, field(values, key)...)
			if body["start"] != float64(start) || body["size"] != float64(len(values)) {
				t.Fatalf("%s from %d: %s", path, start, r.body)
			}
			if body["isLastPage"] == true {
				if _, ok := body["nextPageStart"]; ok {
					t.Fatalf("%s: the last page names a next one: %s", path, r.body)
				}
				return got
			}
			if len(values) != limit || body["nextPageStart"] != float64(start+limit) {
				t.Fatalf("%s from %d: %s", path, start, r.body)
			}
			start += limit
		}
	}
	for _, limit := range []int{1, 2, 3} {
		if got := walk("/rest/api/latest/projects", "key", limit); !slices.Equal(got, []string{"BBB", "OPEN", "PRJ"}) {
			t.Errorf("projects in pages of %d: %v, want BBB (through a repository), OPEN, PRJ", limit, got)
		}
		if got := walk("/rest/api/latest/repos", "slug", limit); !slices.Equal(got, []string{"two", "docs", "code"}) {
			t.Errorf("repositories in pages of %d: %v", limit, got)
		}
	}
	past := f.call(t, "GET", "/rest/api/latest/projects?start=9", alice, nil).want(t, "past the end", 200)
	if body := past.json(t); len(past.values(t)) != 0 || body["isLastPage"] != true || body["start"] != float64(3) {
		t.Errorf("a start past the end: %s", past.body)
	}
	users := f.call(t, "GET", "/rest/api/latest/users?filter=r&limit=1&start=1", alice, nil).want(t, "users", 200)
	if got := field(users.values(t), "name"); !slices.Equal(got, []string{"root"}) || users.json(t)["isLastPage"] != true {
		t.Errorf("second filtered user: %s", users.body)
	}

	org := f.call(t, "GET", "/api/v1/orgs/BBB/repos?limit=1", f.as(t, "alice", "read:repository"), nil).want(t, "org repos", 200)
	if rows := org.jsonArray(t); len(rows) != 1 || rows[0]["name"] != "two" || org.header.Get("X-Total-Count") != "1" || org.header.Get("Link") != "" {
		t.Errorf("BBB's repositories for alice: %s, total %q, Link %q", org.body, org.header.Get("X-Total-Count"), org.header.Get("Link"))
	}
}
