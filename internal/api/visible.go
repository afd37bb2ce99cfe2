package api

import (
	"context"
	"iter"
	"slices"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Listing what a caller may see. Package scope decides visibility, in Go,
// so a listing walks the store's lists by cursor (store.Walk) and filters
// as it goes; a response reads it only as far as its page needs
// (paginateSeq), except Gitea's, which counts the whole list.

// firstBatch is how many rows a listing fetches first: a default page
// and the row after it. Later fetches double (store.Walk).
const firstBatch = 32

// readableRepos walks the repositories of p that the caller may read, in
// slug order.
func (a *API) readableRepos(ctx context.Context, c *oauth.Caller, p store.Project) iter.Seq2[store.Repo, error] {
	repos := store.Walk(ctx, store.Bind(a.store.ListRepos, p.ID), firstBatch)
	return filterSeq(repos, func(r store.Repo) bool { return c.Principal.RepoLevel(r, p) >= scope.Read })
}

// readsRepo reports whether the caller may read a repository of p. It
// reads the project's repositories only until it finds one.
func (a *API) readsRepo(ctx context.Context, c *oauth.Caller, p store.Project) (bool, error) {
	first, err := store.Cut(a.readableRepos(ctx, c, p), 0, 0) // an empty window: is anything after it?
	return first.More, err
}

// projectRepos is a project with its repositories in slug order.
type projectRepos struct {
	project store.Project
	repos   []store.Repo
}

// projectTree walks every project in key order, each with its
// repositories. It reads the list of projects and the list of all
// repositories side by side, a batch at a time: two queries per batch,
// never one per project. Both lists are in project key order (byte-wise,
// as Go compares strings), so the repositories of a project come next in
// the second, after those of projects that the first no longer (or not
// yet) holds, which are skipped.
func (a *API) projectTree(ctx context.Context) iter.Seq2[projectRepos, error] {
	return func(yield func(projectRepos, error) bool) {
		next, stop := iter.Pull2(store.Walk(ctx, a.store.ListAllRepos, firstBatch))
		defer stop()
		repo, err, ok := next()
		for p, perr := range store.Walk(ctx, a.store.ListProjects, firstBatch) {
			if perr != nil {
				yield(projectRepos{}, perr)
				return
			}
			pr := projectRepos{project: p}
			for ; ok && err == nil && repo.ProjectKey <= p.Key; repo, err, ok = next() {
				if repo.ProjectID == p.ID {
					pr.repos = append(pr.repos, repo)
				}
			}
			if err != nil {
				yield(projectRepos{}, err)
				return
			}
			if !yield(pr, nil) {
				return
			}
		}
	}
}

// visibleProjects walks the projects the caller may see, in key order:
// those it may read, and those with a repository it may read.
func (a *API) visibleProjects(ctx context.Context, c *oauth.Caller) iter.Seq2[store.Project, error] {
	return func(yield func(store.Project, error) bool) {
		for pr, err := range a.projectTree(ctx) {
			if err != nil {
				yield(store.Project{}, err)
				return
			}
			readsRepo := slices.ContainsFunc(pr.repos, func(r store.Repo) bool {
				return c.Principal.RepoLevel(r, pr.project) >= scope.Read
			})
			if (readsRepo || c.Principal.ProjectLevel(pr.project) >= scope.Read) && !yield(pr.project, nil) {
				return
			}
		}
	}
}

// repoIn is a repository with its project.
type repoIn struct {
	repo    store.Repo
	project store.Project
}

// readableRepoTree walks every repository the caller may read, with its
// project, ordered by project key and slug.
func (a *API) readableRepoTree(ctx context.Context, c *oauth.Caller) iter.Seq2[repoIn, error] {
	return func(yield func(repoIn, error) bool) {
		for pr, err := range a.projectTree(ctx) {
			if err != nil {
				yield(repoIn{}, err)
				return
			}
			for _, r := range pr.repos {
				if c.Principal.RepoLevel(r, pr.project) >= scope.Read && !yield(repoIn{r, pr.project}, nil) {
					return
				}
			}
		}
	}
}
