package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"latchkey/internal/store"
)

// throttleTests state the rules of UpdateThrottle and of DeleteExpired
// for throttle counters.
var throttleTests = []test{
	{"CountersStartAtZero", testThrottleZero},
	{"WhatFnReturnsIsStoredAndTheRestKept", testThrottleStored},
	{"ZeroCounterIsDeleted", testThrottleZeroDeletes},
	{"FnErrorWritesNothingAndComesBackAsItIs", testThrottleFnError},
	{"ConcurrentUpdatesOfOneCounterAreSerialized", testThrottleConcurrent},
	{"CleanerRemovesIdleCountersWhoseDelayRanOut", testThrottleCleanup},
}

// readThrottle returns the stored counters of names.
func readThrottle(t *testing.T, s store.Store, names ...string) map[string]store.ThrottleCounter {
	t.Helper()
	var got map[string]store.ThrottleCounter
	must(t, "read throttle", s.UpdateThrottle(ctx(t), names,
		func(m map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error) {
			got = m
			return nil, nil
		}))
	return got
}

// setThrottle stores counters.
func setThrottle(t *testing.T, s store.Store, counters map[string]store.ThrottleCounter) {
	t.Helper()
	names := make([]string, 0, len(counters))
	for name := range counters {
		names = append(names, name)
	}
	must(t, "set throttle", s.UpdateThrottle(ctx(t), names,
		func(map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error) { return counters, nil }))
}

func testThrottleZero(t *testing.T, s store.Store) {
	got := readThrottle(t, s, "a", "b")
	if len(got) != 2 || got["a"] != (store.ThrottleCounter{}) || got["b"] != (store.ThrottleCounter{}) {
		t.Errorf("fresh counters = %+v, want a and b at zero", got)
	}
}

func testThrottleStored(t *testing.T, s store.Store) {
	at := now()
	a := store.ThrottleCounter{Failures: 6, Until: at.Add(time.Second), Last: at}
	b := store.ThrottleCounter{Failures: 1, Last: at}
	setThrottle(t, s, map[string]store.ThrottleCounter{"a": a, "b": b})
	must(t, "update a only", s.UpdateThrottle(ctx(t), []string{"a", "b"},
		func(m map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error) {
			c := m["a"]
			c.Failures++
			return map[string]store.ThrottleCounter{"a": c}, nil
		}))
	got := readThrottle(t, s, "a", "b")
	a.Failures++
	if !sameCounter(got["a"], a) || !sameCounter(got["b"], b) {
		t.Errorf("counters = %+v, want a = %+v and b kept as %+v", got, a, b)
	}
	err := s.UpdateThrottle(ctx(t), []string{"a"},
		func(map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error) {
			return map[string]store.ThrottleCounter{"c": {Failures: 1}}, nil
		})
	if err == nil {
		t.Error("returning a counter that was not named: err = nil, want an error")
	}
	if got := readThrottle(t, s, "c"); got["c"] != (store.ThrottleCounter{}) {
		t.Errorf("counter c that was not named = %+v, want it not written", got["c"])
	}
}

func testThrottleZeroDeletes(t *testing.T, s store.Store) {
	at := now()
	setThrottle(t, s, map[string]store.ThrottleCounter{"a": {Failures: 3, Last: at}})
	setThrottle(t, s, map[string]store.ThrottleCounter{"a": {}})
	// A deleted row is not swept: the cleaner, far in the future, finds nothing.
	if n := sweep(t, s, at.Add(24*time.Hour), 10); n != 0 {
		t.Errorf("sweep after the zero counter deleted %d rows, want 0 (the row should already be gone)", n)
	}
	if got := readThrottle(t, s, "a"); got["a"] != (store.ThrottleCounter{}) {
		t.Errorf("counter after storing zero = %+v, want zero", got["a"])
	}
}

func testThrottleFnError(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	err := s.UpdateThrottle(ctx(t), []string{"a"},
		func(map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error) {
			return map[string]store.ThrottleCounter{"a": {Failures: 9}}, boom
		})
	if err != boom {
		t.Errorf("err = %v, want fn's error as it is", err)
	}
	if got := readThrottle(t, s, "a"); got["a"] != (store.ThrottleCounter{}) {
		t.Errorf("counter after a failed fn = %+v, want zero", got["a"])
	}
}

func testThrottleConcurrent(t *testing.T, s store.Store) {
	const n = 20
	errs := parallel(n, func(int) error {
		return s.UpdateThrottle(ctx(t), []string{"shared", "other"},
			func(m map[string]store.ThrottleCounter) (map[string]store.ThrottleCounter, error) {
				c, o := m["shared"], m["other"]
				c.Failures++
				o.Failures++
				return map[string]store.ThrottleCounter{"shared": c, "other": o}, nil
			})
	})
	for i, err := range errs {
		must(t, fmt.Sprintf("concurrent update %d", i), err)
	}
	got := readThrottle(t, s, "shared", "other")
	if got["shared"].Failures != n || got["other"].Failures != n {
		t.Errorf("after %d concurrent increments: %+v, want %d failures on each", n, got, n)
	}
}

func testThrottleCleanup(t *testing.T, s store.Store) {
	at := now()
	setThrottle(t, s, map[string]store.ThrottleCounter{
		"idle":    {Failures: 2, Last: at.Add(-16 * time.Minute)},
		"ran-out": {Failures: 9, Until: at.Add(-time.Second), Last: at.Add(-20 * time.Minute)},
		"recent":  {Failures: 2, Last: at.Add(-14 * time.Minute)},
		"delayed": {Failures: 9, Until: at.Add(time.Minute), Last: at.Add(-20 * time.Minute)},
	})
	if n := sweep(t, s, at, 1); n != 2 {
		t.Errorf("sweep deleted %d rows, want 2 (the idle counters whose delay ran out)", n)
	}
	got := readThrottle(t, s, "idle", "ran-out", "recent", "delayed")
	if got["idle"] != (store.ThrottleCounter{}) || got["ran-out"] != (store.ThrottleCounter{}) {
		t.Errorf("idle counters after the sweep = %+v, %+v, want them gone", got["idle"], got["ran-out"])
	}
	if got["recent"].Failures != 2 || got["delayed"].Failures != 9 {
		t.Errorf("live counters after the sweep = %+v, %+v, want them kept", got["recent"], got["delayed"])
	}
}

// sameCounter compares counters by their instants.
func sameCounter(a, b store.ThrottleCounter) bool {
	return a.Failures == b.Failures && a.Until.Equal(b.Until) && a.Last.Equal(b.Last)
}
