package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"latchkey/internal/delivery"
	"latchkey/internal/outbound"
	"latchkey/internal/store"
)

// Start runs the node's delivery worker until ctx is done or stop is
// called; stop waits for the worker, and for the deliveries it is sending
// (each bounded by the timeout) to be recorded, so call it before the
// store is closed.
func (h *Hooks) Start(ctx context.Context) (stop func()) { return h.worker().Start(ctx) }

// Run claims due deliveries and sends them, up to Concurrency at once,
// until ctx is done; then it waits for the sends under way and returns.
// It looks again at once when Wake is called, when a send ended, and
// otherwise every PollInterval (see delivery.Worker).
func (h *Hooks) Run(ctx context.Context) { h.worker().Run(ctx) }

func (h *Hooks) worker() *delivery.Worker[store.Delivery] {
	return &delivery.Worker[store.Delivery]{
		Name: "webhook", Log: h.log, Now: h.cfg.Now,
		Timeout: h.cfg.Timeout, PollInterval: h.cfg.PollInterval, Concurrency: h.cfg.Concurrency,
		Wake: h.wake, Claim: h.cfg.Store.ClaimDeliveries, Attempt: h.attempt,
	}
}

func (h *Hooks) retry() delivery.Retry {
	return delivery.Retry{MaxAttempts: h.cfg.MaxAttempts, RetryBackoff: h.cfg.RetryBackoff, MaxBackoff: h.cfg.MaxBackoff}
}

// attempt sends one claimed delivery and records the result, within ctx
// (the worker gives it delivery.AttemptBound, not its own context: once
// claimed, a delivery is sent and its result recorded even while the node
// stops).
func (h *Hooks) attempt(ctx context.Context, d store.Delivery) {
	result := h.send(ctx, d)
	err := h.cfg.Store.FinishDelivery(ctx, d.ID, result)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// The hook was deleted while the delivery was under way.
	case err != nil:
		h.log.Error("webhook: record a delivery's result", "delivery", d.ID, "error", err)
	default:
		h.log.Info("webhook delivery", "delivery", d.ID, "hook", d.HookID, "event", d.Event, "attempt", d.Attempts,
			"state", result.State, "status", result.ResponseStatus, "error", result.Error, "duration", result.Duration)
	}
}

// send makes one attempt at d and says what it came to.
func (h *Hooks) send(ctx context.Context, d store.Delivery) store.DeliveryResult {
	start := h.cfg.Now()
	result := store.DeliveryResult{AttemptedAt: start}
	finish := func(permanent bool, status int, body string, err error) store.DeliveryResult {
		result.Duration = h.cfg.Now().Sub(start)
		result.ResponseStatus, result.ResponseBody = status, body
		if err != nil {
			result.Error = err.Error()
		}
		h.retry().Settle(&result, h.cfg.Now(), err == nil && status >= 200 && status < 300, permanent, d.Attempts)
		return result
	}
	hook, err := h.cfg.Store.GetWebhook(ctx, d.RepoID, d.HookID)
	if err != nil {
		return finish(errors.Is(err, store.ErrNotFound), 0, "", fmt.Errorf("load the webhook: %w", err))
	}
	if !hook.Active {
		return finish(true, 0, "", errors.New("the webhook was deactivated before the delivery was sent"))
	}
	secret, err := h.cfg.Secrets.Open(hook.RepoID, hook.Secret)
	if err != nil {
		return finish(true, 0, "", err)
	}
	req, err := h.request(ctx, hook, d, secret)
	if err != nil {
		return finish(true, 0, "", err)
	}
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		status, body := 0, ""
		if resp != nil {
			status, body = resp.Status, text(resp.Body)
		}
		return finish(outbound.IsRefused(err), status, body, err)
	}
	err = nil
	if resp.Status < 200 || resp.Status > 299 {
		err = fmt.Errorf("the receiver answered %d", resp.Status)
	}
	return finish(permanentStatus(resp.Status), resp.Status, text(resp.Body), err)
}

// permanentStatus reports whether an answer says that sending the same
// request again cannot help: a client error other than 408 (timeout) and
// 429 (too many requests). Redirects are retried, as any other answer.
func permanentStatus(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}

// text keeps the start of an answer's body as valid UTF-8.
func text(b []byte) string {
	if len(b) > MaxResponseBody {
		b = b[:MaxResponseBody]
	}
	return strings.ToValidUTF8(string(b), string(utf8.RuneError))
}

// backoff is the wait after the attempt-th failed attempt.
func (h *Hooks) backoff(attempt int) time.Duration { return h.retry().Backoff(attempt) }

// request builds the HTTP request of a delivery: its stored body and
// event headers, and the signatures of the body with the hook's secret
// (none without a secret).
func (h *Hooks) request(ctx context.Context, hook store.Webhook, d store.Delivery, secret string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return nil, fmt.Errorf("the webhook URL: %w", err)
	}
	for k, v := range d.Headers {
		req.Header.Set(k, v)
	}
	switch hook.Kind {
	case store.HookGitea:
		req.Header.Set("User-Agent", "Latchkey (Gitea webhook)")
		if secret != "" {
			sig256 := sign(sha256.New, secret, d.Payload)
			req.Header.Set("X-Gitea-Signature", sig256)
			req.Header.Set("X-Gogs-Signature", sig256)
			req.Header.Set("X-Hub-Signature-256", "sha256="+sig256)
			req.Header.Set("X-Hub-Signature", "sha1="+sign(sha1.New, secret, d.Payload))
		}
	case store.HookBitbucket:
		req.Header.Set("User-Agent", "Latchkey (Bitbucket webhook)")
		if secret != "" {
			req.Header.Set("X-Hub-Signature", "sha256="+sign(sha256.New, secret, d.Payload))
		}
	}
	return req, nil
}

// sign is the hex HMAC of body with key.
func sign(h func() hash.Hash, key string, body []byte) string {
	mac := hmac.New(h, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}
