package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"latchkey/internal/audit"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
	"latchkey/internal/webhook"
)

// Bitbucket's repository webhooks, …/repos/{slug}/webhooks: managing them
// takes REPO_ADMIN, as in Bitbucket. They are stored as store.Webhook of
// kind store.HookBitbucket; the secret (configuration.secret) is sealed
// under the key-encryption key and never shown again. Only Bitbucket's
// hooks are seen here: a hook made through the Gitea API is Gitea's.

// bbHookEvents are the event names Bitbucket Data Center knows. A hook
// may subscribe to any of them; Latchkey fires repo:refs_changed (a push).
var bbHookEvents = []string{
	"repo:refs_changed", "repo:modified", "repo:forked", "repo:comment:added", "repo:comment:edited",
	"repo:comment:deleted", "repo:secret_detected", "mirror:repo_synchronized",
	"pr:opened", "pr:from_ref_updated", "pr:to_ref_updated", "pr:modified", "pr:reviewer:updated",
	"pr:reviewer:approved", "pr:reviewer:unapproved", "pr:reviewer:needs_work", "pr:reviewer:changes_requested",
	"pr:merged", "pr:declined", "pr:deleted", "pr:comment:added", "pr:comment:edited", "pr:comment:deleted",
}

// bbHookInput is the body of webhook creation and update.
type bbHookInput struct {
	Name                    *string           `json:"name"`
	Events                  []string          `json:"events"`
	Configuration           map[string]string `json:"configuration"`
	URL                     *string           `json:"url"`
	Active                  *bool             `json:"active"`
	SSLVerificationRequired *bool             `json:"sslVerificationRequired"`
	Credentials             json.RawMessage   `json:"credentials"`
}

// bbHookConfig is what Latchkey keeps in store.Webhook.Config of a
// Bitbucket hook: the settings that have no column.
type bbHookConfig struct {
	// Configuration holds configuration's entries other than the secret.
	Configuration           map[string]string `json:"configuration,omitempty"`
	SSLVerificationRequired bool              `json:"sslVerificationRequired"`
}

// maxHookName bounds a webhook's name.
const maxHookName = 255

// apply validates the input and applies it onto h: on creation every
// field not given takes its default, on update it keeps its value. The
// secret is returned apart (set tells whether one was given).
func (in bbHookInput) apply(h store.Webhook, creating bool) (out store.Webhook, secret string, set bool, err error) {
	cfg := bbHookConfig{SSLVerificationRequired: true}
	if h.Config != "" {
		if err := json.Unmarshal([]byte(h.Config), &cfg); err != nil {
			return h, "", false, fmt.Errorf("api: webhook %d's stored configuration: %w", h.ID, err)
		}
	}
	if len(in.Credentials) > 0 && string(in.Credentials) != "null" {
		return h, "", false, badRequest("Webhook credentials are not supported; use configuration.secret, which signs every delivery.")
	}
	if in.Name != nil || creating {
		name := ""
		if in.Name != nil {
			name = strings.TrimSpace(*in.Name)
		}
		if name == "" || len(name) > maxHookName {
			return h, "", false, badRequest("The webhook needs a name of 1-255 characters.")
		}
		h.Name = name
	}
	if in.URL != nil || creating {
		u := ""
		if in.URL != nil {
			u = strings.TrimSpace(*in.URL)
		}
		if err := webhook.CheckTarget(u); err != nil {
			return h, "", false, badRequest(err.Error())
		}
		h.URL = u
	}
	if in.Events != nil || creating {
		if len(in.Events) == 0 {
			return h, "", false, badRequest("The webhook needs at least one event.")
		}
		events := []string{}
		for _, e := range in.Events {
			if !slices.Contains(bbHookEvents, e) {
				return h, "", false, badRequest("The event " + e + " is unknown.")
			}
			if !slices.Contains(events, e) {
				events = append(events, e)
			}
		}
		h.Events = events
	}
	if in.Active != nil {
		h.Active = *in.Active
	} else if creating {
		h.Active = true
	}
	if in.SSLVerificationRequired != nil {
		cfg.SSLVerificationRequired = *in.SSLVerificationRequired
	}
	if in.Configuration != nil {
		secret, set = in.Configuration["secret"]
		rest := map[string]string{}
		for k, v := range in.Configuration {
			if k != "secret" {
				rest[k] = v
			}
		}
		if len(rest) > 16 {
			return h, "", false, badRequest("The webhook's configuration holds too many entries.")
		}
		cfg.Configuration = rest
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return h, "", false, err
	}
	if len(raw) > 8192 {
		return h, "", false, badRequest("The webhook's configuration is too large.")
	}
	h.Config = string(raw)
	return h, secret, set, nil
}

// bbHookJSON is Bitbucket's webhook, without its secret.
type bbHookJSON struct {
	ID                      int64             `json:"id"`
	Name                    string            `json:"name"`
	CreatedDate             int64             `json:"createdDate"`
	UpdatedDate             int64             `json:"updatedDate"`
	Events                  []string          `json:"events"`
	Configuration           map[string]string `json:"configuration"`
	URL                     string            `json:"url"`
	Active                  bool              `json:"active"`
	ScopeType               string            `json:"scopeType"`
	SSLVerificationRequired bool              `json:"sslVerificationRequired"`
}

func bbHook(h store.Webhook) bbHookJSON {
	cfg := bbHookConfig{SSLVerificationRequired: true}
	_ = json.Unmarshal([]byte(h.Config), &cfg) // a stored value we wrote; unreadable shows the defaults
	if cfg.Configuration == nil {
		cfg.Configuration = map[string]string{}
	}
	events := h.Events
	if events == nil {
		events = []string{}
	}
	return bbHookJSON{
		ID: h.ID, Name: h.Name, CreatedDate: h.CreatedAt.UnixMilli(), UpdatedDate: h.UpdatedAt.UnixMilli(),
		Events: events, Configuration: cfg.Configuration, URL: h.URL, Active: h.Active, ScopeType: "repository",
		SSLVerificationRequired: cfg.SSLVerificationRequired,
	}
}

// bbHookRepo loads the repository of a webhook route for its
// administrator.
func (a *API) bbHookRepo(r *http.Request, c *oauth.Caller) (store.Repo, error) {
	repo, _, err := a.guard.Repo(r.Context(), c, r.PathValue("key"), r.PathValue("slug"), scope.Admin)
	return repo, err
}

// bbRepoHook loads the repository of a webhook route for its
// administrator and the Bitbucket webhook of the route's {id}.
func (a *API) bbRepoHook(r *http.Request, c *oauth.Caller) (store.Repo, store.Webhook, error) {
	repo, err := a.bbHookRepo(r, c)
	if err != nil {
		return store.Repo{}, store.Webhook{}, err
	}
	h, err := a.bbHookByID(r, repo)
	return repo, h, err
}

// bbHookByID loads the Bitbucket webhook of the route's {id}.
func (a *API) bbHookByID(r *http.Request, repo store.Repo) (store.Webhook, error) {
	raw := r.PathValue("id")
	missing := notFound("Webhook " + raw + " does not exist in repository '" + repo.Slug + "'.")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return store.Webhook{}, missing
	}
	h, err := a.store.GetWebhook(r.Context(), repo.ID, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Webhook{}, missing
	case err != nil:
		return store.Webhook{}, err
	case h.Kind != store.HookBitbucket:
		return store.Webhook{}, missing
	}
	return h, nil
}

// bbListHooks is GET …/webhooks: a page of the repository's Bitbucket
// webhooks, oldest first; event=NAME keeps those subscribed to it.
func (a *API) bbListHooks(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, err := a.bbHookRepo(r, c)
	if err != nil {
		return 0, nil, err
	}
	event, err := single(r, "event")
	if err != nil {
		return 0, nil, err
	}
	hooks := store.Walk(r.Context(), store.Bind(a.store.ListWebhooks, repo.ID), firstBatch)
	mine := filterSeq(hooks, func(h store.Webhook) bool {
		return h.Kind == store.HookBitbucket && (event == "" || slices.Contains(h.Events, event))
	})
	return pagedSeq(r, mapSeq(mine, bbHook))
}

// bbCreateHook is POST …/webhooks: 201 with the new hook.
func (a *API) bbCreateHook(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, err := a.bbHookRepo(r, c)
	if err != nil {
		return 0, nil, err
	}
	var in bbHookInput
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	now := a.cfg.Provider.Now()
	h, secret, _, err := in.apply(store.Webhook{RepoID: repo.ID, Kind: store.HookBitbucket, CreatorID: c.User.ID,
		CreatedAt: now, UpdatedAt: now}, true)
	if err != nil {
		return 0, nil, err
	}
	if h.Secret, err = a.cfg.HookSecrets.Seal(repo.ID, secret); err != nil {
		return 0, nil, err
	}
	h, err = a.store.CreateWebhook(r.Context(), h)
	if err != nil {
		return 0, nil, err
	}
	a.auditHook(r, c, audit.WebhookCreated, repo, h)
	return http.StatusCreated, bbHook(h), nil
}

// bbGetHook is GET …/webhooks/{id}.
func (a *API) bbGetHook(r *http.Request, c *oauth.Caller) (int, any, error) {
	_, h, err := a.bbRepoHook(r, c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, bbHook(h), nil
}

// bbUpdateHook is PUT …/webhooks/{id}: the fields given replace the
// hook's; a configuration without secret keeps the secret, an empty
// secret removes it.
func (a *API) bbUpdateHook(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, old, err := a.bbRepoHook(r, c)
	if err != nil {
		return 0, nil, err
	}
	var in bbHookInput
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	// Validate and seal before the update, so that a refusal is the
	// caller's error and the update's callback does nothing but apply.
	_, secret, set, err := in.apply(old, false)
	if err != nil {
		return 0, nil, err
	}
	var sealed []byte
	if set {
		if sealed, err = a.cfg.HookSecrets.Seal(repo.ID, secret); err != nil {
			return 0, nil, err
		}
	}
	now := a.cfg.Provider.Now()
	h, err := a.store.UpdateWebhook(r.Context(), repo.ID, old.ID, func(cur store.Webhook) (store.Webhook, error) {
		next, _, _, err := in.apply(cur, false)
		if err != nil {
			return cur, err
		}
		if set {
			next.Secret = sealed
		}
		next.UpdatedAt = now
		return next, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("Webhook " + r.PathValue("id") + " does not exist in repository '" + repo.Slug + "'.")
	}
	if err != nil {
		return 0, nil, err
	}
	a.auditHook(r, c, audit.WebhookUpdated, repo, h)
	return http.StatusOK, bbHook(h), nil
}

// bbDeleteHook is DELETE …/webhooks/{id}: 204, with its deliveries.
func (a *API) bbDeleteHook(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, h, err := a.bbRepoHook(r, c)
	if err != nil {
		return 0, nil, err
	}
	err = a.store.DeleteWebhook(r.Context(), repo.ID, h.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, nil, err
	}
	a.auditHook(r, c, audit.WebhookDeleted, repo, h)
	return http.StatusNoContent, nil, nil
}
