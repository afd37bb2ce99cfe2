package gitrepo

import "context"

// Branches lists the branches, sorted by name. An empty repository has none.
func (r *Repo) Branches(ctx context.Context) ([]Branch, error) { return nil, errStub }

// Branch reads one branch by name (without refs/heads/).
func (r *Repo) Branch(ctx context.Context, name string) (Branch, error) { return Branch{}, errStub }

// DefaultBranch is the branch HEAD names, even before it has a commit.
func (r *Repo) DefaultBranch(ctx context.Context) (string, error) { return "", errStub }

// Resolve turns a revision (a full or abbreviated commit SHA, a branch or
// a tag name, or a full ref name) into the full SHA of the commit it
// names. "" means HEAD.
func (r *Repo) Resolve(ctx context.Context, rev string) (string, error) { return "", errStub }

// Commit reads one commit by revision.
func (r *Repo) Commit(ctx context.Context, rev string) (Commit, error) { return Commit{}, errStub }

// Log lists the history of rev, newest first, limited to commits that
// touch path when path is not "", skipping skip commits and returning at
// most limit; more says whether further commits follow.
func (r *Repo) Log(ctx context.Context, rev, path string, skip, limit int) (commits []Commit, more bool, err error) {
	return nil, false, errStub
}

// Range lists the commits reachable from to and not from from (from may
// be all zeros or "": every commit of to), newest first, at most limit.
func (r *Repo) Range(ctx context.Context, from, to string, limit int) ([]Commit, error) {
	return nil, errStub
}

// Stat describes the entry at path in the tree of rev ("" is the root
// directory).
func (r *Repo) Stat(ctx context.Context, rev, path string) (Entry, error) { return Entry{}, errStub }

// ReadDir lists the entries of the directory at path in the tree of rev,
// sorted by name.
func (r *Repo) ReadDir(ctx context.Context, rev, path string) ([]Entry, error) { return nil, errStub }

// ReadFile reads the blob at path in the tree of rev (a symbolic link
// reads as its target), refusing files larger than max bytes with
// ErrTooLarge.
func (r *Repo) ReadFile(ctx context.Context, rev, path string, max int64) ([]byte, Entry, error) {
	return nil, Entry{}, errStub
}

// HasCommit reports whether the repository holds commit sha (a full SHA).
func (r *Repo) HasCommit(ctx context.Context, sha string) (bool, error) { return false, errStub }

var errStub = ErrNotFound
