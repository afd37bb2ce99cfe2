package sqlstore

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadCacheKeepsNoRowThatRacedAChange(t *testing.T) {
	c := newReadCache(10, func(context.Context) error { return nil })
	k := cacheKey{kind: keyUser, n: 1}
	asOf := c.snapshot() // a read begins
	c.apply(userTag(1))  // a change to its row is applied meanwhile
	c.put(k, "old", []cacheTag{userTag(1)}, asOf)
	if _, ok := c.get(k); ok {
		t.Fatal("a row read before its change was kept")
	}
	c.put(k, "new", []cacheTag{userTag(1)}, c.snapshot())
	if v, ok := c.get(k); !ok || v != "new" {
		t.Fatalf("get = %v, %v", v, ok)
	}
	c.apply(userTag(2)) // another row's change leaves it
	if _, ok := c.get(k); !ok {
		t.Fatal("another tag's change voided the entry")
	}
	c.apply(userTag(1))
	if _, ok := c.get(k); ok {
		t.Fatal("a change to the row left it cached")
	}
}

func TestReadCacheFlushAndExpiry(t *testing.T) {
	c := newReadCache(10, func(context.Context) error { return nil })
	at := time.Now()
	c.now = func() time.Time { return at }
	k := cacheKey{kind: keyClient, s: "x"}
	asOf := c.snapshot()
	c.flush() // e.g. the stream broke while the read went on
	c.put(k, 1, nil, asOf)
	if _, ok := c.get(k); ok {
		t.Fatal("a row read before a flush was kept")
	}
	c.put(k, 1, nil, c.snapshot())
	at = at.Add(cacheTTL)
	if _, ok := c.get(k); ok {
		t.Fatal("an entry outlived cacheTTL")
	}
}

func TestReadCacheStaysWithinItsSize(t *testing.T) {
	c := newReadCache(50, func(context.Context) error { return nil })
	for i := range 1000 {
		c.put(cacheKey{kind: keyUser, n: int64(i)}, i, nil, c.snapshot())
	}
	if n := len(c.entries); n > 50 {
		t.Fatalf("%d entries", n)
	}
	for i := range 10000 {
		c.apply(userTag(int64(i)))
	}
	if n := len(c.inval); n > 4*50+1024 {
		t.Fatalf("%d tags remembered", n)
	}
}

// Every caller returns only after a pull that started after it arrived
// has finished; pulls are shared; a failed pull sends reads to the
// database.
func TestSyncerWaitsForAPullThatBeganAfterTheCall(t *testing.T) {
	var started, finished atomic.Int64 // pulls started; the highest-numbered finished
	var fail atomic.Bool
	y := syncer{pull: func(context.Context) error {
		n := started.Add(1)
		time.Sleep(200 * time.Microsecond)
		for {
			f := finished.Load()
			if f >= n || finished.CompareAndSwap(f, n) {
				break
			}
		}
		if fail.Load() {
			return errors.New("down")
		}
		return nil
	}}
	y.cond = newCond(&y)
	const callers = 64
	errs := make(chan error, callers)
	for range callers {
		go func() {
			arrived := started.Load()
			if !y.fresh(context.Background()) {
				errs <- errors.New("a pull failed")
				return
			}
			if finished.Load() <= arrived {
				errs <- errors.New("returned before a pull that began after the call finished")
				return
			}
			errs <- nil
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := started.Load(); n >= callers {
		t.Errorf("%d pulls for %d concurrent callers: none shared", n, callers)
	}
	fail.Store(true)
	if y.fresh(context.Background()) {
		t.Fatal("a failed pull reported the cache fresh")
	}
}

// A pull that panics fails its callers, who read the database, and the
// next caller runs a pull of its own instead of waiting for ever.
func TestSyncerSurvivesAPullThatPanics(t *testing.T) {
	var panics atomic.Bool
	panics.Store(true)
	y := syncer{pull: func(context.Context) error {
		if panics.Load() {
			panic("broken pull")
		}
		return nil
	}}
	y.cond = newCond(&y)
	if y.fresh(t.Context()) {
		t.Fatal("a pull that panicked counted as fresh")
	}
	panics.Store(false)
	done := make(chan bool, 1)
	go func() { done <- y.fresh(t.Context()) }()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("a pull that succeeded after a panic did not count")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the caller after a panicked pull still waits")
	}
}
