package api

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"latchkey/internal/access"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Build statuses, Bitbucket's commit statuses, in two APIs:
//
//   - the legacy /rest/build-status/1.0/commits/{sha}, which names no
//     repository: a status posted there is stored on every repository the
//     caller may read that holds the commit (Bitbucket keeps it by commit
//     alone), and the list shows the statuses of those repositories;
//   - the newer …/repos/{slug}/commits/{id}/builds, scoped to one
//     repository.
//
// Bitbucket keeps one status per key and commit, replaced by each post;
// Latchkey keeps every report (store.CommitStatus), and shows the newest
// per key.

// bbBuildState is Bitbucket's state of a build.
type bbBuildState string

// Build states.
const (
	buildSuccessful bbBuildState = "SUCCESSFUL"
	buildFailed     bbBuildState = "FAILED"
	buildInProgress bbBuildState = "INPROGRESS"
	buildCancelled  bbBuildState = "CANCELLED"
	buildUnknown    bbBuildState = "UNKNOWN"
)

// toStatusState maps a Bitbucket state onto the stored one: SUCCESSFUL
// success, FAILED failure, INPROGRESS pending, CANCELLED error, UNKNOWN
// warning (so that every Bitbucket state reads back as it was posted).
func (s bbBuildState) toStatusState() (store.StatusState, bool) {
	switch bbBuildState(strings.ToUpper(string(s))) {
	case buildSuccessful:
		return store.StatusSuccess, true
	case buildFailed:
		return store.StatusFailure, true
	case buildInProgress:
		return store.StatusPending, true
	case buildCancelled:
		return store.StatusError, true
	case buildUnknown:
		return store.StatusWarning, true
	}
	return "", false
}

// fromStatusState is the Bitbucket state of a stored one.
func fromStatusState(s store.StatusState) bbBuildState {
	switch s {
	case store.StatusSuccess:
		return buildSuccessful
	case store.StatusFailure:
		return buildFailed
	case store.StatusPending:
		return buildInProgress
	case store.StatusError:
		return buildCancelled
	}
	return buildUnknown
}

// bbBuildInput is the body of both APIs' posts. The newer API's other
// fields (buildNumber, duration, parent, ref, testResults, lastUpdated)
// are accepted and not kept.
type bbBuildInput struct {
	State       string `json:"state"`
	Key         string `json:"key"`
	Name        string `json:"name"`
	URL         string `json:"url"`
	Description string `json:"description"`
	BuildNumber any    `json:"buildNumber"`
	Duration    any    `json:"duration"`
	Parent      any    `json:"parent"`
	Ref         any    `json:"ref"`
	TestResults any    `json:"testResults"`
	LastUpdated any    `json:"lastUpdated"`
}

// Bitbucket's limits on a build status's fields.
const (
	maxBuildKey         = 255
	maxBuildName        = 255
	maxBuildURL         = 450
	maxBuildDescription = 255
)

// status validates the input and returns the status to store for commit
// sha (RepoID, CreatorID and CreatedAt unset).
func (in bbBuildInput) status(sha string) (store.CommitStatus, error) {
	state, ok := bbBuildState(in.State).toStatusState()
	switch {
	case !ok:
		return store.CommitStatus{}, badRequest("state must be one of SUCCESSFUL, FAILED, INPROGRESS, CANCELLED, UNKNOWN.")
	case strings.TrimSpace(in.Key) == "" || len(in.Key) > maxBuildKey:
		return store.CommitStatus{}, badRequest("key is required, at most 255 characters.")
	case len(in.Name) > maxBuildName:
		return store.CommitStatus{}, badRequest("name may be at most 255 characters.")
	case len(in.Description) > maxBuildDescription:
		return store.CommitStatus{}, badRequest("description may be at most 255 characters.")
	case len(in.URL) > maxBuildURL:
		return store.CommitStatus{}, badRequest("url may be at most 450 characters.")
	case !bbWebURL(in.URL):
		return store.CommitStatus{}, badRequest("url is required: an absolute http or https URL.")
	}
	return store.CommitStatus{SHA: sha, Context: in.Key, State: state, Name: in.Name, TargetURL: in.URL,
		Description: in.Description}, nil
}

// bbWebURL reports whether raw is an absolute http or https URL with a host.
func bbWebURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Opaque == ""
}

// bbFullSHA returns id lower-cased if it is a full SHA-1 or SHA-256 commit
// ID, which a build status must name.
func bbFullSHA(id string) (string, error) {
	id = strings.ToLower(id)
	if len(id) != 40 && len(id) != 64 {
		return "", badRequest("The commit ID must be a full 40 (or 64) character hexadecimal ID.")
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", badRequest("The commit ID must be a full 40 (or 64) character hexadecimal ID.")
		}
	}
	return id, nil
}

// bbBuildJSON is a build status as both APIs show it: the legacy API's
// fields (dateAdded) and the newer API's (createdDate, updatedDate).
type bbBuildJSON struct {
	State       bbBuildState `json:"state"`
	Key         string       `json:"key"`
	Name        string       `json:"name,omitempty"`
	URL         string       `json:"url"`
	Description string       `json:"description,omitempty"`
	DateAdded   int64        `json:"dateAdded"`
	CreatedDate int64        `json:"createdDate"`
	UpdatedDate int64        `json:"updatedDate"`
}

func bbBuild(s store.CommitStatus) bbBuildJSON {
	at := s.CreatedAt.UnixMilli()
	return bbBuildJSON{State: fromStatusState(s.State), Key: s.Context, Name: s.Name, URL: s.TargetURL,
		Description: s.Description, DateAdded: at, CreatedDate: at, UpdatedDate: at}
}

// bbLatestPerKey walks the reports about sha in the repositories given,
// newest first, and keeps the newest of each key.
func (a *API) bbLatestPerKey(ctx context.Context, repoIDs iter.Seq2[int64, error], sha string) ([]store.CommitStatus, error) {
	var out []store.CommitStatus
	byKey := map[string]int{}
	for id, err := range repoIDs {
		if err != nil {
			return nil, err
		}
		list := func(ctx context.Context, p store.Page) ([]store.CommitStatus, store.Cursor, error) {
			return a.store.ListCommitStatuses(ctx, id, sha, p)
		}
		for s, err := range store.Walk(ctx, list, firstBatch) {
			if err != nil {
				return nil, err
			}
			i, seen := byKey[s.Context]
			switch {
			case !seen:
				byKey[s.Context] = len(out)
				out = append(out, s)
			case s.CreatedAt.After(out[i].CreatedAt):
				out[i] = s
			}
		}
	}
	return out, nil
}

// bbPostRepoBuild is POST …/repos/{slug}/commits/{id}/builds: as
// Bitbucket documents, REPO_READ on the repository is enough (a CI
// system reads the code it builds). The commit must be in the repository.
// 204, as Bitbucket answers.
func (a *API) bbPostRepoBuild(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, _, g, err := a.bbRepoGit(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	if err := bbNeedRepoScope(c); err != nil {
		return 0, nil, err
	}
	st, sha, err := bbReadBuild(r)
	if err != nil {
		return 0, nil, err
	}
	has, err := g.HasCommit(r.Context(), sha)
	if err != nil {
		return 0, nil, err
	}
	if !has {
		return 0, nil, notFound(bbCommitMissing(sha, repo))
	}
	if err := a.bbAddBuild(r.Context(), c, repo, st); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// bbNeedRepoScope refuses a token whose scopes do not allow reading
// repositories (REPO_READ, read:repository or more): posting a status on
// a public repository takes more than a token for public data.
func bbNeedRepoScope(c *oauth.Caller) error {
	if c.Principal.Scopes.RepoCap() >= scope.Read {
		return nil
	}
	return &access.Denied{Verdict: scope.DenyScope, Required: scope.RepoRead, Anonymous: c.Anonymous()}
}

// bbAddBuild stores one status on repo.
func (a *API) bbAddBuild(ctx context.Context, c *oauth.Caller, repo store.Repo, st store.CommitStatus) error {
	st.RepoID, st.CreatorID, st.CreatedAt = repo.ID, c.User.ID, a.cfg.Provider.Now()
	_, err := a.store.AddCommitStatus(ctx, st)
	return err
}

// bbRepoBuilds is GET …/repos/{slug}/commits/{id}/builds: with key, that
// build's status (404 when there is none), as Bitbucket answers; without,
// a page of the newest status of every key (Latchkey's addition).
func (a *API) bbRepoBuilds(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, _, err := a.guard.Repo(r.Context(), c, r.PathValue("key"), r.PathValue("slug"), scope.Read)
	if err != nil {
		return 0, nil, err
	}
	sha, err := bbFullSHA(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	key, err := single(r, "key")
	if err != nil {
		return 0, nil, err
	}
	list, err := a.bbLatestPerKey(r.Context(), seqOf([]int64{repo.ID}), sha)
	if err != nil {
		return 0, nil, err
	}
	if _, given := r.URL.Query()["key"]; !given {
		return pagedSeq(r, mapSeq(seqOf(list), bbBuild))
	}
	for _, s := range list {
		if s.Context == key {
			return http.StatusOK, bbBuild(s), nil
		}
	}
	return 0, nil, notFound("No build status with key '" + key + "' exists for commit " + sha + ".")
}

// maxLegacyBuildRepos bounds the repositories one legacy build status
// post looks into (one git process each): the first ones the caller may
// read, in project and repository order. The repository-scoped API
// (…/commits/{id}/builds) has no such bound and is the one to use.
const maxLegacyBuildRepos = 500

// bbPostLegacyBuild is POST /rest/build-status/1.0/commits/{sha}. The
// legacy API names no repository: the status is stored on every
// repository the caller may read that holds the commit, among the first
// maxLegacyBuildRepos of them. It takes a
// licensed user (any account) whose token allows reading repositories
// (bbNeedRepoScope); a commit that no such repository holds is 404, where
// Bitbucket would keep the status unattached. 204 otherwise.
func (a *API) bbPostLegacyBuild(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.Global(c, scope.LicensedUser); err != nil {
		return 0, nil, err
	}
	if err := bbNeedRepoScope(c); err != nil {
		return 0, nil, err
	}
	st, sha, err := bbReadBuild(r)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	stored, examined := 0, 0
	for x, err := range a.readableRepoTree(ctx, c) {
		if err != nil {
			return 0, nil, err
		}
		if examined++; examined > maxLegacyBuildRepos {
			break
		}
		g, err := a.gitRepo(x.repo)
		if err != nil {
			return 0, nil, err
		}
		has, err := g.HasCommit(ctx, sha)
		if err != nil {
			return 0, nil, err
		}
		if !has {
			continue
		}
		if err := a.bbAddBuild(ctx, c, x.repo, st); err != nil {
			return 0, nil, err
		}
		stored++
	}
	if stored == 0 {
		return 0, nil, notFound("No repository you may read holds commit " + sha + ".")
	}
	return http.StatusNoContent, nil, nil
}

// bbLegacyBuilds is GET /rest/build-status/1.0/commits/{sha}: a page of
// the newest status of every key on the commit, from every repository the
// caller may read.
func (a *API) bbLegacyBuilds(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.Global(c, scope.LicensedUser); err != nil {
		return 0, nil, err
	}
	sha, err := bbFullSHA(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	ids := mapSeq(a.readableRepoTree(r.Context(), c), func(x repoIn) int64 { return x.repo.ID })
	list, err := a.bbLatestPerKey(r.Context(), ids, sha)
	if err != nil {
		return 0, nil, err
	}
	return pagedSeq(r, mapSeq(seqOf(list), bbBuild))
}

// bbReadBuild reads a posted build status: the commit of the path (a full
// commit ID) and the JSON body.
func bbReadBuild(r *http.Request) (store.CommitStatus, string, error) {
	sha, err := bbFullSHA(r.PathValue("id"))
	if err != nil {
		return store.CommitStatus{}, "", err
	}
	var in bbBuildInput
	if err := decodeJSON(r, &in); err != nil {
		return store.CommitStatus{}, "", err
	}
	st, err := in.status(sha)
	return st, sha, err
}
