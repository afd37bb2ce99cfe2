package logout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

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
func (s *Service) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// lease is how long a claimed delivery is this node's: longer than an
// attempt may last, so that no other node sends it meanwhile; a node that
// dies mid-attempt leaves it to be sent again once the lease has passed.
func (s *Service) lease() time.Duration { return 2*s.cfg.Timeout + 10*time.Second }

// Run claims due deliveries and sends them, up to Concurrency at once,
// until ctx is done, then waits for the sends under way. It looks again
// when Wake is called, when a send ends, and otherwise every
// PollInterval; it also prunes deliveries finished a week ago.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, s.cfg.Concurrency)
	freed := make(chan struct{}, 1)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		case <-freed:
		}
		for ctx.Err() == nil {
			free := cap(slots) - len(slots)
			if free == 0 {
				break
			}
			ds, err := s.cfg.Store.ClaimLogouts(ctx, s.cfg.Now(), s.lease(), free)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("logout: claim deliveries", "error", err)
				}
				break
			}
			for _, d := range ds {
				slots <- struct{}{}
				wg.Go(func() {
					s.attempt(d)
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				})
			}
			if len(ds) < free {
				break
			}
		}
		if _, err := s.cfg.Store.PruneLogouts(ctx, s.cfg.Now().Add(-keepFinished), 100); err != nil && ctx.Err() == nil {
			s.log.Warn("logout: prune deliveries", "error", err)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(s.cfg.PollInterval)
	}
}

// attempt sends one claimed delivery and records the result, within its
// own bound (not the worker's context: a claimed delivery is finished
// even while the node stops).
func (s *Service) attempt(d store.LogoutDelivery) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout+5*time.Second)
	defer cancel()
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
		switch {
		case err == nil:
			result.State = store.DeliveryDelivered
		case permanent || d.Attempts >= s.cfg.MaxAttempts:
			result.State = store.DeliveryFailed
		default:
			result.State = store.DeliveryPending
			result.NextAttemptAt = s.cfg.Now().Add(s.backoff(d.Attempts))
		}
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

// backoff is the wait after the attempt-th failed attempt.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.cfg.RetryBackoff
	for i := 1; i < attempt && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}
