package api

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// bbBranchJSON is Bitbucket's branch.
type bbBranchJSON struct {
	ID              string `json:"id"`
	DisplayID       string `json:"displayId"`
	Type            string `json:"type"`
	LatestCommit    string `json:"latestCommit"`
	LatestChangeset string `json:"latestChangeset"`
	IsDefault       bool   `json:"isDefault"`
	// Metadata is filled when a list asks for details (details=true).
	Metadata map[string]any `json:"metadata,omitempty"`
}

func bbBranch(b gitrepo.Branch, defaultBranch string) bbBranchJSON {
	return bbBranchJSON{
		ID: "refs/heads/" + b.Name, DisplayID: b.Name, Type: "BRANCH",
		LatestCommit: b.Commit, LatestChangeset: b.Commit, IsDefault: b.Name == defaultBranch,
	}
}

// Orders of a branch list (the orderBy parameter).
const (
	bbOrderAlphabetical = "ALPHABETICAL"
	bbOrderModification = "MODIFICATION"
)

// bbBranches is GET …/repos/{slug}/branches: the branches, paged, with
// Bitbucket's parameters filterText (a case-insensitive part of the name;
// a branch named exactly so comes first, so that a client looking one up
// by name finds it on the first page), orderBy (ALPHABETICAL, the
// default, or MODIFICATION: newest commit first) and details (true adds
// each branch's latest commit as metadata, as Bitbucket's branch plugin
// does).
func (a *API) bbBranches(r *http.Request, c *oauth.Caller) (int, any, error) {
	_, _, g, err := a.bbRepoGit(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	filter, err := single(r, "filterText")
	if err != nil {
		return 0, nil, err
	}
	order, err := single(r, "orderBy")
	if err != nil {
		return 0, nil, err
	}
	order = cmp.Or(strings.ToUpper(order), bbOrderAlphabetical)
	if order != bbOrderAlphabetical && order != bbOrderModification {
		return 0, nil, badRequest("orderBy must be ALPHABETICAL or MODIFICATION.")
	}
	ctx := r.Context()
	branches, err := g.Branches(ctx)
	if err != nil {
		return 0, nil, bbGitProblem(err, "The repository has no branches.")
	}
	def, err := g.DefaultBranch(ctx)
	if err != nil && !errors.Is(err, gitrepo.ErrNotFound) {
		return 0, nil, err
	}
	branches = bbFilterBranches(branches, filter)
	if order == bbOrderModification {
		if branches, err = bbByModification(ctx, g, branches); err != nil {
			return 0, nil, err
		}
	}
	if filter != "" {
		// An exact match first, the others in their order.
		slices.SortStableFunc(branches, func(x, y gitrepo.Branch) int {
			return bbBoolOrder(x.Name == filter, y.Name == filter)
		})
	}
	details, err := single(r, "details")
	if err != nil {
		return 0, nil, err
	}
	pg, err := paginateSeq(r, mapSeq(seqOf(branches), func(b gitrepo.Branch) bbBranchJSON { return bbBranch(b, def) }))
	if err != nil || !strings.EqualFold(details, "true") {
		return http.StatusOK, pg, err
	}
	// details=true: each branch of the page with its latest commit, in
	// the metadata entry that Bitbucket's branch plugin fills.
	pp := a.newBBPeople(ctx)
	out, err := convertPage(pg, func(b bbBranchJSON) (bbBranchJSON, error) {
		cm, err := g.Commit(ctx, b.LatestCommit)
		if err != nil {
			return b, err
		}
		v, err := pp.commit(cm)
		b.Metadata = map[string]any{bbLatestCommitMetadata: v}
		return b, err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// bbLatestCommitMetadata is the metadata key under which Bitbucket shows a
// branch's latest commit when a list asks for details.
const bbLatestCommitMetadata = "com.atlassian.bitbucket.server.bitbucket-branch:latest-commit-metadata"

// bbFilterBranches keeps the branches whose name holds filter, compared
// case-insensitively ("" keeps them all).
func bbFilterBranches(branches []gitrepo.Branch, filter string) []gitrepo.Branch {
	if filter == "" {
		return branches
	}
	f := strings.ToLower(filter)
	return slices.DeleteFunc(branches, func(b gitrepo.Branch) bool { return !strings.Contains(strings.ToLower(b.Name), f) })
}

// bbByModification orders branches by the committer date of their commits,
// newest first, then by name. It reads each branch's commit.
func bbByModification(ctx context.Context, g *gitrepo.Repo, branches []gitrepo.Branch) ([]gitrepo.Branch, error) {
	when := make(map[string]int64, len(branches))
	for _, b := range branches {
		cm, err := g.Commit(ctx, b.Commit)
		if err != nil {
			return nil, err
		}
		when[b.Name] = cm.Committer.When.UnixNano()
	}
	slices.SortStableFunc(branches, func(x, y gitrepo.Branch) int {
		return cmp.Or(cmp.Compare(when[y.Name], when[x.Name]), strings.Compare(x.Name, y.Name))
	})
	return branches, nil
}

// bbBoolOrder sorts true before false.
func bbBoolOrder(x, y bool) int {
	switch {
	case x == y:
		return 0
	case x:
		return -1
	}
	return 1
}

// bbDefaultBranch is GET …/repos/{slug}/branches/default: the branch
// HEAD names. A repository whose default branch has no commit yet (an
// empty one) has none: 404, as Bitbucket answers.
func (a *API) bbDefaultBranch(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, p, g, err := a.bbRepoGit(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	noDefault := "Repository " + p.Key + "/" + repo.Slug + " does not have a default branch."
	name, err := g.DefaultBranch(r.Context())
	if err != nil {
		return 0, nil, bbGitProblem(err, noDefault)
	}
	b, err := g.Branch(r.Context(), name)
	if err != nil {
		return 0, nil, bbGitProblem(err, noDefault)
	}
	return http.StatusOK, bbBranch(b, name), nil
}

// bbPersonJSON is the author or committer of a commit: Bitbucket's user
// when a Latchkey user has the address (verified), else the name and
// address git recorded.
type bbPersonJSON struct {
	Name         string `json:"name"`
	EmailAddress string `json:"emailAddress"`
	Active       *bool  `json:"active,omitempty"`
	DisplayName  string `json:"displayName,omitempty"`
	ID           int64  `json:"id,omitempty"`
	Slug         string `json:"slug,omitempty"`
	Type         string `json:"type,omitempty"`
	Links        links  `json:"links,omitempty"`
}

// bbParentJSON is a parent of a commit.
type bbParentJSON struct {
	ID        string `json:"id"`
	DisplayID string `json:"displayId"`
}

// bbCommitJSON is Bitbucket's commit.
type bbCommitJSON struct {
	ID                 string         `json:"id"`
	DisplayID          string         `json:"displayId"`
	Author             bbPersonJSON   `json:"author"`
	AuthorTimestamp    int64          `json:"authorTimestamp"`
	Committer          bbPersonJSON   `json:"committer"`
	CommitterTimestamp int64          `json:"committerTimestamp"`
	Message            string         `json:"message"`
	Parents            []bbParentJSON `json:"parents"`
}

// bbDisplayID is Bitbucket's short commit ID: the first 11 characters.
func bbDisplayID(sha string) string { return sha[:min(len(sha), 11)] }

// bbPeople maps the addresses of commits to Latchkey users, one query per
// address per request.
type bbPeople struct {
	a     *API
	ctx   context.Context
	known map[string]*store.User
}

func (a *API) newBBPeople(ctx context.Context) *bbPeople {
	return &bbPeople{a: a, ctx: ctx, known: map[string]*store.User{}}
}

// person is sig as Bitbucket shows it.
func (pp *bbPeople) person(sig gitrepo.Signature) (bbPersonJSON, error) {
	key := strings.ToLower(sig.Email)
	u, seen := pp.known[key]
	if !seen {
		found, err := pp.a.store.GetUserByEmail(pp.ctx, sig.Email)
		switch {
		case err == nil && found.EmailVerified:
			u = &found
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return bbPersonJSON{}, err
		}
		pp.known[key] = u
	}
	if u == nil {
		return bbPersonJSON{Name: sig.Name, EmailAddress: sig.Email}, nil
	}
	uj := pp.a.userJSON(*u)
	uj.EmailAddress = sig.Email // what the commit says, which the reader may see anyway
	return bbPersonJSON{
		Name: uj.Name, EmailAddress: uj.EmailAddress, Active: &uj.Active, DisplayName: uj.DisplayName,
		ID: uj.ID, Slug: uj.Slug, Type: uj.Type, Links: uj.Links,
	}, nil
}

// commit is cm as Bitbucket shows it.
func (pp *bbPeople) commit(cm gitrepo.Commit) (bbCommitJSON, error) {
	author, err := pp.person(cm.Author)
	if err != nil {
		return bbCommitJSON{}, err
	}
	committer, err := pp.person(cm.Committer)
	if err != nil {
		return bbCommitJSON{}, err
	}
	parents := make([]bbParentJSON, 0, len(cm.Parents))
	for _, p := range cm.Parents {
		parents = append(parents, bbParentJSON{ID: p, DisplayID: bbDisplayID(p)})
	}
	return bbCommitJSON{
		ID: cm.SHA, DisplayID: bbDisplayID(cm.SHA), Author: author, AuthorTimestamp: cm.Author.When.UnixMilli(),
		Committer: committer, CommitterTimestamp: cm.Committer.When.UnixMilli(), Parents: parents,
		// As Bitbucket shows it: without the newline git ends it with.
		Message: strings.TrimRight(cm.Message, "\n"),
	}, nil
}

// bbCommit is GET …/repos/{slug}/commits/{id}: one commit, by ID or by
// any revision git resolves (a branch, a tag).
func (a *API) bbCommit(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, _, g, err := a.bbRepoGit(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	cm, err := g.Commit(r.Context(), id)
	if err != nil {
		return 0, nil, bbGitProblem(err, bbCommitMissing(id, repo))
	}
	out, err := a.newBBPeople(r.Context()).commit(cm)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func bbCommitMissing(id string, repo store.Repo) string {
	return "Commit '" + id + "' does not exist in repository '" + repo.Slug + "'."
}

// bbMaxCommitWindow bounds start+limit of a commit list: git walks the
// history up to the page's end.
const bbMaxCommitWindow = 100_000

// bbCommits is GET …/repos/{slug}/commits: the history of until (a
// revision; the default branch when absent), newest first, paged with
// start and limit. path keeps the commits that touch it; since leaves out
// the commits it reaches (since and path together are refused).
func (a *API) bbCommits(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, _, g, err := a.bbRepoGit(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	var q struct{ until, since, path string }
	for name, to := range map[string]*string{"until": &q.until, "since": &q.since, "path": &q.path} {
		if *to, err = single(r, name); err != nil {
			return 0, nil, err
		}
	}
	start, err := queryInt(r, "start", 0)
	if err != nil {
		return 0, nil, err
	}
	limit, err := queryInt(r, "limit", 25)
	if err != nil {
		return 0, nil, err
	}
	limit = min(max(limit, 1), 1000)
	if start > bbMaxCommitWindow {
		return 0, nil, badRequest("start may be at most 100000 for a commit list.")
	}
	ctx := r.Context()
	until, err := g.Resolve(ctx, q.until)
	if q.until == "" && errors.Is(err, gitrepo.ErrNotFound) {
		// An empty repository: no history yet.
		return http.StatusOK, page[bbCommitJSON]{Limit: limit, Start: start, IsLastPage: true, Values: []bbCommitJSON{}}, nil
	}
	if err != nil {
		return 0, nil, bbGitProblem(err, bbCommitMissing(cmp.Or(q.until, "HEAD"), repo))
	}
	var commits []gitrepo.Commit
	more := false
	switch {
	case q.since != "" && q.path != "":
		return 0, nil, badRequest("since and path cannot be combined.")
	case q.since != "":
		since, err := g.Resolve(ctx, q.since)
		if err != nil {
			return 0, nil, bbGitProblem(err, bbCommitMissing(q.since, repo))
		}
		all, err := g.Range(ctx, since, until, start+limit+1)
		if err != nil {
			return 0, nil, bbGitProblem(err, bbCommitMissing(q.since, repo))
		}
		all = all[min(start, len(all)):]
		more = len(all) > limit
		commits = all[:min(limit, len(all))]
	default:
		commits, more, err = g.Log(ctx, until, strings.Trim(q.path, "/"), start, limit)
		if err != nil {
			return 0, nil, bbGitProblem(err, bbCommitMissing(until, repo))
		}
	}
	pp := a.newBBPeople(ctx)
	out := page[bbCommitJSON]{Size: len(commits), Limit: limit, Start: start, IsLastPage: !more,
		Values: make([]bbCommitJSON, 0, len(commits))}
	for _, cm := range commits {
		v, err := pp.commit(cm)
		if err != nil {
			return 0, nil, err
		}
		out.Values = append(out.Values, v)
	}
	if more {
		next := start + len(commits)
		out.NextPageStart = &next
	}
	return http.StatusOK, out, nil
}
