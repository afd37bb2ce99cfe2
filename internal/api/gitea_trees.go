package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// The rest of what Woodpecker's Gitea forge calls: git trees (its
// multi-file pipelines), a repository by ID, a user's permissions in an
// organization, and pull requests (Latchkey has none).

const (
	// giteaTreePage is the default and largest page of a tree listing
	// (Gitea's DefaultGitTreesPerPage).
	giteaTreePage = 1000
	// maxTreeEntries and maxTreeDirs bound what one recursive listing
	// reads: entries kept, directories listed (one git process each).
	// Beyond them the listing is truncated.
	maxTreeEntries = 20000
	maxTreeDirs    = 2000
)

// giteaGitEntry is Gitea's GitEntry.
type giteaGitEntry struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
	Type string `json:"type"`
	Size int64  `json:"size"`
	SHA  string `json:"sha"`
	URL  string `json:"url"`
}

// giteaGitTree is Gitea's GitTreeResponse.
type giteaGitTree struct {
	SHA        string          `json:"sha"`
	URL        string          `json:"url"`
	Entries    []giteaGitEntry `json:"tree"`
	Truncated  bool            `json:"truncated"`
	Page       int             `json:"page"`
	TotalCount int             `json:"total_count"`
}

// treeEntries lists the tree of commit, every level when recursive, in
// the order of git ls-tree -r -t (a directory, then its contents, then
// its next sibling). full is false when the bounds cut the listing short.
func treeEntries(ctx context.Context, g *gitrepo.Repo, commit string, recursive bool) ([]gitrepo.Entry, bool, error) {
	w := treeWalk{ctx: ctx, g: g, commit: commit, recursive: recursive, full: true}
	err := w.dir("")
	return w.entries, w.full, err
}

// treeWalk is one listing of treeEntries.
type treeWalk struct {
	ctx       context.Context
	g         *gitrepo.Repo
	commit    string
	recursive bool
	entries   []gitrepo.Entry
	dirs      int
	full      bool
}

func (w *treeWalk) dir(dir string) error {
	if w.dirs == maxTreeDirs || len(w.entries) >= maxTreeEntries {
		w.full = false
		return nil
	}
	w.dirs++
	list, err := w.g.ReadDir(w.ctx, w.commit, dir)
	if err != nil {
		return err
	}
	for _, e := range list {
		w.entries = append(w.entries, e)
		if w.recursive && e.Type == gitrepo.TypeDir {
			if err := w.dir(e.Path); err != nil {
				return err
			}
		}
	}
	return nil
}

// giteaTree is GET /repos/{owner}/{repo}/git/trees/{sha}?recursive=&page=&per_page=:
// the tree of a commit (a SHA, branch or tag), one page of its entries.
func (a *API) giteaTree(r *http.Request, c *oauth.Caller) (int, any, error) {
	ctx := r.Context()
	in, err := a.giteaRepoAt(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	rev := r.PathValue("sha")
	cm, err := in.git.Commit(ctx, rev)
	if err != nil {
		return 0, nil, gitMissing(err, "The tree "+rev)
	}
	pageNo, err := queryInt(r, "page", 1)
	if err != nil {
		return 0, nil, err
	}
	perPage, err := queryInt(r, "per_page", giteaTreePage)
	if err != nil {
		return 0, nil, err
	}
	pageNo, perPage = max(pageNo, 1), min(max(perPage, 1), giteaTreePage)
	recursive, _ := strconv.ParseBool(r.URL.Query().Get("recursive"))
	entries, full, err := treeEntries(ctx, in.git, cm.SHA, recursive)
	if err != nil {
		return 0, nil, gitMissing(err, "The tree "+rev)
	}
	api := a.giteaAPIURL(in)
	out := giteaGitTree{SHA: cm.Tree, URL: api + "/git/trees/" + cm.Tree, Page: pageNo, TotalCount: len(entries),
		Entries: []giteaGitEntry{}, Truncated: !full}
	start := min((pageNo-1)*perPage, len(entries))
	if pageNo-1 > len(entries)/perPage {
		start = len(entries)
	}
	end := min(start+perPage, len(entries))
	out.Truncated = out.Truncated || end < len(entries)
	for _, e := range entries[start:end] {
		ge := giteaGitEntry{Path: e.Path, Mode: e.Mode, SHA: e.SHA}
		switch e.Type {
		case gitrepo.TypeDir:
			ge.Type, ge.URL = "tree", api+"/git/trees/"+e.SHA
		case gitrepo.TypeSubmodule:
			ge.Type = "commit"
		default:
			ge.Type, ge.Size, ge.URL = "blob", e.Size, api+"/git/blobs/"+e.SHA
		}
		out.Entries = append(out.Entries, ge)
	}
	return http.StatusOK, out, nil
}

// giteaRepoByID is GET /api/v1/repositories/{id}. Repositories are found
// by project key and slug, so it walks the list of every repository.
func (a *API) giteaRepoByID(r *http.Request, c *oauth.Caller) (int, any, error) {
	ctx := r.Context()
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, nil, notFound("Repository " + raw + " does not exist.")
	}
	var found *store.Repo
	for repo, err := range store.Walk(ctx, a.store.ListAllRepos, firstBatch) {
		if err != nil {
			return 0, nil, err
		}
		if repo.ID == id {
			found = &repo
			break
		}
	}
	if found == nil {
		return 0, nil, notFound("Repository " + raw + " does not exist.")
	}
	repo, p, err := a.guard.Repo(ctx, c, found.ProjectKey, found.Slug, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.giteaRepoFor(c, repo, p), nil
}

// giteaOrgPermissions is Gitea's OrganizationPermissions.
type giteaOrgPermissions struct {
	IsOwner             bool `json:"is_owner"`
	IsAdmin             bool `json:"is_admin"`
	CanWrite            bool `json:"can_write"`
	CanRead             bool `json:"can_read"`
	CanCreateRepository bool `json:"can_create_repository"`
}

// giteaUserOrgPermissions is GET /api/v1/users/{username}/orgs/{org}/permissions:
// what the user may do with the project by their permissions (an owner
// and administrator is a project administrator; reading one of its
// repositories is reading it), for a caller who may see the project.
func (a *API) giteaUserOrgPermissions(r *http.Request, c *oauth.Caller) (int, any, error) {
	m, err := a.orgAndUser(r, c)
	if err != nil {
		return 0, nil, err
	}
	level := m.access.Project(m.project)
	reads := level >= scope.Read ||
		slices.ContainsFunc(m.repos, func(repo store.Repo) bool { return m.access.Repo(repo, m.project) >= scope.Read })
	admin := level >= scope.Admin
	return http.StatusOK, giteaOrgPermissions{IsOwner: admin, IsAdmin: admin, CanWrite: level >= scope.Write,
		CanRead: reads, CanCreateRepository: admin}, nil
}

// giteaPulls is GET /repos/{owner}/{repo}/pulls: Latchkey has no pull
// requests, so every repository's list is empty.
func (a *API) giteaPulls(r *http.Request, c *oauth.Caller) (int, any, error) {
	if _, _, err := a.guard.Repo(r.Context(), c, r.PathValue("owner"), r.PathValue("repo"), scope.Read); err != nil {
		return 0, nil, err
	}
	return giteaPagedSeq(r, seqOf([]struct{}{}))
}
