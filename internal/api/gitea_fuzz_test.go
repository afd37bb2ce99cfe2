package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanTreePath(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "/": "", "README": "README", "/docs//guide.md/": "docs/guide.md", "a/./b": "a/b",
		"a/../b": "b", "../../etc/passwd": "etc/passwd", "..": "", "-n": "-n", "dir/.hidden": "dir/.hidden",
	} {
		if got, err := cleanTreePath(in); err != nil || got != want {
			t.Errorf("cleanTreePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a\x00b", "\xff"} {
		if _, err := cleanTreePath(bad); err == nil {
			t.Errorf("cleanTreePath(%q) took it", bad)
		}
	}
}

func TestSplitRefPath(t *testing.T) {
	refs := map[string]bool{"main": true, "feature/x": true, "feature/x/y": true, "v1.0": true}
	isRef := func(s string) bool { return refs[s] }
	for _, c := range []struct{ in, ref, rest string }{
		{"main/README", "main", "README"},
		{"main", "main", ""},
		{"feature/x/docs/a.md", "feature/x", "docs/a.md"}, // the shortest prefix wins, as in Gitea
		{"v1.0/a/b", "v1.0", "a/b"},
	} {
		ref, rest, ok := splitRefPath(c.in, isRef)
		if !ok || ref != c.ref || rest != c.rest {
			t.Errorf("splitRefPath(%q) = %q, %q, %v; want %q, %q", c.in, ref, rest, ok, c.ref, c.rest)
		}
	}
	for _, in := range []string{"", "README", "docs/main", "feature"} {
		if ref, rest, ok := splitRefPath(in, isRef); ok {
			t.Errorf("splitRefPath(%q) = %q, %q; want no ref", in, ref, rest)
		}
	}
	deep := strings.Repeat("d/", maxRefPathSegments+5) + "main"
	calls := 0
	if _, _, ok := splitRefPath(deep, func(string) bool { calls++; return false }); ok || calls > maxRefPathSegments {
		t.Errorf("a deep path tried %d prefixes", calls)
	}
}

// FuzzGiteaTreePaths feeds arbitrary request paths to the readers of
// Gitea's contents and raw paths: they never panic; a cleaned path is
// valid UTF-8 without empty, "." or ".." segments and cleans to itself;
// the ref a path starts with is whole segments, the shortest that names a
// ref, and the rest is what follows it.
func FuzzGiteaTreePaths(f *testing.F) {
	for _, seed := range []string{"", "README", "main/README", "/a//b/", "../x", "feature/x/y.txt", "a\x00b", "\xffz", "ref/"} {
		f.Add(seed, "main")
	}
	f.Add("feature/x/docs/a.md", "feature/x")
	f.Fuzz(func(t *testing.T, p, refName string) {
		clean, err := cleanTreePath(p)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
				t.Fatalf("cleanTreePath(%q): %v", p, err)
			}
			return
		}
		if !utf8.ValidString(clean) || strings.HasPrefix(clean, "/") || strings.HasSuffix(clean, "/") {
			t.Fatalf("cleanTreePath(%q) = %q", p, clean)
		}
		if clean != "" && slices.ContainsFunc(strings.Split(clean, "/"), func(s string) bool { return s == "" || s == "." || s == ".." }) {
			t.Fatalf("cleanTreePath(%q) = %q holds an empty, . or .. segment", p, clean)
		}
		if again, _ := cleanTreePath(clean); again != clean {
			t.Fatalf("cleanTreePath is not idempotent on %q: %q", clean, again)
		}
		var tried []string
		ref, rest, ok := splitRefPath(clean, func(s string) bool { tried = append(tried, s); return s == refName })
		if len(tried) > maxRefPathSegments {
			t.Fatalf("%d prefixes tried", len(tried))
		}
		for _, s := range tried {
			if s != clean && !strings.HasPrefix(clean, s+"/") {
				t.Fatalf("tried %q, not whole leading segments of %q", s, clean)
			}
		}
		if !ok {
			return
		}
		if ref != refName || slices.Index(tried, ref) != len(tried)-1 {
			t.Fatalf("split %q at %q (tried %v), ref %q", clean, ref, tried, refName)
		}
		if whole := ref + "/" + rest; rest != "" && whole != clean || rest == "" && ref != clean && ref+"/" != clean {
			t.Fatalf("split %q into %q and %q", clean, ref, rest)
		}
	})
}

// FuzzGiteaBodies feeds arbitrary bodies to the readers of Gitea's status
// and hook inputs: they never panic, a refusal is 400, 415 or 422, and
// the events a hook keeps are Gitea's names, each once, in Gitea's order.
func FuzzGiteaBodies(f *testing.F) {
	for _, seed := range []string{
		`{"state":"success","context":"ci","target_url":"https://ci.example/1"}`, `{"state":"bogus"}`,
		`{"state":"pending","target_url":"javascript:alert(1)"}`, `{"type":"gitea","config":{"url":"https://x/","content_type":"json"},"events":["push","issues","bogus"]}`,
		`{"type":"gitea","config":{"url":"http://u:p@x/","content_type":"form"}}`, `{"branch_filter":"\u0000"}`, `[]`, `{`,
	} {
		f.Add([]byte(seed))
	}
	refused := []int{http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity}
	f.Fuzz(func(t *testing.T, body []byte) {
		var status giteaStatusInput
		if err := decodeJSON(jsonRequest(body), &status); err == nil {
			_, err = status.check()
			checkRefusal(t, err, refused)
		}
		var hook giteaHookInput
		if err := decodeJSON(jsonRequest(body), &hook); err == nil {
			checkRefusal(t, hook.checkCommon(), refused)
			events := canonicalEvents(hook.Events)
			if len(events) == 0 && len(hook.Events) == 0 {
				t.Fatal("no events for none named: want push")
			}
			last := -1
			for _, e := range events {
				i := slices.Index(giteaHookEvents, e)
				if i <= last {
					t.Fatalf("events %v not Gitea's names in Gitea's order, each once", events)
				}
				last = i
			}
		}
	})
}

func jsonRequest(body []byte) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func checkRefusal(t *testing.T, err error, statuses []int) {
	t.Helper()
	if err == nil {
		return
	}
	var ae *apiError
	if !errors.As(err, &ae) || !slices.Contains(statuses, ae.status) {
		t.Fatalf("refusal %v is not one of %v", err, statuses)
	}
}
