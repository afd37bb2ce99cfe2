package mcp

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParseRepoName: any text is either refused with an argument error or
// split into a key and a slug that rejoin to it, each non-empty, without a
// slash, white space or control character.
func FuzzParseRepoName(f *testing.F) {
	for _, s := range []string{"PRJ/code", "PRJ", "/code", "PRJ/", "a/b/c", "P R/x", "PRJ/co\x00de", "\xff/x", "~user/repo", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		key, slug, err := parseRepoName(name)
		if err != nil {
			var a *argError
			if !errors.As(err, &a) || a.msg == "" {
				t.Fatalf("%q: %v is not an argument error", name, err)
			}
			return
		}
		if key+"/"+slug != name || key == "" || slug == "" || strings.Contains(slug, "/") || strings.Contains(key, "/") {
			t.Fatalf("%q split into %q and %q", name, key, slug)
		}
		if !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
			t.Fatalf("%q accepted", name)
		}
	})
}

// FuzzParsePattern: any pattern is refused with an argument error or
// compiles to a matcher that answers for any path without panicking; a
// glob it accepts is one path.Match accepts; a substring pattern matches
// a path that holds it.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"*.go", "cmd/*/main.go", "readme", "[", "[a-", "\\", "a\\", "/x", "/", "", "**", "[]a]", "a\x00"} {
		f.Add(s, "cmd/tool/main.go")
	}
	f.Fuzz(func(t *testing.T, pattern, p string) {
		match, err := parsePattern(pattern)
		if err != nil {
			var a *argError
			if !errors.As(err, &a) {
				t.Fatalf("%q: %v is not an argument error", pattern, err)
			}
			return
		}
		got := match(p)
		glob := strings.TrimPrefix(pattern, "/")
		if strings.ContainsAny(glob, "*?[") {
			if _, err := path.Match(glob, p); err != nil {
				t.Fatalf("%q accepted, but path.Match refuses it: %v", pattern, err)
			}
			return
		}
		if want := strings.Contains(strings.ToLower(p), strings.ToLower(glob)); got != want {
			t.Fatalf("substring %q on %q: %v, want %v", pattern, p, got, want)
		}
		if !match("x/" + glob + "/y") {
			t.Fatalf("substring %q does not match a path holding it", pattern)
		}
	})
}
