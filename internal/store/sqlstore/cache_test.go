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

// A caller waits for a pull that began after it arrived; one pull serves
// all who arrived before it began; a failed pull sends reads to the
// database.
func TestSyncerWaitsForAPullThatBeganAfterTheCall(t *testing.T) {
	var pulls atomic.Int64
	gate := make(chan struct{})
	var fail atomic.Bool
	y := syncer{pull: func(context.Context) error {
		pulls.Add(1)
		<-gate
		if fail.Load() {
			return errors.New("down")
		}
		return nil
	}}
	y.cond = newCond(&y)
	done := make(chan bool, 3)
	go func() { done <- y.fresh(context.Background()) }() // starts pull 1
	for pulls.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	go func() { done <- y.fresh(context.Background()) }() // arrived during pull 1: needs pull 2
	go func() { done <- y.fresh(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	gate <- struct{}{} // pull 1 ends
	if !<-done {
		t.Fatal("pull 1 failed")
	}
	for pulls.Load() != 2 {
		time.Sleep(time.Millisecond)
	}
	fail.Store(true)
	gate <- struct{}{} // pull 2 ends, failed
	if <-done || <-done {
		t.Fatal("a failed pull reported the cache fresh")
	}
	if n := pulls.Load(); n != 2 {
		t.Fatalf("%d pulls for three callers", n)
	}
}
