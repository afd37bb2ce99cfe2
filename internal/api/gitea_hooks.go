package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"latchkey/internal/audit"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
	"latchkey/internal/webhook"
)

// A repository's webhooks as Gitea manages them: GET/POST …/hooks and
// GET/PATCH/DELETE …/hooks/{id}, for repository administrators (Gitea's
// reqAdmin). They are stored as store.Webhook of kind store.HookGitea
// (package webhook delivers Gitea's payloads to them); the Gitea routes
// show no hook of another kind. The secret is sealed for the repository
// and never shown.

// giteaHookType is the one hook type Latchkey delivers: Gitea's own.
const giteaHookType = "gitea"

// maxBranchFilter bounds a hook's branch filter.
const maxBranchFilter = 1024

// giteaHookEvents are the event names Gitea's hooks take, in the order
// Gitea lists a hook's events. A request may also name "issues_only" and
// "pull_request_only" (kept as "issues" and "pull_request"); "issues" and
// "pull_request" also subscribe to the events of their family, as in
// Gitea. Unknown names are dropped, as Gitea drops them.
var giteaHookEvents = []string{
	"create", "delete", "fork", "push",
	"issues", "issue_assign", "issue_label", "issue_milestone", "issue_comment",
	"pull_request", "pull_request_assign", "pull_request_label", "pull_request_milestone",
	"pull_request_comment", "pull_request_review_approved", "pull_request_review_rejected",
	"pull_request_review_comment", "pull_request_sync", "pull_request_review_request",
	"wiki", "repository", "release", "package", "status",
}

// giteaEventFamilies are the events a family name brings with it.
var giteaEventFamilies = map[string][]string{
	"issues": {"issues", "issue_assign", "issue_label", "issue_milestone", "issue_comment"},
	"pull_request": {"pull_request", "pull_request_assign", "pull_request_label", "pull_request_milestone",
		"pull_request_comment", "pull_request_review_approved", "pull_request_review_rejected",
		"pull_request_review_comment", "pull_request_sync", "pull_request_review_request"},
	"pull_request_review": {"pull_request_review_approved", "pull_request_review_rejected", "pull_request_review_comment"},
	"issues_only":         {"issues"},
	"pull_request_only":   {"pull_request"},
}

// canonicalEvents is the set of events a request names, in Gitea's
// order; none means push, as in Gitea.
func canonicalEvents(names []string) []string {
	if len(names) == 0 {
		return []string{"push"}
	}
	want := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if family, ok := giteaEventFamilies[n]; ok {
			for _, e := range family {
				want[e] = true
			}
			continue
		}
		want[n] = true
	}
	out := []string{}
	for _, e := range giteaHookEvents {
		if want[e] {
			out = append(out, e)
		}
	}
	return out
}

// giteaHookConfig is what Config of a Gitea hook holds, as JSON: Gitea's
// settings other than the URL, the events and the secret.
type giteaHookConfig struct {
	ContentType  string `json:"content_type"`
	HTTPMethod   string `json:"http_method"`
	BranchFilter string `json:"branch_filter"`
}

// giteaHook is Gitea's Hook.
type giteaHook struct {
	ID                  int64             `json:"id"`
	Type                string            `json:"type"`
	BranchFilter        string            `json:"branch_filter"`
	Config              map[string]string `json:"config"`
	Events              []string          `json:"events"`
	AuthorizationHeader string            `json:"authorization_header"`
	Active              bool              `json:"active"`
	Updated             time.Time         `json:"updated_at"`
	Created             time.Time         `json:"created_at"`
}

// giteaHookInput is Gitea's CreateHookOption and EditHookOption at once:
// Active is a pointer for the edit, where absent means unchanged.
type giteaHookInput struct {
	Type                string            `json:"type"`
	Config              map[string]string `json:"config"`
	Events              []string          `json:"events"`
	BranchFilter        string            `json:"branch_filter"`
	AuthorizationHeader string            `json:"authorization_header"`
	Active              *bool             `json:"active"`
}

// checkCommon validates what creation and edit share.
func (in giteaHookInput) checkCommon() error {
	if in.AuthorizationHeader != "" {
		return unprocessable("Latchkey does not send an authorization_header; use the hook's secret (config.secret), which signs every delivery.")
	}
	if len(in.BranchFilter) > maxBranchFilter || !utf8.ValidString(in.BranchFilter) || strings.IndexByte(in.BranchFilter, 0) >= 0 {
		return unprocessable("The branch_filter must be a glob pattern of at most " + strconv.Itoa(maxBranchFilter) + " bytes.")
	}
	if err := webhook.CheckBranchFilter(in.BranchFilter); err != nil {
		return unprocessable("The branch_filter is not a valid glob pattern: " + err.Error())
	}
	if ct, ok := in.Config["content_type"]; ok && ct != "json" {
		return unprocessable("Invalid content type: Latchkey sends JSON payloads only (content_type json).")
	}
	if u, ok := in.Config["url"]; ok {
		if err := webhook.CheckTarget(u); err != nil {
			return unprocessable(err.Error())
		}
	}
	if m, ok := in.Config["http_method"]; ok && m != "" && !strings.EqualFold(m, "post") {
		return unprocessable("Latchkey delivers with POST only (http_method post).")
	}
	return nil
}

// giteaHookRepo loads the repository at admin level.
func (a *API) giteaHookRepo(r *http.Request, c *oauth.Caller) (giteaRepoIn, error) {
	repo, p, err := a.guard.Repo(r.Context(), c, r.PathValue("owner"), r.PathValue("repo"), scope.Admin)
	return giteaRepoIn{repo: repo, project: p}, err
}

// giteaHookJSON shapes a stored hook; the secret stays out.
func giteaHookJSON(h store.Webhook) giteaHook {
	var cfg giteaHookConfig
	_ = json.Unmarshal([]byte(h.Config), &cfg) // written by this file; a broken one shows empty settings
	events := h.Events
	if events == nil {
		events = []string{}
	}
	return giteaHook{
		ID: h.ID, Type: giteaHookType, BranchFilter: cfg.BranchFilter,
		Config: map[string]string{"url": h.URL, "content_type": cmp.Or(cfg.ContentType, "json")},
		Events: events, Active: h.Active, Created: h.CreatedAt.UTC(), Updated: h.UpdatedAt.UTC(),
	}
}

// giteaListHooks is GET /repos/{owner}/{repo}/hooks, in Gitea's pages.
func (a *API) giteaListHooks(r *http.Request, c *oauth.Caller) (int, any, error) {
	in, err := a.giteaHookRepo(r, c)
	if err != nil {
		return 0, nil, err
	}
	hooks := store.Walk(r.Context(), store.Bind(a.store.ListWebhooks, in.repo.ID), firstBatch)
	hooks = filterSeq(hooks, func(h store.Webhook) bool { return h.Kind == store.HookGitea })
	return giteaPagedSeq(r, mapSeq(hooks, giteaHookJSON))
}

// giteaCreateHook is POST /repos/{owner}/{repo}/hooks: a hook of type
// gitea with config.url (checked by webhook.CheckTarget), content_type
// json, and an optional config.secret; active false unless asked, as in
// Gitea.
func (a *API) giteaCreateHook(r *http.Request, c *oauth.Caller) (int, any, error) {
	in, err := a.giteaHookRepo(r, c)
	if err != nil {
		return 0, nil, err
	}
	var body giteaHookInput
	if err := decodeJSON(r, &body); err != nil {
		return 0, nil, err
	}
	if body.Type != giteaHookType {
		return 0, nil, unprocessable("Invalid hook type: " + strconv.Quote(body.Type) + "; Latchkey delivers hooks of type gitea only.")
	}
	for _, name := range []string{"url", "content_type"} {
		if _, ok := body.Config[name]; !ok {
			return 0, nil, unprocessable("Missing config option: " + name)
		}
	}
	if err := body.checkCommon(); err != nil {
		return 0, nil, err
	}
	sealed, err := a.sealSecret(in, body.Config["secret"])
	if err != nil {
		return 0, nil, err
	}
	cfg, err := json.Marshal(giteaHookConfig{ContentType: "json", HTTPMethod: "POST", BranchFilter: body.BranchFilter})
	if err != nil {
		return 0, nil, err
	}
	now := a.cfg.Provider.Now()
	h, err := a.store.CreateWebhook(r.Context(), store.Webhook{
		RepoID: in.repo.ID, Kind: store.HookGitea, URL: body.Config["url"], Secret: sealed,
		Events: canonicalEvents(body.Events), Config: string(cfg), Active: body.Active != nil && *body.Active,
		CreatorID: c.User.ID, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return 0, nil, err
	}
	a.auditHook(r, c, audit.WebhookCreated, in.repo, h)
	return http.StatusCreated, giteaHookJSON(h), nil
}

// sealSecret seals a hook's secret for its repository.
func (a *API) sealSecret(in giteaRepoIn, secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	if a.cfg.HookSecrets == nil {
		return nil, errors.New("api: no webhook secret sealing configured (Config.HookSecrets)")
	}
	if len(secret) > 1024 {
		return nil, unprocessable("The secret is longer than 1024 bytes.")
	}
	return a.cfg.HookSecrets.Seal(in.repo.ID, secret)
}

// giteaHookID reads {id}; a malformed one is a hook that does not exist.
func giteaHookID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound("Webhook " + r.PathValue("id") + " does not exist.")
	}
	return id, nil
}

// giteaRepoHook loads the repository at admin level and its hook {id}.
func (a *API) giteaRepoHook(r *http.Request, c *oauth.Caller) (giteaRepoIn, store.Webhook, error) {
	in, err := a.giteaHookRepo(r, c)
	if err != nil {
		return giteaRepoIn{}, store.Webhook{}, err
	}
	h, err := a.giteaHookOf(r.Context(), r, in)
	return in, h, err
}

// giteaHookOf loads hook {id} of the repository, which must be a Gitea hook.
func (a *API) giteaHookOf(ctx context.Context, r *http.Request, in giteaRepoIn) (store.Webhook, error) {
	id, err := giteaHookID(r)
	if err != nil {
		return store.Webhook{}, err
	}
	h, err := a.store.GetWebhook(ctx, in.repo.ID, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && h.Kind != store.HookGitea) {
		return store.Webhook{}, notFound("Webhook " + strconv.FormatInt(id, 10) + " does not exist.")
	}
	return h, err
}

// giteaGetHook is GET /repos/{owner}/{repo}/hooks/{id}.
func (a *API) giteaGetHook(r *http.Request, c *oauth.Caller) (int, any, error) {
	_, h, err := a.giteaRepoHook(r, c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, giteaHookJSON(h), nil
}

// giteaEditHook is PATCH /repos/{owner}/{repo}/hooks/{id}, as Gitea edits:
// config.url, config.content_type and config.secret change when given;
// the events are replaced (none means push); the branch filter is
// replaced; active changes when given.
func (a *API) giteaEditHook(r *http.Request, c *oauth.Caller) (int, any, error) {
	in, old, err := a.giteaRepoHook(r, c)
	if err != nil {
		return 0, nil, err
	}
	var body giteaHookInput
	if err := decodeJSON(r, &body); err != nil {
		return 0, nil, err
	}
	if err := body.checkCommon(); err != nil {
		return 0, nil, err
	}
	var sealed []byte
	secret, newSecret := body.Config["secret"]
	if newSecret {
		if sealed, err = a.sealSecret(in, secret); err != nil {
			return 0, nil, err
		}
	}
	h, err := a.store.UpdateWebhook(r.Context(), in.repo.ID, old.ID, func(h store.Webhook) (store.Webhook, error) {
		var cfg giteaHookConfig
		_ = json.Unmarshal([]byte(h.Config), &cfg)
		cfg.ContentType, cfg.HTTPMethod, cfg.BranchFilter = "json", "POST", body.BranchFilter
		raw, err := json.Marshal(cfg)
		if err != nil {
			return h, err
		}
		if u, ok := body.Config["url"]; ok {
			h.URL = u
		}
		if newSecret {
			h.Secret = sealed
		}
		h.Events, h.Config = canonicalEvents(body.Events), string(raw)
		if body.Active != nil {
			h.Active = *body.Active
		}
		h.UpdatedAt = a.cfg.Provider.Now()
		return h, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("Webhook " + r.PathValue("id") + " does not exist.")
	}
	if err != nil {
		return 0, nil, err
	}
	a.auditHook(r, c, audit.WebhookUpdated, in.repo, h)
	return http.StatusOK, giteaHookJSON(h), nil
}

// giteaDeleteHook is DELETE /repos/{owner}/{repo}/hooks/{id}: 204.
func (a *API) giteaDeleteHook(r *http.Request, c *oauth.Caller) (int, any, error) {
	in, h, err := a.giteaRepoHook(r, c)
	if err != nil {
		return 0, nil, err
	}
	err = a.store.DeleteWebhook(r.Context(), in.repo.ID, h.ID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("Webhook " + strconv.FormatInt(h.ID, 10) + " does not exist.")
	}
	if err != nil {
		return 0, nil, err
	}
	a.auditHook(r, c, audit.WebhookDeleted, in.repo, h)
	return http.StatusNoContent, nil, nil
}
