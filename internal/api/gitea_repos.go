package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Organizations (projects), their members, and the branches and commits of
// a repository, as Gitea answers them.

// giteaUserOrgs is GET /api/v1/user/orgs: the projects the user is a
// member of (holds a permission on it or on one of its repositories) that
// the token may see.
func (a *API) giteaUserOrgs(r *http.Request, c *oauth.Caller) (int, any, error) {
	mine := func(yield func(store.Project, error) bool) {
		for pr, err := range a.projectTree(r.Context()) {
			if err != nil {
				yield(store.Project{}, err)
				return
			}
			if !isMember(c.Principal.User, pr.project, pr.repos) || !a.seesProject(c, pr) {
				continue
			}
			if !yield(pr.project, nil) {
				return
			}
		}
	}
	return giteaPagedSeq(r, mapSeq(mine, giteaOrgJSON))
}

// seesProject reports whether the caller may see the project: read it, or
// read one of its repositories.
func (a *API) seesProject(c *oauth.Caller, pr projectRepos) bool {
	if c.Principal.ProjectLevel(pr.project) >= scope.Read {
		return true
	}
	for _, repo := range pr.repos {
		if c.Principal.RepoLevel(repo, pr.project) >= scope.Read {
			return true
		}
	}
	return false
}

// isMember reports whether a user with access u is a member of project p
// (whose repositories are repos): given a permission on it or on one of
// them. Administering everything or a project being public makes no one
// a member.
func isMember(u scope.UserAccess, p store.Project, repos []store.Repo) bool {
	if u.Projects[p.ID] > scope.NoAccess {
		return true
	}
	for _, repo := range repos {
		if u.Repos[repo.ID] > scope.NoAccess {
			return true
		}
	}
	return false
}

// giteaGetOrg is GET /api/v1/orgs/{org}.
func (a *API) giteaGetOrg(r *http.Request, c *oauth.Caller) (int, any, error) {
	p, err := a.project(r.Context(), c, r.PathValue("org"), scope.Read)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, giteaOrgJSON(p), nil
}

// giteaOrgMember is GET /api/v1/orgs/{org}/members/{username}: 204 when
// the user is a member of the project, 404 when not (or when there is no
// such user), for a caller who may see the project.
func (a *API) giteaOrgMember(r *http.Request, c *oauth.Caller) (int, any, error) {
	m, err := a.orgAndUser(r, c)
	if err != nil {
		return 0, nil, err
	}
	if !isMember(m.access, m.project, m.repos) {
		return 0, nil, notFound("User " + m.user.Username + " is not a member of " + m.project.Key + ".")
	}
	return http.StatusNoContent, nil, nil
}

// orgUser is a project that the caller may see (path value org), a user
// named in the path (username), that user's permissions and the
// project's repositories.
type orgUser struct {
	project store.Project
	user    store.User
	access  scope.UserAccess
	repos   []store.Repo
}

// orgAndUser loads an orgUser.
func (a *API) orgAndUser(r *http.Request, c *oauth.Caller) (orgUser, error) {
	ctx := r.Context()
	p, err := a.project(ctx, c, r.PathValue("org"), scope.Read)
	if err != nil {
		return orgUser{}, err
	}
	u, err := a.userByName(ctx, r.PathValue("username"))
	if err != nil {
		return orgUser{}, err
	}
	perms, err := a.store.ListPermissions(ctx, u.ID)
	if err != nil {
		return orgUser{}, err
	}
	repos, err := store.All(ctx, store.Bind(a.store.ListRepos, p.ID))
	if err != nil {
		return orgUser{}, err
	}
	return orgUser{project: p, user: u, access: scope.NewUserAccess(perms), repos: repos}, nil
}

// giteaBranches is GET /repos/{owner}/{repo}/branches: Gitea's paging,
// sorted by name, each with its commit.
func (a *API) giteaBranches(r *http.Request, c *oauth.Caller) (int, any, error) {
	in, err := a.giteaRepoAt(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	branches, err := in.git.Branches(r.Context())
	if err != nil {
		return 0, nil, err
	}
	status, body, err := giteaPagedSeq(r, seqOf(branches))
	if err != nil {
		return 0, nil, err
	}
	ac := a.accounts(c)
	return giteaConvertPage(status, body, func(b gitrepo.Branch) (giteaBranch, error) {
		return a.giteaBranchJSON(r.Context(), ac, c, in, b)
	})
}

// giteaBranch is GET /repos/{owner}/{repo}/branches/{branch}.
func (a *API) giteaBranch(r *http.Request, c *oauth.Caller) (int, any, error) {
	in, err := a.giteaRepoAt(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	name := r.PathValue("branch")
	b, err := in.git.Branch(r.Context(), name)
	if err != nil {
		return 0, nil, gitMissing(err, "Branch "+name)
	}
	out, err := a.giteaBranchJSON(r.Context(), a.accounts(c), c, in, b)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func (a *API) giteaBranchJSON(ctx context.Context, ac *accounts, c *oauth.Caller, in giteaRepoIn, b gitrepo.Branch) (giteaBranch, error) {
	cm, err := in.git.Commit(ctx, b.Commit)
	if err != nil {
		return giteaBranch{}, err
	}
	commit, err := a.giteaPayloadCommit(ctx, ac, in, cm)
	if err != nil {
		return giteaBranch{}, err
	}
	push := c.Principal.RepoLevel(in.repo, in.project) >= scope.Write
	return giteaBranch{Name: b.Name, Commit: commit, StatusCheckContexts: []string{}, UserCanPush: push, UserCanMerge: push}, nil
}

// giteaConvertPage converts the items of a page giteaPagedSeq cut, keeping
// its headers: f may be costly, so it runs for the page's items only.
func giteaConvertPage[T, U any](status int, body any, f func(T) (U, error)) (int, any, error) {
	wh := body.(withHeaders)
	items := wh.body.([]T)
	out := make([]U, 0, len(items))
	for _, it := range items {
		u, err := f(it)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, u)
	}
	return status, withHeaders{header: wh.header, body: out}, nil
}

// giteaCommits is GET /repos/{owner}/{repo}/commits: the history of sha
// (a branch, tag or commit; the default branch when absent), limited to
// path when given, newest first, in Gitea's pages. Gitea's total count
// would need the whole history; the page says whether more follow
// (X-HasMore) and links the next page.
func (a *API) giteaCommits(r *http.Request, c *oauth.Caller) (int, any, error) {
	in, err := a.giteaRepoAt(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	pageNo, limit, err := giteaPage(r)
	if err != nil {
		return 0, nil, err
	}
	if pageNo-1 > (1<<31)/limit {
		return 0, nil, badRequest("page is too large")
	}
	rev := q.Get("sha")
	file, err := cleanTreePath(q.Get("path"))
	if err != nil {
		return 0, nil, err
	}
	commits, more, err := in.git.Log(r.Context(), rev, file, (pageNo-1)*limit, limit)
	switch {
	case errors.Is(err, gitrepo.ErrNotFound) && rev == "":
		return 0, nil, &apiError{status: http.StatusConflict, message: "Git Repository is empty."}
	case err != nil:
		return 0, nil, gitMissing(err, "The ref "+rev)
	}
	ac := a.accounts(c)
	out := make([]giteaCommit, 0, len(commits))
	for _, cm := range commits {
		gc, err := a.giteaCommit(r.Context(), ac, in, cm)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, gc)
	}
	h := http.Header{}
	h.Set("X-Page", strconv.Itoa(pageNo))
	h.Set("X-PerPage", strconv.Itoa(limit))
	h.Set("X-HasMore", strconv.FormatBool(more))
	h.Set("Access-Control-Expose-Headers", "X-Total-Count, X-PerPage, X-Page, X-HasMore, Link")
	if link := giteaNeighbourLinks(r.URL, pageNo, limit, more); link != "" {
		h.Set("Link", link)
	}
	return http.StatusOK, withHeaders{header: h, body: out}, nil
}

// giteaNeighbourLinks is the Link header of a page whose total is not
// known: next when more follow, first and prev after the first page.
func giteaNeighbourLinks(u *url.URL, pageNo, limit int, more bool) string {
	link := func(n int, rel string) string { return giteaPageLink(u, n, limit, rel) }
	var links []string
	if more {
		links = append(links, link(pageNo+1, "next"))
	}
	if pageNo > 1 {
		links = append(links, link(1, "first"), link(pageNo-1, "prev"))
	}
	return strings.Join(links, ", ")
}

// giteaGitCommit is GET /repos/{owner}/{repo}/git/commits/{sha}: one
// commit, named by SHA (full or abbreviated), branch or tag.
func (a *API) giteaGitCommit(r *http.Request, c *oauth.Caller) (int, any, error) {
	in, err := a.giteaRepoAt(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	sha := r.PathValue("sha")
	cm, err := in.git.Commit(r.Context(), sha)
	if err != nil {
		return 0, nil, gitMissing(err, "Commit "+sha)
	}
	out, err := a.giteaCommit(r.Context(), a.accounts(c), in, cm)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}
