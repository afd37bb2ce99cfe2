package logout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4/jwt"

	"latchkey/internal/delivery"
	"latchkey/internal/outbound"
	"latchkey/internal/store"
)

// Claims are the claims of a logout token (Back-Channel Logout 1.0 §2.4):
// iss, aud (the client), iat, exp, jti, events, sub and, for a session's
// logout, sid; never nonce.
type Claims struct {
	jwt.Claims
	SID    string                    `json:"sid,omitempty"`
	Events map[string]map[string]any `json:"events"`
}

// Token signs the logout token of a delivery, issued now.
func (s *Service) Token(ctx context.Context, d store.LogoutDelivery) (string, error) {
	sign, err := s.cfg.Keys.LogoutTokenSigner(ctx)
	if err != nil {
		return "", err
	}
	now := s.cfg.Now()
	return sign(Claims{
		Claims: jwt.Claims{Issuer: s.cfg.Issuer, Subject: d.Subject, Audience: jwt.Audience{d.ClientID},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(s.cfg.TokenTTL)), ID: d.JTI},
		SID:    d.SID,
		Events: map[string]map[string]any{BackchannelEvent: {}},
	})
}

// Start runs the node's worker until ctx is done or stop is called; stop
// waits for the sends under way to be recorded, so call it before the
// store is closed.
func (s *Service) Start(ctx context.Context) (stop func()) { return s.worker().Start(ctx) }

// Run claims due deliveries and sends them, up to Concurrency at once,
// until ctx is done, then waits for the sends under way. It looks again
// when Wake is called, when a send ends, and otherwise every
// PollInterval; it also prunes deliveries finished a week ago.
func (s *Service) Run(ctx context.Context) { s.worker().Run(ctx) }

func (s *Service) worker() *delivery.Worker[store.LogoutDelivery] {
	return &delivery.Worker[store.LogoutDelivery]{
		Name: "logout", Log: s.log, Now: s.cfg.Now,
		Timeout: s.cfg.Timeout, PollInterval: s.cfg.PollInterval, Concurrency: s.cfg.Concurrency,
		Wake: s.wake, Claim: s.cfg.Store.ClaimLogouts, Attempt: s.attempt,
		After: func(ctx context.Context) {
			if _, err := s.cfg.Store.PruneLogouts(ctx, s.cfg.Now().Add(-keepFinished), 100); err != nil && ctx.Err() == nil {
				s.log.Warn("logout: prune deliveries", "error", err)
			}
		},
	}
}

func (s *Service) retry() delivery.Retry {
	return delivery.Retry{MaxAttempts: s.cfg.MaxAttempts, RetryBackoff: s.cfg.RetryBackoff, MaxBackoff: s.cfg.MaxBackoff}
}

// attempt sends one claimed delivery and records the result, within ctx
// (the worker gives it delivery.AttemptBound, not its own context: a
// claimed delivery is finished even while the node stops).
func (s *Service) attempt(ctx context.Context, d store.LogoutDelivery) {
	result := s.send(ctx, d)
	err := s.cfg.Store.FinishLogout(ctx, d.ID, result)
	switch {
	case errors.Is(err, store.ErrNotFound): // the client was deleted meanwhile
	case err != nil:
		s.log.Error("logout: record a delivery's result", "delivery", d.ID, "error", err)
	default:
		s.log.Info("back-channel logout", "delivery", d.ID, "client", d.ClientID, "attempt", d.Attempts,
			"state", result.State, "status", result.ResponseStatus, "error", result.Error)
	}
}

// send makes one attempt at d and says what it came to.
func (s *Service) send(ctx context.Context, d store.LogoutDelivery) store.DeliveryResult {
	start := s.cfg.Now()
	result := store.DeliveryResult{AttemptedAt: start}
	finish := func(permanent bool, status int, err error) store.DeliveryResult {
		result.Duration = s.cfg.Now().Sub(start)
		result.ResponseStatus = status
		if err != nil {
			result.Error = err.Error()
		}
		s.retry().Settle(&result, s.cfg.Now(), err == nil, permanent, d.Attempts)
		return result
	}
	client, err := s.cfg.Store.GetClient(ctx, d.ClientID)
	if err != nil {
		return finish(errors.Is(err, store.ErrNotFound), 0, fmt.Errorf("load the client: %w", err))
	}
	if client.BackchannelLogoutURI == "" {
		return finish(true, 0, errors.New("the client no longer has a back-channel logout URI"))
	}
	token, err := s.Token(ctx, d)
	if err != nil {
		return finish(false, 0, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, client.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return finish(true, 0, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Latchkey-Logout")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.Status
		}
		return finish(outbound.IsRefused(err), status, err)
	}
	// §2.8: 200 (or 204) is success; 400 says the RP refused the token,
	// which the same token will not change; anything else may pass.
	switch {
	case resp.Status >= 200 && resp.Status < 300:
		return finish(false, resp.Status, nil)
	case resp.Status == http.StatusBadRequest:
		return finish(true, resp.Status, fmt.Errorf("the relying party refused the logout token (400)"))
	default:
		return finish(false, resp.Status, fmt.Errorf("the relying party answered %d", resp.Status))
	}
}
