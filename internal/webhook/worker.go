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
	"sync"
	"time"
	"unicode/utf8"

	"latchkey/internal/outbound"
	"latchkey/internal/store"
)

// Start runs the node's delivery worker until ctx is done or stop is
// called; stop waits for the worker, and for the deliveries it is sending
// (each bounded by the timeout) to be recorded, so call it before the
// store is closed.
func (h *Hooks) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// lease is how long a claimed delivery is this node's: longer than an
// attempt may last (attemptBound), so that no other node sends it
// meanwhile. A node killed during an attempt leaves the delivery leased:
// it is sent again once the lease has passed.
func (h *Hooks) lease() time.Duration { return 2*h.cfg.Timeout + 10*time.Second }

// attemptBound bounds one attempt: the request (itself bounded by the
// timeout) and recording its result.
func (h *Hooks) attemptBound() time.Duration { return h.cfg.Timeout + 5*time.Second }

// Run claims due deliveries and sends them, up to Concurrency at once,
// until ctx is done; then it waits for the sends under way and returns.
// It looks again at once when Wake is called, when a send ended while
// every slot was busy, and otherwise every PollInterval.
func (h *Hooks) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, h.cfg.Concurrency)
	freed := make(chan struct{}, 1)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case <-timer.C:
		case <-freed:
		}
		for ctx.Err() == nil {
			free := cap(slots) - len(slots)
			if free == 0 {
				break
			}
			ds, err := h.cfg.Store.ClaimDeliveries(ctx, h.cfg.Now(), h.lease(), free)
			if err != nil {
				if ctx.Err() == nil {
					h.log.Warn("webhook: claim deliveries", "error", err)
				}
				break
			}
			for _, d := range ds {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					h.attempt(d)
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				}()
			}
			if len(ds) < free {
				break // nothing more is due
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(h.cfg.PollInterval)
	}
}

// attempt sends one claimed delivery and records the result. It does not
// take the worker's context: once claimed, a delivery is sent and its
// result recorded even while the node stops, within the timeout.
func (h *Hooks) attempt(d store.Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), h.attemptBound())
	defer cancel()
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
		switch {
		case err == nil && status >= 200 && status < 300:
			result.State = store.DeliveryDelivered
		case permanent || d.Attempts >= h.cfg.MaxAttempts:
			result.State = store.DeliveryFailed
		default:
			result.State = store.DeliveryPending
			result.NextAttemptAt = h.cfg.Now().Add(h.backoff(d.Attempts))
		}
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
func (h *Hooks) backoff(attempt int) time.Duration {
	d := h.cfg.RetryBackoff
	for i := 1; i < attempt && d < h.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, h.cfg.MaxBackoff)
}

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
