// Package gitrepo reads the bare git repositories that package gitserve
// keeps: branches, the default branch, commits and their history, and
// the files and directories of a commit's tree. It runs the git binary
// (the one git over HTTP already needs) with the configuration of the
// machine and of the user ignored, and never passes a caller's text where
// git could take it for an option: a revision is resolved first and
// refused when it starts with "-", and paths go after "--" or inside a
// "<rev>:<path>" object name.
//
// Every method takes a context; a cancelled context kills git. A missing
// revision, branch or path is ErrNotFound, so that callers can answer 404.
package gitrepo

import (
	"errors"
	"time"
)

// Errors of the package. Callers test with errors.Is.
var (
	// ErrNotFound means the revision, branch, commit or path does not exist
	// (or the repository has no commits yet).
	ErrNotFound = errors.New("gitrepo: not found")
	// ErrTooLarge means a file is larger than the caller's limit.
	ErrTooLarge = errors.New("gitrepo: file too large")
	// ErrBadRevision means a revision or path is not one git may be given
	// (an option, a range, a NUL byte...).
	ErrBadRevision = errors.New("gitrepo: invalid revision or path")
)

// Repo is one bare repository on disk.
type Repo struct {
	git string // the git binary
	dir string // the repository directory
}

// Open returns the repository at dir, read with the git binary git ("" for
// "git" from PATH). It does not touch the disk.
func Open(git, dir string) *Repo { return &Repo{git: git, dir: dir} }

// Branch is a branch and the commit it points at.
type Branch struct {
	Name   string // without refs/heads/
	Commit string // full SHA-1 (or SHA-256) hex
}

// Signature is a commit's author or committer.
type Signature struct {
	Name  string
	Email string
	When  time.Time // with the zone it was recorded in
}

// Commit is one commit.
type Commit struct {
	SHA       string
	Tree      string
	Parents   []string
	Author    Signature
	Committer Signature
	Message   string // the full message, as stored
}

// EntryType is what a tree entry is.
type EntryType string

// Entry types, in Gitea's words.
const (
	TypeFile      EntryType = "file"
	TypeDir       EntryType = "dir"
	TypeSymlink   EntryType = "symlink"
	TypeSubmodule EntryType = "submodule"
)

// Entry is a file, directory, symbolic link or submodule in a commit's tree.
type Entry struct {
	Name string    // last path element
	Path string    // from the root of the tree, without a leading "/"
	Type EntryType //
	Mode string    // git's octal mode, e.g. "100644"
	SHA  string    // the blob, tree or (submodule) commit
	Size int64     // bytes of a blob; 0 for the others
}

// Change is one ref update of a push: Old or New is all zeros when the
// ref was created or deleted.
type Change struct {
	Ref      string // full name, e.g. refs/heads/main
	Old, New string
}
