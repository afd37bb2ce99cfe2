package api

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Commit statuses, as Gitea takes and shows them: POST …/statuses/{sha}
// (repository write, as Gitea's reqRepoWriter), GET …/statuses/{sha},
// …/commits/{ref}/statuses and …/commits/{ref}/status (the combined
// status: the newest report of each context).

// Bounds of a status's fields.
const (
	maxStatusContext     = 255
	maxStatusDescription = 1024
	maxStatusTargetURL   = 2048
)

// giteaStatusInput is Gitea's CreateStatusOption.
type giteaStatusInput struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

// giteaStatus is Gitea's CommitStatus.
type giteaStatus struct {
	ID          int64          `json:"id"`
	State       string         `json:"status"`
	TargetURL   string         `json:"target_url"`
	Description string         `json:"description"`
	URL         string         `json:"url"`
	Context     string         `json:"context"`
	Creator     *giteaUserJSON `json:"creator"`
	Created     time.Time      `json:"created_at"`
	Updated     time.Time      `json:"updated_at"`
}

// giteaCombinedStatus is Gitea's CombinedStatus.
type giteaCombinedStatus struct {
	State      string        `json:"state"`
	SHA        string        `json:"sha"`
	TotalCount int           `json:"total_count"`
	Statuses   []giteaStatus `json:"statuses"`
	Repository *giteaRepo    `json:"repository"`
	CommitURL  string        `json:"commit_url"`
	URL        string        `json:"url"`
}

// statusRank orders the states from worst to best, as Gitea combines
// them: the combined state is the worst of the newest report of each
// context.
var statusRank = map[store.StatusState]int{
	store.StatusError: 0, store.StatusFailure: 1, store.StatusWarning: 2, store.StatusPending: 3, store.StatusSuccess: 4,
}

// unprocessable is Gitea's 422, its answer to a body it cannot take.
func unprocessable(msg string) error {
	return &apiError{status: http.StatusUnprocessableEntity, message: msg}
}

// check validates the input as a new status.
func (in giteaStatusInput) check() (store.StatusState, error) {
	state := store.StatusState(in.State)
	if _, ok := statusRank[state]; !ok {
		return "", unprocessable("The state must be one of pending, success, error, failure and warning.")
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{{"context", in.Context, maxStatusContext}, {"description", in.Description, maxStatusDescription},
		{"target_url", in.TargetURL, maxStatusTargetURL}} {
		if len(f.value) > f.max {
			return "", unprocessable("The " + f.name + " is longer than " + strconv.Itoa(f.max) + " bytes.")
		}
		if !utf8.ValidString(f.value) {
			return "", badRequest("The " + f.name + " is not valid UTF-8.")
		}
	}
	if in.TargetURL != "" {
		u, err := url.Parse(in.TargetURL)
		if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", unprocessable("The target_url must be an absolute http or https URL.")
		}
	}
	return state, nil
}

// giteaCreateStatus is POST /repos/{owner}/{repo}/statuses/{sha}: the
// commit (a SHA, full or abbreviated, or a branch or tag) must exist;
// the status is stored for its full SHA.
func (a *API) giteaCreateStatus(r *http.Request, c *oauth.Caller) (int, any, error) {
	ctx := r.Context()
	in, err := a.giteaRepoAt(r, c, scope.Write)
	if err != nil {
		return 0, nil, err
	}
	var body giteaStatusInput
	if err := decodeJSON(r, &body); err != nil {
		return 0, nil, err
	}
	state, err := body.check()
	if err != nil {
		return 0, nil, err
	}
	rev := r.PathValue("sha")
	sha, err := in.git.Resolve(ctx, rev)
	if err != nil {
		return 0, nil, gitMissing(err, "Commit "+rev)
	}
	s, err := a.store.AddCommitStatus(ctx, store.CommitStatus{
		RepoID: in.repo.ID, SHA: sha, Context: body.Context, State: state, TargetURL: body.TargetURL,
		Description: body.Description, CreatorID: c.User.ID, CreatedAt: a.cfg.Provider.Now(),
	})
	if err != nil {
		return 0, nil, err
	}
	out, err := a.giteaStatusJSON(ctx, a.creators(c), in, s)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, out, nil
}

// giteaStatusesBySHA is GET /repos/{owner}/{repo}/statuses/{sha}.
func (a *API) giteaStatusesBySHA(r *http.Request, c *oauth.Caller) (int, any, error) {
	return a.giteaStatuses(r, c, r.PathValue("sha"))
}

// giteaStatusesByRef is GET /repos/{owner}/{repo}/commits/{ref}/statuses.
func (a *API) giteaStatusesByRef(r *http.Request, c *oauth.Caller) (int, any, error) {
	return a.giteaStatuses(r, c, r.PathValue("ref"))
}

// giteaStatuses lists every report about the commit rev names, newest
// first, in Gitea's pages, optionally only those in state (?state=).
func (a *API) giteaStatuses(r *http.Request, c *oauth.Caller, rev string) (int, any, error) {
	ctx := r.Context()
	in, err := a.giteaRepoAt(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	sha, err := statusSHA(ctx, in.git, rev)
	if err != nil {
		return 0, nil, err
	}
	state, err := single(r, "state")
	if err != nil {
		return 0, nil, err
	}
	reports := store.Walk(ctx, a.statusList(in.repo.ID, sha), firstBatch)
	reports = filterSeq(reports, func(s store.CommitStatus) bool { return state == "" || string(s.State) == state })
	status, body, err := giteaPagedSeq(r, reports)
	if err != nil {
		return 0, nil, err
	}
	cr := a.creators(c)
	return giteaConvertPage(status, body, func(s store.CommitStatus) (giteaStatus, error) {
		return a.giteaStatusJSON(ctx, cr, in, s)
	})
}

// giteaCombinedStatus is GET /repos/{owner}/{repo}/commits/{ref}/status:
// the newest report of each context and the worst of their states. A
// commit without reports answers Gitea's empty combined status.
func (a *API) giteaCombinedStatus(r *http.Request, c *oauth.Caller) (int, any, error) {
	ctx := r.Context()
	in, err := a.giteaRepoAt(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	sha, err := statusSHA(ctx, in.git, r.PathValue("ref"))
	if err != nil {
		return 0, nil, err
	}
	var latest []store.CommitStatus
	seen := map[string]bool{}
	for s, err := range store.Walk(ctx, a.statusList(in.repo.ID, sha), firstBatch) {
		if err != nil {
			return 0, nil, err
		}
		if !seen[s.Context] {
			seen[s.Context] = true
			latest = append(latest, s)
		}
	}
	if len(latest) == 0 {
		return http.StatusOK, giteaCombinedStatus{}, nil
	}
	slices.SortStableFunc(latest, func(x, y store.CommitStatus) int { return cmp.Compare(x.ID, y.ID) })
	out := giteaCombinedStatus{SHA: sha, TotalCount: len(latest), Statuses: make([]giteaStatus, 0, len(latest)),
		CommitURL: a.giteaAPIURL(in) + "/commits/" + sha, URL: a.giteaAPIURL(in) + "/commits/" + sha + "/status"}
	worst := store.StatusSuccess
	cr := a.creators(c)
	for _, s := range latest {
		if statusRank[s.State] < statusRank[worst] {
			worst = s.State
		}
		js, err := a.giteaStatusJSON(ctx, cr, in, s)
		if err != nil {
			return 0, nil, err
		}
		out.Statuses = append(out.Statuses, js)
	}
	out.State = string(worst)
	repo := a.giteaRepoFor(c, in.repo, in.project)
	out.Repository = &repo
	return http.StatusOK, out, nil
}

// statusSHA is the full SHA of the commit a status route names: a branch,
// a tag or a SHA in the repository; a SHA the repository does not hold is
// taken as given (a status may be reported before its push arrives).
func statusSHA(ctx context.Context, g *gitrepo.Repo, rev string) (string, error) {
	sha, err := g.Resolve(ctx, rev)
	switch {
	case err == nil:
		return sha, nil
	case errors.Is(err, gitrepo.ErrNotFound) && len(rev) >= 4 && isHexString(rev):
		return rev, nil
	}
	return "", gitMissing(err, "The ref "+rev)
}

// statusList is the store's list of the reports about one commit.
func (a *API) statusList(repoID int64, sha string) store.List[store.CommitStatus] {
	return func(ctx context.Context, p store.Page) ([]store.CommitStatus, store.Cursor, error) {
		return a.store.ListCommitStatuses(ctx, repoID, sha, p)
	}
}

// creators loads the users who reported statuses, once each per request.
type creators struct {
	a     *API
	c     *oauth.Caller
	users map[int64]*giteaUserJSON
}

func (a *API) creators(c *oauth.Caller) *creators {
	return &creators{a: a, c: c, users: map[int64]*giteaUserJSON{}}
}

func (cr *creators) user(ctx context.Context, id int64) (*giteaUserJSON, error) {
	if u, ok := cr.users[id]; ok {
		return u, nil
	}
	u, err := cr.a.store.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		cr.users[id] = nil // the user was deleted since
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := cr.a.giteaUserFor(cr.c, u)
	cr.users[id] = &out
	return &out, nil
}

func (a *API) giteaStatusJSON(ctx context.Context, cr *creators, in giteaRepoIn, s store.CommitStatus) (giteaStatus, error) {
	creator, err := cr.user(ctx, s.CreatorID)
	if err != nil {
		return giteaStatus{}, err
	}
	return giteaStatus{
		ID: s.ID, State: string(s.State), TargetURL: s.TargetURL, Description: s.Description,
		URL: a.giteaAPIURL(in) + "/statuses/" + s.SHA, Context: s.Context, Creator: creator,
		Created: s.CreatedAt.UTC(), Updated: s.CreatedAt.UTC(),
	}, nil
}
