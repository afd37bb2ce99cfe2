package api

import (
	"errors"
	"iter"
	"net/http"
	"strconv"
	"time"

	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Recent webhook deliveries and their answers, for the repository's
// administrators:
//
//   - Bitbucket's own GET …/repos/{slug}/webhooks/{id}/latest (the latest
//     attempt, optionally of one event and with one outcome; 204 when
//     there is none), and the Latchkey extension GET
//     …/repos/{slug}/webhooks/{id}/deliveries (a Bitbucket page, newest
//     first).
//   - Gitea has no API for a hook's deliveries (its web page lists them),
//     so Latchkey adds GET /api/v1/repos/{owner}/{repo}/hooks/{id}/deliveries
//     (a Gitea page, newest first).
//
// A hook is reached through the dialect that created it; the other's
// routes answer 404, as for a hook that does not exist. The lists hold at
// most the newest maxListedDeliveries deliveries.
func (a *API) mountDeliveries(mux routes.Mux) {
	mux.Handle("GET "+bb+"/projects/{key}/repos/{slug}/webhooks/{id}/latest", a.handle(authenticated, a.bbLatestInvocation))
	mux.Handle("GET "+bb+"/projects/{key}/repos/{slug}/webhooks/{id}/deliveries", a.handle(authenticated, a.bbDeliveries))
	mux.Handle("GET /api/v1/repos/{owner}/{repo}/hooks/{id}/deliveries", a.handle(giteaAuth, a.giteaDeliveries))
}

// maxListedDeliveries bounds the delivery lists.
const maxListedDeliveries = 500

// adminHook loads webhook id of a repository the caller administers,
// which must be of kind.
func (a *API) adminHook(r *http.Request, c *oauth.Caller, key, slug string, kind store.HookKind) (store.Webhook, error) {
	repo, _, err := a.guard.Repo(r.Context(), c, key, slug, scope.Admin)
	if err != nil {
		return store.Webhook{}, err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return store.Webhook{}, notFound("Webhook " + r.PathValue("id") + " does not exist.")
	}
	hook, err := a.store.GetWebhook(r.Context(), repo.ID, id)
	if err == nil && hook.Kind != kind {
		err = store.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Webhook{}, notFound("Webhook " + strconv.FormatInt(id, 10) + " does not exist.")
		}
		return store.Webhook{}, err
	}
	return hook, nil
}

// recentDeliveries walks a hook's deliveries newest first, at most
// maxListedDeliveries of them.
func (a *API) recentDeliveries(r *http.Request, hookID int64) iter.Seq2[store.Delivery, error] {
	all := store.Walk(r.Context(), store.Bind(a.store.ListDeliveries, hookID), firstBatch)
	return func(yield func(store.Delivery, error) bool) {
		n := 0
		for d, err := range all {
			if err == nil {
				if n == maxListedDeliveries {
					return
				}
				n++
			}
			if !yield(d, err) {
				return
			}
		}
	}
}

// millis is a time as Bitbucket's milliseconds since the epoch; 0 for none.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Bitbucket's invocation outcomes.
const (
	outcomeSuccess = "SUCCESS" // a 2xx answer
	outcomeFailure = "FAILURE" // another answer
	outcomeError   = "ERROR"   // no answer (refused, unreachable, timed out)
)

func outcome(d store.Delivery) string {
	switch {
	case d.ResponseStatus >= 200 && d.ResponseStatus < 300 && d.Error == "":
		return outcomeSuccess
	case d.ResponseStatus != 0:
		return outcomeFailure
	}
	return outcomeError
}

// bbInvocation is Bitbucket's detailed invocation (RestDetailedInvocation).
type bbInvocation struct {
	ID         int64  `json:"id"`
	Event      string `json:"event"`
	EventScope struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"eventScope"`
	Request struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"request"`
	Result struct {
		Description string `json:"description"`
		Outcome     string `json:"outcome"`
	} `json:"result"`
	Duration int64 `json:"duration"` // milliseconds
	Start    int64 `json:"start"`
	Finish   int64 `json:"finish"`
}

func invocation(hook store.Webhook, d store.Delivery) bbInvocation {
	var inv bbInvocation
	inv.ID, inv.Event = d.ID, d.Event
	inv.EventScope.ID, inv.EventScope.Type = strconv.FormatInt(hook.RepoID, 10), "repository"
	inv.Request.Method, inv.Request.URL = http.MethodPost, hook.URL
	inv.Result.Outcome = outcome(d)
	inv.Result.Description = d.Error
	if d.Error == "" {
		inv.Result.Description = strconv.Itoa(d.ResponseStatus) + " " + http.StatusText(d.ResponseStatus)
	}
	inv.Duration = d.Duration.Milliseconds()
	inv.Start = millis(d.AttemptedAt)
	inv.Finish = millis(d.AttemptedAt.Add(d.Duration))
	return inv
}

// bbLatestInvocation is Bitbucket's GET …/webhooks/{id}/latest: the
// newest attempted delivery, of event and with outcome when given; 204
// when there is none.
func (a *API) bbLatestInvocation(r *http.Request, c *oauth.Caller) (int, any, error) {
	hook, err := a.adminHook(r, c, r.PathValue("key"), r.PathValue("slug"), store.HookBitbucket)
	if err != nil {
		return 0, nil, err
	}
	event, err := single(r, "event")
	if err != nil {
		return 0, nil, err
	}
	want, err := single(r, "outcome")
	if err != nil {
		return 0, nil, err
	}
	switch want {
	case "", outcomeSuccess, outcomeFailure, outcomeError:
	default:
		return 0, nil, badRequest("outcome must be SUCCESS, FAILURE or ERROR.")
	}
	for d, err := range a.recentDeliveries(r, hook.ID) {
		if err != nil {
			return 0, nil, err
		}
		if d.AttemptedAt.IsZero() || (event != "" && d.Event != event) || (want != "" && outcome(d) != want) {
			continue
		}
		return http.StatusOK, invocation(hook, d), nil
	}
	return http.StatusNoContent, nil, nil
}

// bbDelivery is one delivery in the Latchkey extension's Bitbucket form.
type bbDelivery struct {
	ID              int64             `json:"id"`
	RequestID       string            `json:"requestId"`
	Event           string            `json:"event"`
	State           string            `json:"state"` // PENDING, DELIVERED or FAILED
	Attempts        int               `json:"attempts"`
	CreatedDate     int64             `json:"createdDate"`
	NextAttemptDate int64             `json:"nextAttemptDate,omitempty"`
	RequestHeaders  map[string]string `json:"requestHeaders"`
	RequestBody     string            `json:"requestBody"`
	// The latest attempt, when there was one.
	Invocation *bbInvocation `json:"latestInvocation,omitempty"`
	// StatusCode and ResponseBody are the latest attempt's answer.
	StatusCode   int    `json:"statusCode,omitempty"`
	ResponseBody string `json:"responseBody,omitempty"`
}

// bbDeliveries is the Latchkey extension GET …/webhooks/{id}/deliveries.
func (a *API) bbDeliveries(r *http.Request, c *oauth.Caller) (int, any, error) {
	hook, err := a.adminHook(r, c, r.PathValue("key"), r.PathValue("slug"), store.HookBitbucket)
	if err != nil {
		return 0, nil, err
	}
	return pagedSeq(r, mapSeq(a.recentDeliveries(r, hook.ID), func(d store.Delivery) bbDelivery {
		out := bbDelivery{ID: d.ID, RequestID: d.GUID, Event: d.Event, State: upper(d.State), Attempts: d.Attempts,
			CreatedDate: millis(d.CreatedAt), RequestHeaders: d.Headers, RequestBody: string(d.Payload),
			StatusCode: d.ResponseStatus, ResponseBody: d.ResponseBody}
		if d.State == store.DeliveryPending {
			out.NextAttemptDate = millis(d.NextAttemptAt)
		}
		if !d.AttemptedAt.IsZero() {
			inv := invocation(hook, d)
			out.Invocation = &inv
		}
		return out
	}))
}

func upper(s store.DeliveryState) string {
	switch s {
	case store.DeliveryPending:
		return "PENDING"
	case store.DeliveryDelivered:
		return "DELIVERED"
	}
	return "FAILED"
}

// giteaDelivery is one delivery in the Latchkey extension's Gitea form,
// with the words of Gitea's hook task (uuid, is_delivered, is_succeed).
type giteaDelivery struct {
	ID            int64             `json:"id"`
	UUID          string            `json:"uuid"`
	Event         string            `json:"event"`
	State         string            `json:"state"` // pending, delivered or failed
	IsDelivered   bool              `json:"is_delivered"`
	IsSucceed     bool              `json:"is_succeed"`
	Attempts      int               `json:"attempts"`
	Created       string            `json:"created"`
	NextAttempt   string            `json:"next_attempt,omitempty"`
	LastAttempt   string            `json:"last_attempt,omitempty"`
	DurationMilli int64             `json:"duration_ms"`
	Request       giteaHookRequest  `json:"request"`
	Response      giteaHookResponse `json:"response"`
}

type giteaHookRequest struct {
	URL     string            `json:"url"`
	Method  string            `json:"http_method"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

type giteaHookResponse struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error,omitempty"`
}

// giteaDeliveries is the Latchkey extension GET
// /api/v1/repos/{owner}/{repo}/hooks/{id}/deliveries.
func (a *API) giteaDeliveries(r *http.Request, c *oauth.Caller) (int, any, error) {
	hook, err := a.adminHook(r, c, r.PathValue("owner"), r.PathValue("repo"), store.HookGitea)
	if err != nil {
		return 0, nil, err
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	return giteaPagedSeq(r, mapSeq(a.recentDeliveries(r, hook.ID), func(d store.Delivery) giteaDelivery {
		out := giteaDelivery{ID: d.ID, UUID: d.GUID, Event: d.Event, State: string(d.State),
			IsDelivered: !d.AttemptedAt.IsZero(), IsSucceed: d.State == store.DeliveryDelivered, Attempts: d.Attempts,
			Created: stamp(d.CreatedAt), LastAttempt: stamp(d.AttemptedAt), DurationMilli: d.Duration.Milliseconds(),
			Request:  giteaHookRequest{URL: hook.URL, Method: http.MethodPost, Headers: d.Headers, Body: string(d.Payload)},
			Response: giteaHookResponse{Status: d.ResponseStatus, Body: d.ResponseBody, Error: d.Error}}
		if d.State == store.DeliveryPending {
			out.NextAttempt = stamp(d.NextAttemptAt)
		}
		return out
	}))
}
