package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// Config says how a Guard limits. Zero rules limit nothing.
type Config struct {
	Limiter Limiter
	// PerClient is the rule for the requests of one client (the client_id
	// a request claims, authenticated or not) at one endpoint.
	PerClient Rule
	// PerAddress is the rule for the requests of one source address (an
	// IPv6 address counts by its /64) at one endpoint.
	PerAddress Rule
	// Timeout bounds one Take; past it the request goes through. Default 1s.
	Timeout time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Guard applies the limits to the endpoints it wraps. A nil *Guard, or
// one whose rules are both Off, wraps nothing.
type Guard struct{ cfg Config }

// New returns a Guard; it needs a Limiter unless both rules are Off.
func New(cfg Config) *Guard {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Guard{cfg: cfg}
}

// Endpoint is one limited endpoint.
type Endpoint struct {
	// Name is the endpoint's buckets' family: the paths of both dialects
	// for one endpoint share a name, and so their buckets.
	Name string
	// Client returns the client ID the request claims, "" for none. It
	// must leave the request readable by the handler.
	Client func(*http.Request) string
	// Refuse writes the answer to a refused request in the endpoint's
	// protocol; the Guard has set Retry-After already.
	Refuse func(w http.ResponseWriter, r *http.Request, retryAfter time.Duration)
}

// Wrap returns next behind the limits: first the request's source address
// (r.RemoteAddr, which the server's middleware has already replaced with
// the client's address when a trusted proxy forwarded it), then the client
// it claims. A refused request gets Retry-After and e.Refuse's answer, and
// next does not run.
func (g *Guard) Wrap(e Endpoint, next http.Handler) http.Handler {
	if g == nil || (g.cfg.PerClient.Off() && g.cfg.PerAddress.Off()) {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wait, refused := g.check(r, e); refused {
			w.Header().Set("Retry-After", strconv.FormatInt(RetryAfterSeconds(wait), 10))
			e.Refuse(w, r, wait)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// check spends the request from its address's bucket, then its client's.
func (g *Guard) check(r *http.Request, e Endpoint) (time.Duration, bool) {
	now := g.cfg.Now()
	if addr := sourceKey(r.RemoteAddr); addr != "" {
		if wait, refused := g.take(r.Context(), "address", e.Name, addr, g.cfg.PerAddress, now); refused {
			return wait, true
		}
	}
	if e.Client != nil {
		if client := e.Client(r); client != "" {
			return g.take(r.Context(), "client", e.Name, client, g.cfg.PerClient, now)
		}
	}
	return 0, false
}

// take spends one request from the bucket of (kind, endpoint, key).
// Errors let the request through (fail open) and are logged.
func (g *Guard) take(ctx context.Context, kind, endpoint, key string, rule Rule, now time.Time) (time.Duration, bool) {
	if rule.Off() {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	ok, wait, err := g.cfg.Limiter.Take(ctx, bucketName(kind, endpoint, key), rule, now)
	if err != nil {
		g.cfg.Logger.Warn("rate limit unavailable: request let through", "endpoint", endpoint, "by", kind, "error", err)
		return 0, false
	}
	if !ok {
		g.cfg.Logger.Info("rate limit reached", "endpoint", endpoint, "by", kind, "retry_after", wait.String())
	}
	return wait, !ok
}

// bucketName names a bucket by a hash, so that what a caller sends (a
// client ID of any length and content) is never stored as it is.
func bucketName(kind, endpoint, key string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + endpoint + "\x00" + key))
	return hex.EncodeToString(sum[:16])
}

// sourceKey is the bucket key of a source address: an IPv4 address as it
// is, an IPv6 address by its /64 (one subscriber's usual share), "" when
// RemoteAddr is not an address.
func sourceKey(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	addr := ap.Addr()
	if err != nil {
		if addr, err = netip.ParseAddr(remote); err != nil {
			return ""
		}
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}
