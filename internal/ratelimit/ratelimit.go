// Package ratelimit limits how often the unauthenticated protocol
// endpoints may be called, per client and per source address: one
// Limiter interface with two backends, and one Guard that wraps an
// endpoint's handler.
//
// The algorithm is GCRA (the generic cell rate algorithm, a token bucket
// kept as one timestamp): a Rule of Limit requests per Window lets Limit
// requests through at once and then one every Window/Limit. Each bucket is
// one theoretical arrival time (TAT); a request moves it Window/Limit
// later, and is refused when that would put it more than Window ahead of
// now. A refused request changes nothing, so a client that waits as long
// as Retry-After says gets through.
//
// Memory keeps the buckets in the process (one node, as on SQLite);
// Shared keeps them in the database through store.Store.TakeRate, one row
// per bucket updated atomically, so that every node sharing a PostgreSQL
// database counts in the same buckets. When the database cannot answer,
// Shared lets the request through (fails open) and the endpoint answers
// as it would without a limit: the limit protects the database, it must
// not become a second way for an outage to refuse everything.
package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"
)

// Rule is Limit requests per Window, Limit of them at once at most. A
// Limit of zero or less, or a Window of zero or less, means no limit.
type Rule struct {
	Limit  int
	Window time.Duration
}

// Off reports whether the rule limits nothing.
func (r Rule) Off() bool { return r.Limit <= 0 || r.Window <= 0 }

// interval is the time one request costs: Window/Limit, at least a
// microsecond (the Shared backend's resolution).
func (r Rule) interval() time.Duration {
	return max(r.Window/time.Duration(r.Limit), time.Microsecond)
}

// wait is how long after now a bucket whose TAT is tat lets the next
// request through: the moved TAT, tat+interval, must be at most Window
// after now.
func (r Rule) wait(tat, now time.Time) time.Duration {
	return max(tat.Add(r.interval()).Sub(now)-r.Window, 0)
}

// Limiter spends requests from buckets. Take spends one request of bucket
// under rule at now (rule is not Off) and says whether it is allowed and,
// when it is not, how long until a request would be.
type Limiter interface {
	Take(ctx context.Context, bucket string, rule Rule, now time.Time) (allowed bool, retryAfter time.Duration, err error)
}

// Memory is a Limiter for one process. The zero value is not usable: use
// NewMemory.
type Memory struct {
	mu        sync.Mutex
	tat       map[string]time.Time
	lastSweep time.Time
}

// NewMemory returns an empty in-process limiter.
func NewMemory() *Memory { return &Memory{tat: map[string]time.Time{}} }

// sweepEvery is how often Memory forgets buckets whose TAT has passed
// (they are full again, exactly like absent ones).
const sweepEvery = time.Minute

// Take implements Limiter.
func (m *Memory) Take(_ context.Context, bucket string, rule Rule, now time.Time) (bool, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) >= sweepEvery {
		for k, t := range m.tat {
			if t.Before(now) {
				delete(m.tat, k)
			}
		}
		m.lastSweep = now
	}
	tat, ok := m.tat[bucket]
	if !ok || tat.Before(now) {
		tat = now
	}
	if wait := rule.wait(tat, now); wait > 0 {
		return false, wait, nil
	}
	m.tat[bucket] = tat.Add(rule.interval())
	return true, 0, nil
}

// Taker is the part of store.Store that Shared needs.
type Taker interface {
	TakeRate(ctx context.Context, bucket string, now time.Time, interval, burst time.Duration) (bool, time.Time, error)
}

// Shared is a Limiter whose buckets are rows of the shared database.
type Shared struct{ Store Taker }

// Take implements Limiter.
func (s Shared) Take(ctx context.Context, bucket string, rule Rule, now time.Time) (bool, time.Duration, error) {
	ok, tat, err := s.Store.TakeRate(ctx, bucket, now, rule.interval(), rule.Window)
	if err != nil || ok {
		return ok, 0, err
	}
	return false, rule.wait(tat, now), nil
}

// RetryAfterSeconds is the Retry-After value for a wait: whole seconds,
// rounded up, at least 1.
func RetryAfterSeconds(wait time.Duration) int64 {
	return max(int64(math.Ceil(wait.Seconds())), 1)
}
