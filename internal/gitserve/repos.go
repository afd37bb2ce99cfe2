package gitserve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"latchkey/internal/store"
)

// DefaultBranch is the branch HEAD of a new repository points at.
const DefaultBranch = "main"

// Repos keeps the bare git repositories of Latchkey's repository rows in
// one directory.
type Repos struct {
	dir string
}

// NewRepos returns the repositories kept in dir (created on first use).
// A relative dir is made absolute now: git http-backend runs in another
// working directory and must find the same place.
func NewRepos(dir string) *Repos {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return &Repos{dir: dir}
}

// Dir is the directory that holds every repository (GIT_PROJECT_ROOT).
func (d *Repos) Dir() string { return d.dir }

// Name is the repository's directory name relative to Dir.
func Name(r store.Repo) string { return strconv.FormatInt(r.ID, 10) + ".git" }

// Path is where repository r lives on disk.
func (d *Repos) Path(r store.Repo) string { return filepath.Join(d.dir, Name(r)) }

// newRepoFiles is what `git init --bare` writes that git needs: HEAD on
// the default branch and a configuration for a bare repository that
// accepts pushes over HTTP (this package authorizes them before git sees
// the request).
var newRepoFiles = map[string]string{
	"HEAD": "ref: refs/heads/" + DefaultBranch + "\n",
	"config": "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n" +
		"[http]\n\treceivepack = true\n",
	"description": "Unnamed repository; edit this file 'description' to name the repository.\n",
}

// newRepoDirs are the empty directories of a new bare repository.
var newRepoDirs = []string{"objects/info", "objects/pack", "refs/heads", "refs/tags", "info"}

// Create writes an empty bare repository for r, as `git init --bare`
// would, without needing the git binary. It is written beside its final
// place and renamed into it, so a crash leaves no half-made repository.
// Whatever lies at r's path is replaced: rows own their IDs, so it can only
// be the leftover of a deleted repository whose removal failed.
func (d *Repos) Create(r store.Repo) error {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return fmt.Errorf("gitserve: create repository directory: %w", err)
	}
	tmp, err := os.MkdirTemp(d.dir, "."+Name(r)+".new-")
	if err != nil {
		return fmt.Errorf("gitserve: create repository: %w", err)
	}
	if err := writeBare(tmp); err != nil {
		return errors.Join(fmt.Errorf("gitserve: create repository: %w", err), os.RemoveAll(tmp))
	}
	if err := os.RemoveAll(d.Path(r)); err != nil {
		return errors.Join(fmt.Errorf("gitserve: remove leftover repository: %w", err), os.RemoveAll(tmp))
	}
	if err := os.Rename(tmp, d.Path(r)); err != nil {
		return errors.Join(fmt.Errorf("gitserve: create repository: %w", err), os.RemoveAll(tmp))
	}
	return nil
}

func writeBare(dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	for _, sub := range newRepoDirs {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	for name, content := range newRepoFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes r's repository from disk. A repository that is not there
// is not an error.
func (d *Repos) Remove(r store.Repo) error {
	if err := os.RemoveAll(d.Path(r)); err != nil {
		return fmt.Errorf("gitserve: remove repository: %w", err)
	}
	return nil
}
