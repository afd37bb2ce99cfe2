package api

import (
	"context"
	"iter"

	"latchkey/internal/oauth"
	"latchkey/internal/store"
	"latchkey/internal/visible"
)

// Listing what a caller may see is package visible's (the MCP endpoint
// lists through it too); these are its functions on the API's store, in
// the shapes the API's handlers use. A response reads a listing only as
// far as its page needs (paginateSeq), except Gitea's, which counts the
// whole list.

// firstBatch is how many rows a listing fetches first (visible.FirstBatch).
const firstBatch = visible.FirstBatch

// readableRepos walks the repositories of p that the caller may read, in
// slug order.
func (a *API) readableRepos(ctx context.Context, c *oauth.Caller, p store.Project) iter.Seq2[store.Repo, error] {
	return visible.ReadableRepos(ctx, a.store, c, p)
}

// readsRepo reports whether the caller may read a repository of p.
func (a *API) readsRepo(ctx context.Context, c *oauth.Caller, p store.Project) (bool, error) {
	return visible.ReadsRepo(ctx, a.store, c, p)
}

// projectRepos is a project with its repositories in slug order.
type projectRepos struct {
	project store.Project
	repos   []store.Repo
}

// projectTree walks every project in key order, each with its
// repositories (visible.ProjectTree).
func (a *API) projectTree(ctx context.Context) iter.Seq2[projectRepos, error] {
	return mapSeq(visible.ProjectTree(ctx, a.store), func(pr visible.ProjectRepos) projectRepos {
		return projectRepos{project: pr.Project, repos: pr.Repos}
	})
}

// visibleProjects walks the projects the caller may see, in key order:
// those it may read, and those with a repository it may read.
func (a *API) visibleProjects(ctx context.Context, c *oauth.Caller) iter.Seq2[store.Project, error] {
	return visible.Projects(ctx, a.store, c)
}

// repoIn is a repository with its project.
type repoIn struct {
	repo    store.Repo
	project store.Project
}

// readableRepoTree walks every repository the caller may read, with its
// project, ordered by project key and slug.
func (a *API) readableRepoTree(ctx context.Context, c *oauth.Caller) iter.Seq2[repoIn, error] {
	return mapSeq(visible.Repos(ctx, a.store, c), func(x visible.RepoIn) repoIn { return repoIn{x.Repo, x.Project} })
}
