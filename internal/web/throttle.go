package web

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"latchkey/internal/oauth"
)

// throttle slows down guessing: each key (an account, a client address)
// gets a few free failures, then a delay that doubles with every further
// failure, up to a cap. It is per node and in memory, which bounds a
// guesser by the number of nodes without sharing state between them.
type throttle struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]*throttleEntry
	free    int
	base    time.Duration
	ceiling time.Duration
}

type throttleEntry struct {
	failures int
	until    time.Time
	last     time.Time
}

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, entries: map[string]*throttleEntry{}, free: 5, base: time.Second, ceiling: 15 * time.Minute}
}

// Blocked returns how long key must still wait, or 0.
func (t *throttle) Blocked(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[key]
	if !ok {
		return 0
	}
	return max(e.until.Sub(t.now()), 0)
}

// Fail counts a failure for key and returns the delay it now carries.
func (t *throttle) Fail(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.prune(now)
	e, ok := t.entries[key]
	if !ok {
		e = &throttleEntry{}
		t.entries[key] = e
	}
	e.failures++
	e.last = now
	if e.failures <= t.free {
		return 0
	}
	delay := t.ceiling
	if shift := e.failures - t.free - 1; shift < 20 {
		delay = min(t.base<<shift, t.ceiling)
	}
	e.until = now.Add(delay)
	return delay
}

// Reset forgets key's failures (after a success).
func (t *throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// prune drops entries idle for longer than the cap, so memory stays bounded
// by recent activity.
func (t *throttle) prune(now time.Time) {
	if len(t.entries) < 10000 {
		return
	}
	for k, e := range t.entries {
		if now.Sub(e.last) > t.ceiling && now.After(e.until) {
			delete(t.entries, k)
		}
	}
}

// clientAddress is the address a request came from (without port).
func clientAddress(r *http.Request) string { return oauth.RemoteAddress(r) }

func tooManyAttempts(wait time.Duration) string {
	return fmt.Sprintf("Too many failed attempts. Wait %s and try again.", wait.Round(time.Second))
}
