package mcp

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of the tools' arguments.
const (
	// maxName bounds a repository or project name, a ref, a path and a
	// pattern, in bytes.
	maxName = 1024
	// maxPath bounds a path in a repository, in bytes.
	maxPath = 4096
	// defaultList and maxList are the default and largest page of
	// list_projects, list_repositories and list_branches.
	defaultList, maxList = 100, 500
	// defaultCommits and maxCommits are those of list_commits.
	defaultCommits, maxCommits = 20, 100
	// defaultMatches and maxMatches are those of search_files.
	defaultMatches, maxMatches = 100, 1000
	// maxFileSize is the largest file read_file returns, in bytes.
	maxFileSize = 1 << 20
)

// argError is an argument a tool refuses: its message is the tool
// error's text.
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

func badArg(format string, args ...any) error { return &argError{fmt.Sprintf(format, args...)} }

// checkText refuses text that no name, ref or path holds: invalid UTF-8,
// NUL and other control characters, or more than max bytes.
func checkText(what, s string, max int) error {
	if len(s) > max {
		return badArg("%s is longer than %d bytes", what, max)
	}
	if !utf8.ValidString(s) {
		return badArg("%s is not valid UTF-8", what)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return badArg("%s holds a control character", what)
	}
	return nil
}

// parseRepoName splits a repository name as both dialects write it,
// PROJECT/slug: one slash, a non-empty project key before it and a
// non-empty slug after it, no white space or control characters.
func parseRepoName(name string) (key, slug string, err error) {
	if err := checkText("repository", name, maxName); err != nil {
		return "", "", err
	}
	key, slug, ok := strings.Cut(name, "/")
	if !ok || key == "" || slug == "" || strings.Contains(slug, "/") || strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		return "", "", badArg("repository %q is not a repository name; write PROJECT/slug, as list_repositories names them", name)
	}
	return key, slug, nil
}

// checkProjectKey checks a project key argument.
func checkProjectKey(key string) error {
	if err := checkText("project", key, maxName); err != nil {
		return err
	}
	if key == "" || strings.Contains(key, "/") || strings.IndexFunc(key, unicode.IsSpace) >= 0 {
		return badArg("project %q is not a project key (list_projects names them)", key)
	}
	return nil
}

// window checks start and limit and applies the default limit.
func window(start, limit, def, max int) (int, int, error) {
	if start < 0 {
		return 0, 0, badArg("start must not be negative")
	}
	if limit == 0 {
		limit = def
	}
	if limit < 1 || limit > max {
		return 0, 0, badArg("limit must be between 1 and %d", max)
	}
	return start, limit, nil
}

// matcher is a compiled search_files pattern: it reports whether a path
// (from the root of the tree, without a leading slash) matches.
type matcher func(p string) bool

// parsePattern compiles a search_files pattern. A pattern without any of
// the glob characters * ? [ is a substring, matched against the whole
// path without regard to letter case. A glob is matched as path.Match
// does (* and ? never match a slash): against the file's name (the last
// element) when the pattern holds no slash, else against the whole path.
// A leading slash anchors nothing and is dropped.
func parsePattern(pattern string) (matcher, error) {
	if err := checkText("pattern", pattern, maxName); err != nil {
		return nil, err
	}
	glob := strings.TrimPrefix(pattern, "/")
	if glob == "" {
		return nil, badArg("pattern is empty")
	}
	if !strings.ContainsAny(glob, "*?[") {
		needle := strings.ToLower(glob)
		return func(p string) bool { return strings.Contains(strings.ToLower(p), needle) }, nil
	}
	if _, err := path.Match(glob, ""); err != nil {
		return nil, badArg("pattern %q is not a valid glob: %v", pattern, err)
	}
	if !strings.Contains(glob, "/") {
		return func(p string) bool {
			ok, _ := path.Match(glob, path.Base(p))
			return ok
		}, nil
	}
	return func(p string) bool {
		ok, _ := path.Match(glob, p)
		return ok
	}, nil
}
