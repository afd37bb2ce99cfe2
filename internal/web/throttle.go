package web

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"latchkey/internal/oauth"
	"latchkey/internal/store"
)

// throttle slows down guessing. Each key (an account, a client address, an
// account seen from one address, a remembered browser, a session) counts
// failures; past its kind's free failures a key carries a delay that
// doubles with every further failure, up to a cap.
//
// An attempt is counted before the expensive check, not after it:
// Reserve checks the keys and counts the attempt as a failure in one step
// (one store transaction that locks the keys' counters), so a burst of
// simultaneous attempts cannot all pass the check before the first
// failure is recorded. An attempt that succeeds gives its reservation back
// (Release) or clears the key (Reset).
//
// The counters live in the database (store.Store.UpdateThrottle), so every
// node behind a load balancer counts in the same ones: a guesser gets each
// budget once, however many nodes it spreads its attempts over. The rules
// are here; the store only keeps the counters, and its cleaner removes
// counters idle for 15 minutes whose delay ran out. A store error refuses
// the attempt (the caller answers it as a server error): while the
// database cannot be reached nobody signs in anyway.
type throttle struct {
	store throttleStore
	now   func() time.Time
}

// throttleStore is the part of store.Store the throttle uses.
type throttleStore interface {
	UpdateThrottle(ctx context.Context, names []string,
		fn func(map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error)) error
}

// throttleKind says how fast a key's delay grows.
type throttleKind int

const (
	// perRequester keys (a client address, an account seen from one
	// address, a browser, a session, a device-code guesser) get five free
	// failures, then a delay from one second doubling to 15 minutes.
	perRequester throttleKind = iota
	// perAccount keys count the failures at one account from everywhere:
	// a ceiling much higher than a requester's, past which the delay
	// starts at one minute and doubles to 15 minutes.
	perAccount
)

// rule returns the free failures, the first delay and the cap of a kind.
func (k throttleKind) rule() (free int, base, ceiling time.Duration) {
	if k == perAccount {
		return 20, time.Minute, 15 * time.Minute
	}
	return 5, time.Second, 15 * time.Minute
}

// throttleKey is one counter an attempt is charged to. A gate key refuses
// the attempt while it carries a delay; a key that is not a gate only
// counts.
type throttleKey struct {
	name string
	kind throttleKind
	gate bool
}

func newThrottle(s throttleStore, now func() time.Time) *throttle {
	return &throttle{store: s, now: now}
}

// keyNames returns the names of keys.
func keyNames(keys []throttleKey) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return names
}

// Reserve admits an attempt or refuses it. While any gate key carries a
// delay it returns the longest wait and counts nothing. Otherwise it
// counts the attempt as a failure on every key, at once, and returns 0:
// the caller then runs its check and, if the check succeeds, calls Release
// (or Reset) with the same keys. A store error refuses the attempt.
func (t *throttle) Reserve(ctx context.Context, keys ...throttleKey) (time.Duration, error) {
	now := t.now()
	var wait time.Duration
	err := t.store.UpdateThrottle(ctx, keyNames(keys),
		func(cur map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error) {
			wait = 0
			for _, k := range keys {
				if k.gate {
					wait = max(wait, cur[k.name].Until.Sub(now))
				}
			}
			if wait > 0 {
				return nil, nil
			}
			next := make(map[string]store.ThrottleCounter, len(keys))
			for _, k := range keys {
				next[k.name] = fail(k, next, cur, now)
			}
			return next, nil
		})
	if err != nil {
		return 0, fmt.Errorf("web: throttle: %w", err)
	}
	return wait, nil
}

// fail returns k's counter (as already changed in next, or as read in
// cur) with one more failure at now.
func fail(k throttleKey, next, cur map[string]store.ThrottleCounter, now time.Time) store.ThrottleCounter {
	c, ok := next[k.name]
	if !ok {
		c = cur[k.name]
	}
	c.Failures++
	c.Last = now
	free, base, ceiling := k.kind.rule()
	if c.Failures <= free {
		return c
	}
	delay := ceiling
	if shift := c.Failures - free - 1; shift < 20 {
		delay = min(base<<shift, ceiling)
	}
	c.Until = now.Add(delay)
	return c
}

// Release gives back the failure that Reserve counted on each key, for an
// attempt that turned out not to be a failed guess. A delay already set
// stays until it runs out.
func (t *throttle) Release(ctx context.Context, keys ...throttleKey) error {
	err := t.store.UpdateThrottle(ctx, keyNames(keys),
		func(cur map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error) {
			next := make(map[string]store.ThrottleCounter, len(keys))
			for _, k := range keys {
				c, ok := next[k.name]
				if !ok {
					c = cur[k.name]
				}
				if c.Failures > 0 {
					c.Failures--
					next[k.name] = c
				}
			}
			return next, nil
		})
	if err != nil {
		return fmt.Errorf("web: throttle: %w", err)
	}
	return nil
}

// Reset forgets the keys' failures and delays (after a success).
func (t *throttle) Reset(ctx context.Context, names ...string) error {
	err := t.store.UpdateThrottle(ctx, names,
		func(map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error) {
			gone := make(map[string]store.ThrottleCounter, len(names))
			for _, name := range names {
				gone[name] = store.ThrottleCounter{}
			}
			return gone, nil
		})
	if err != nil {
		return fmt.Errorf("web: throttle: %w", err)
	}
	return nil
}

// clientAddress is the address a request came from (without port).
func clientAddress(r *http.Request) string { return oauth.RemoteAddress(r) }

// source is what the throttle counts as one requester: the client's IPv4
// address, or the /64 network of its IPv6 address (one host commonly
// holds a whole /64, so single IPv6 addresses cost a guesser nothing).
func source(r *http.Request) string {
	addr, err := netip.ParseAddr(clientAddress(r))
	if err != nil {
		return clientAddress(r)
	}
	if addr = addr.Unmap(); addr.Is6() {
		if prefix, err := addr.WithZone("").Prefix(64); err == nil {
			return prefix.String()
		}
	}
	return addr.String()
}

func tooManyAttempts(wait time.Duration) string {
	return fmt.Sprintf("Too many failed attempts. Wait %s and try again.", wait.Round(time.Second))
}
