// Package logout ends OpenID Connect sessions for relying parties: it
// checks RP-initiated logout requests (OpenID Connect RP-Initiated Logout
// 1.0) for the end-session page of package web, and sends back-channel
// logout tokens (OpenID Connect Back-Channel Logout 1.0) to the clients a
// session signed in to, when that session ends.
//
// Control flow: package web serves the end-session endpoint and asks
// Check what a request may do; whoever ends a session (the end-session
// page, the sign-out button, "sign out everywhere", a password change, an
// administrator, disabling a user, a factor reset) calls SessionEnded or
// UserSignedOut, which queue one logout token per client in the database
// (store.LogoutDelivery); every node runs a worker (Start) that claims due
// deliveries with a lease, so that each is sent by one node at a time, and
// POSTs them through the guarded outbound client, retrying with backoff a
// bounded number of times.
//
// Ending a Latchkey session does not revoke the session's token
// families: it ends the relying parties' sessions (that is what the
// logout token asks of them), as GitHub and Keycloak users expect of
// "sign out"; refresh tokens are ended by revocation, by "sign out
// everywhere" and by a password change (which revoke them themselves).
package logout

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"latchkey/internal/delivery"
	"latchkey/internal/oidc"
	"latchkey/internal/outbound"
	"latchkey/internal/store"
)

// BackchannelEvent is the member of a logout token's events claim.
const BackchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// Defaults of Config.
const (
	DefaultTokenTTL     = 2 * time.Minute
	DefaultTimeout      = 5 * time.Second
	DefaultPollInterval = 5 * time.Second
	DefaultMaxAttempts  = 6
	DefaultRetryBackoff = 5 * time.Second
	DefaultMaxBackoff   = 10 * time.Minute
	DefaultConcurrency  = 4
	// keepFinished is how long finished deliveries stay listed.
	keepFinished = 7 * 24 * time.Hour
)

// Config is what the service needs. Zero durations and counts take the
// defaults above.
type Config struct {
	Store  store.Store
	Keys   *oidc.Keys
	Issuer string
	// Client sends logout tokens; it must be the guarded outbound client
	// (package outbound), never a plain one.
	Client *outbound.Client
	Now    func() time.Time
	Logger *slog.Logger
	// TokenTTL is the lifetime of a logout token (its exp); each attempt
	// signs a fresh one with the delivery's jti.
	TokenTTL     time.Duration
	Timeout      time.Duration // bounds one POST
	PollInterval time.Duration
	MaxAttempts  int           // attempts before a delivery is marked failed
	RetryBackoff time.Duration // wait after the first failed attempt, doubled after each further one
	MaxBackoff   time.Duration
	Concurrency  int
}

// Service checks end-session requests, queues logout tokens and sends them.
type Service struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.TokenTTL = cmp.Or(cfg.TokenTTL, DefaultTokenTTL)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.RetryBackoff = cmp.Or(cfg.RetryBackoff, DefaultRetryBackoff)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, DefaultConcurrency)
	return &Service{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}
}

// Ender is what code that ends sessions calls, so that the relying
// parties those sessions signed in to are told. Both methods only queue
// (in the database, in one transaction); the worker sends. An error means
// nothing was queued; callers log it and go on ending the session (a
// sign-out must not fail because a relying party cannot be told).
type Ender interface {
	// SessionEnded queues a logout token (sub and sid) for every client
	// with a back-channel logout URI that session sess signed in to (its
	// token families carry sess.SID). A session without a SID (made
	// before sids existed) names no client: nothing is queued.
	SessionEnded(ctx context.Context, sess store.Session) error
	// UserSignedOut queues, for a user-wide event (sign out everywhere,
	// password change, administrator sign-out, user disabled, factor
	// reset), one logout token per (client, session) of every family of
	// the user whose client has a back-channel logout URI: with the
	// session's sid, or with sub only for a family made without one.
	// keepSID, when not "", is a session that stays signed in (sign out
	// everywhere else): its clients, and families without a sid, are
	// left alone.
	UserSignedOut(ctx context.Context, userID int64, keepSID string) error
}

var _ Ender = (*Service)(nil)

// SessionEnded implements Ender.
func (s *Service) SessionEnded(ctx context.Context, sess store.Session) error {
	if sess.SID == "" || sess.UserID == 0 {
		return nil
	}
	targets, err := s.cfg.Store.LogoutTargets(ctx, sess.UserID, sess.SID)
	if err != nil {
		return fmt.Errorf("logout: find the session's clients: %w", err)
	}
	return s.enqueue(ctx, sess.UserID, targets)
}

// UserSignedOut implements Ender.
func (s *Service) UserSignedOut(ctx context.Context, userID int64, keepSID string) error {
	targets, err := s.cfg.Store.LogoutTargets(ctx, userID, "")
	if err != nil {
		return fmt.Errorf("logout: find the user's clients: %w", err)
	}
	if keepSID != "" {
		kept := targets[:0]
		for _, t := range targets {
			if t.SID != "" && t.SID != keepSID {
				kept = append(kept, t)
			}
		}
		targets = kept
	}
	return s.enqueue(ctx, userID, targets)
}

// enqueue stores one delivery per target and wakes this node's worker.
func (s *Service) enqueue(ctx context.Context, userID int64, targets []store.LogoutTarget) error {
	if len(targets) == 0 {
		return nil
	}
	now := s.cfg.Now()
	ds := make([]store.LogoutDelivery, len(targets))
	for i, t := range targets {
		ds[i] = store.LogoutDelivery{ClientID: t.Client.ID, Subject: strconv.FormatInt(userID, 10), SID: t.SID,
			JTI: rand.Text(), NextAttemptAt: now, CreatedAt: now}
	}
	if _, err := s.cfg.Store.EnqueueLogouts(ctx, ds); err != nil {
		return fmt.Errorf("logout: queue logout tokens: %w", err)
	}
	s.Wake()
	return nil
}

// Wake makes this node's worker look for due deliveries now.
func (s *Service) Wake() { delivery.Wake(s.wake) }
