package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"latchkey/internal/oauth"
)

// throttle slows down guessing. Each key (an account, a client address, an
// account seen from one address, a remembered browser, a session) counts
// failures; past its kind's free failures a key carries a delay that
// doubles with every further failure, up to a cap.
//
// An attempt is counted before the expensive check, not after it:
// Reserve checks the keys and counts the attempt as a failure in one step
// under the lock, so a burst of simultaneous attempts cannot all pass the
// check before the first failure is recorded. An attempt that succeeds
// gives its reservation back (Release) or clears the key (Reset).
//
// The state is per node and in memory: with n nodes behind a load
// balancer a guesser gets at most n times each budget. No state is shared
// between nodes.
type throttle struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]*throttleEntry
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

type throttleEntry struct {
	failures int
	until    time.Time
	last     time.Time
}

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, entries: map[string]*throttleEntry{}}
}

// Reserve admits an attempt or refuses it. While any gate key carries a
// delay it returns the longest wait and counts nothing. Otherwise it
// counts the attempt as a failure on every key, at once, and returns 0:
// the caller then runs its check and, if the check succeeds, calls Release
// (or Reset) with the same keys.
func (t *throttle) Reserve(keys ...throttleKey) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.prune(now)
	var wait time.Duration
	for _, k := range keys {
		if e, ok := t.entries[k.name]; ok && k.gate {
			wait = max(wait, e.until.Sub(now))
		}
	}
	if wait > 0 {
		return wait
	}
	for _, k := range keys {
		t.fail(k, now)
	}
	return 0
}

// fail counts one failure for k. The caller holds the lock.
func (t *throttle) fail(k throttleKey, now time.Time) {
	e, ok := t.entries[k.name]
	if !ok {
		e = &throttleEntry{}
		t.entries[k.name] = e
	}
	e.failures++
	e.last = now
	free, base, ceiling := k.kind.rule()
	if e.failures <= free {
		return
	}
	delay := ceiling
	if shift := e.failures - free - 1; shift < 20 {
		delay = min(base<<shift, ceiling)
	}
	e.until = now.Add(delay)
}

// Release gives back the failure that Reserve counted on each key, for an
// attempt that turned out not to be a failed guess. A delay already set
// stays until it runs out.
func (t *throttle) Release(keys ...throttleKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if e, ok := t.entries[k.name]; ok && e.failures > 0 {
			e.failures--
		}
	}
}

// Reset forgets a key's failures and delay (after a success).
func (t *throttle) Reset(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, name)
}

// prune drops entries idle for longer than the cap, so memory stays bounded
// by recent activity.
func (t *throttle) prune(now time.Time) {
	if len(t.entries) < 10000 {
		return
	}
	for k, e := range t.entries {
		if now.Sub(e.last) > 15*time.Minute && now.After(e.until) {
			delete(t.entries, k)
		}
	}
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
