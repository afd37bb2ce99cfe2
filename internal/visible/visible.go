// Package visible lists what a caller may see: the projects and
// repositories that package scope lets it read. The REST API (both
// dialects) and the MCP endpoint list through it, so that a caller sees
// the same things through each.
//
// Package scope decides visibility, in Go, so a listing walks the store's
// lists by cursor (store.Walk) and filters as it goes; a caller reads an
// iterator only as far as it needs. Errors of the store are yielded (with
// zero items) and end the walk.
package visible

import (
	"context"
	"iter"
	"slices"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// FirstBatch is how many rows a listing fetches first: a default page of
// the REST API and the row after it. Later fetches double (store.Walk).
const FirstBatch = 32

// Filter keeps the items of seq for which keep holds; errors pass.
func Filter[T any](seq iter.Seq2[T, error], keep func(T) bool) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for it, err := range seq {
			if (err != nil || keep(it)) && !yield(it, err) {
				return
			}
		}
	}
}

// ReadableRepos walks the repositories of p that c may read, in slug
// order.
func ReadableRepos(ctx context.Context, st store.Store, c *oauth.Caller, p store.Project) iter.Seq2[store.Repo, error] {
	repos := store.Walk(ctx, store.Bind(st.ListRepos, p.ID), FirstBatch)
	return Filter(repos, func(r store.Repo) bool { return c.Principal.RepoLevel(r, p) >= scope.Read })
}

// ReadsRepo reports whether c may read a repository of p (which lets it
// view p, as in Bitbucket: access.Guard.Project asks this). It reads the
// project's repositories only until it finds one.
func ReadsRepo(ctx context.Context, st store.Store, c *oauth.Caller, p store.Project) (bool, error) {
	first, err := store.Cut(ReadableRepos(ctx, st, c, p), 0, 0) // an empty window: is anything after it?
	return first.More, err
}

// ProjectRepos is a project with all its repositories, in slug order.
type ProjectRepos struct {
	Project store.Project
	Repos   []store.Repo
}

// ProjectTree walks every project in key order, each with all its
// repositories, whoever may see them. It reads the list of projects and
// the list of all repositories side by side, a batch at a time: two
// queries per batch, never one per project. Both lists are in project key
// order (byte-wise, as Go compares strings), so the repositories of a
// project come next in the second, after those of projects that the
// first no longer (or not yet) holds, which are skipped.
func ProjectTree(ctx context.Context, st store.Store) iter.Seq2[ProjectRepos, error] {
	return func(yield func(ProjectRepos, error) bool) {
		next, stop := iter.Pull2(store.Walk(ctx, st.ListAllRepos, FirstBatch))
		defer stop()
		repo, err, ok := next()
		for p, perr := range store.Walk(ctx, st.ListProjects, FirstBatch) {
			if perr != nil {
				yield(ProjectRepos{}, perr)
				return
			}
			pr := ProjectRepos{Project: p}
			for ; ok && err == nil && repo.ProjectKey <= p.Key; repo, err, ok = next() {
				if repo.ProjectID == p.ID {
					pr.Repos = append(pr.Repos, repo)
				}
			}
			if err != nil {
				yield(ProjectRepos{}, err)
				return
			}
			if !yield(pr, nil) {
				return
			}
		}
	}
}

// Projects walks the projects c may see, in key order: those it may
// read, and those with a repository it may read.
func Projects(ctx context.Context, st store.Store, c *oauth.Caller) iter.Seq2[store.Project, error] {
	return func(yield func(store.Project, error) bool) {
		for pr, err := range ProjectTree(ctx, st) {
			if err != nil {
				yield(store.Project{}, err)
				return
			}
			readsRepo := slices.ContainsFunc(pr.Repos, func(r store.Repo) bool {
				return c.Principal.RepoLevel(r, pr.Project) >= scope.Read
			})
			if (readsRepo || c.Principal.ProjectLevel(pr.Project) >= scope.Read) && !yield(pr.Project, nil) {
				return
			}
		}
	}
}

// RepoIn is a repository with its project.
type RepoIn struct {
	Repo    store.Repo
	Project store.Project
}

// Repos walks every repository c may read, with its project, ordered by
// project key and slug.
func Repos(ctx context.Context, st store.Store, c *oauth.Caller) iter.Seq2[RepoIn, error] {
	return func(yield func(RepoIn, error) bool) {
		for pr, err := range ProjectTree(ctx, st) {
			if err != nil {
				yield(RepoIn{}, err)
				return
			}
			for _, r := range pr.Repos {
				if c.Principal.RepoLevel(r, pr.Project) >= scope.Read && !yield(RepoIn{r, pr.Project}, nil) {
					return
				}
			}
		}
	}
}
