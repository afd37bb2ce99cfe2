package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"latchkey/internal/store"
)

// The read cache keeps in memory the rows that every token check reads
// (the bearer join, a token with its family, a user, a user's permissions,
// a client, pages of projects and repositories) so that a check costs no
// query of its own. It never serves a row that a committed change has made
// stale, on any node:
//
//   - Every change to a row such a read depends on appends the row's tag to
//     the table cache_invalidations, from a database trigger (migration
//     0018), so no write path can skip it: a node, an admin command in
//     another process, a hand-written statement.
//   - Before a cached row is served, the process catches up with every row
//     of that log committed before the read began (Store.fresh; once
//     per store.ReadScope, that is per request). On SQLite, whose writes
//     commit one at a time in sequence order, it reads the rows past the
//     last one it applied; on PostgreSQL, where sequence order is not
//     commit order, it reads the rows of every transaction that was not
//     yet settled at its previous read (see pullXids). When that fails the
//     read goes to the database (fail closed); a gap in the log, a schema
//     change, or a long pause empties the cache.
//   - A row read from the database is kept only if no invalidation of its
//     tags was applied after the read began (its asOf), so a read that
//     raced a change cannot put the old row back.
//
// Entries also expire after cacheTTL, and the cache holds at most max
// entries. Values are cloned on the way in and out; callers own theirs.

// cacheTTL bounds how long an entry is kept even if nothing changes it.
const cacheTTL = time.Minute

// cacheEntries is the read cache's size.
const cacheEntries = 50_000

// tagKind names what a tag invalidates.
type tagKind byte

const (
	tagFamily tagKind = 'f' // a token family and its tokens
	tagUser   tagKind = 'u' // a user and its permissions
	tagClient tagKind = 'c' // a client
	tagLists  tagKind = 'p' // every project and repository (id "all")
)

// cacheTag is one invalidation's subject.
type cacheTag struct {
	kind tagKind
	id   string
}

func familyTag(id int64) cacheTag  { return cacheTag{tagFamily, strconv.FormatInt(id, 10)} }
func userTag(id int64) cacheTag    { return cacheTag{tagUser, strconv.FormatInt(id, 10)} }
func clientTag(id string) cacheTag { return cacheTag{tagClient, id} }

// listsTag is the tag of every page of projects and repositories.
var listsTag = cacheTag{tagLists, "all"}

// parseTag reads a tag as the triggers write it ("f:12"); ok is false for
// anything else.
func parseTag(s string) (cacheTag, bool) {
	if len(s) < 3 || s[1] != ':' {
		return cacheTag{}, false
	}
	switch k := tagKind(s[0]); k {
	case tagFamily, tagUser, tagClient, tagLists:
		return cacheTag{k, s[2:]}, true
	}
	return cacheTag{}, false
}

// cacheKind names which read an entry answers.
type cacheKind byte

const (
	keyBearer cacheKind = iota + 1
	keyToken
	keyUser
	keyUserByName
	keyPermissions
	keyClient
	keyProjectPage
	keyRepoPage
)

type cacheKey struct {
	kind cacheKind
	s    string
	n    int64
}

type cacheEntry struct {
	val  any
	tags []cacheTag
	asOf uint64 // the applied-invalidation count when its read began
	at   time.Time
}

// readCache is the cache of one process. Its zero value is not usable;
// make it with newReadCache.
type readCache struct {
	mu      sync.Mutex
	max     int
	entries map[cacheKey]*cacheEntry
	seq     uint64              // invalidations applied so far
	floor   uint64              // entries read before this count are void
	inval   map[cacheTag]uint64 // each tag's latest invalidation
	now     func() time.Time

	sync syncer
}

func newReadCache(max int, pull func(context.Context) error) *readCache {
	c := &readCache{max: max, entries: map[cacheKey]*cacheEntry{}, inval: map[cacheTag]uint64{}, now: time.Now}
	c.sync.pull = pull
	c.sync.cond = newCond(&c.sync)
	return c
}

// snapshot returns the count to record as asOf of a read that begins now.
func (c *readCache) snapshot() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// get returns the live entry of k.
func (c *readCache) get(k cacheKey) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	if !c.valid(e) {
		delete(c.entries, k)
		return nil, false
	}
	return e.val, true
}

func (c *readCache) valid(e *cacheEntry) bool {
	if e.asOf < c.floor || c.now().Sub(e.at) >= cacheTTL {
		return false
	}
	for _, t := range e.tags {
		if c.inval[t] > e.asOf {
			return false
		}
	}
	return true
}

// put keeps v under k unless an invalidation of one of its tags was
// applied after asOf.
func (c *readCache) put(k cacheKey, v any, tags []cacheTag, asOf uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &cacheEntry{val: v, tags: tags, asOf: asOf, at: c.now()}
	if !c.valid(e) {
		return
	}
	if len(c.entries) >= c.max {
		// Full: drop about a tenth, in the map's own order (arbitrary).
		n := c.max/10 + 1
		for old := range c.entries {
			delete(c.entries, old)
			if n--; n == 0 {
				break
			}
		}
	}
	c.entries[k] = e
}

// apply records the invalidation of tags.
func (c *readCache) apply(tags ...cacheTag) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	for _, t := range tags {
		c.inval[t] = c.seq
	}
	if len(c.inval) > 4*c.max+1024 {
		c.flushLocked()
	}
}

// flush voids every entry: the invalidations that would have told which
// ones are stale may have been missed.
func (c *readCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
}

func (c *readCache) flushLocked() {
	c.seq++
	c.floor = c.seq
	c.entries = map[cacheKey]*cacheEntry{}
	c.inval = map[cacheTag]uint64{}
}

// fresh catches the cache up with every invalidation committed before it
// was called; false means it could not, and the caller must read the
// database instead. It does so once per store.ReadScope of ctx while this
// store commits nothing (see store.ReadScope).
func (s *Store) fresh(ctx context.Context) bool {
	sc := store.ReadScopeOf(ctx)
	if sc == nil {
		return s.cache.sync.fresh(ctx)
	}
	n := s.commits.Load()
	if sc.Checked(n) {
		return true
	}
	ok := s.cache.sync.fresh(ctx)
	sc.Record(ok, n)
	return ok
}

// syncer runs pull on behalf of concurrent callers: each caller waits
// until a pull that started after it arrived has finished, and one such
// pull serves every caller that arrived before it started. One pull runs
// at a time: a caller that arrives during a pull waits for it to end and
// then for the next, which serves every caller that arrived meanwhile.
// (With four pulls allowed at once, a PostgreSQL node under refresh load
// ran nearly one pull per request: 6121 pulls for 6528 rotations.)
type syncer struct {
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // pulls started so far, numbered from 1
	running bool   // a pull runs
	latest  uint64 // the highest-numbered pull that has finished
	ok      bool   // whether that pull succeeded
	pull    func(context.Context) error
}

func newCond(y *syncer) *sync.Cond { return sync.NewCond(&y.mu) }

// syncTimeout bounds one pull, whoever's call runs it.
const syncTimeout = 250 * time.Millisecond

func (y *syncer) fresh(ctx context.Context) bool {
	y.mu.Lock()
	defer y.mu.Unlock()
	arrived := y.started
	for y.latest <= arrived {
		if y.running {
			y.cond.Wait()
			continue
		}
		y.started++
		n := y.started
		y.running = true
		y.mu.Unlock()
		err := y.pullOnce(ctx)
		y.mu.Lock()
		y.running = false
		y.latest, y.ok = n, err == nil
		y.cond.Broadcast()
	}
	return y.ok
}

// pullOnce runs pull under syncTimeout. A pull that panics fails (the
// callers read the database) instead of leaving the syncer marked busy,
// which would make every later caller wait for ever.
func (y *syncer) pullOnce(ctx context.Context) (err error) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlstore: the read cache's pull panicked: %v", p)
		}
	}()
	return y.pull(pctx)
}

// page is one page of a list with the cursor after it.
type page[T any] struct {
	items []T
	next  store.Cursor
}

func clonePage[T any](p page[T]) page[T] { return page[T]{slices.Clone(p.items), p.next} }

// cachedPage is cached for a page of a list that the tags in tags cover.
func cachedPage[T any](ctx context.Context, s *Store, kind cacheKind, p store.Page, tags []cacheTag,
	load func(context.Context) ([]T, store.Cursor, error)) ([]T, store.Cursor, error) {
	pg, err := cached(ctx, s, cacheKey{kind: kind, s: string(p.After), n: int64(p.Size())}, clonePage[T],
		func(ctx context.Context) (page[T], []cacheTag, error) {
			items, next, err := load(ctx)
			return page[T]{items, next}, tags, err
		})
	return pg.items, pg.next, err
}

// cached answers a read from the cache when it is on and current, and
// otherwise from load, keeping load's answer (cloned) for the next read.
// load returns the value and the tags whose invalidation voids it; nil
// tags keep the value out of the cache.
func cached[V any](ctx context.Context, s *Store, k cacheKey, clone func(V) V,
	load func(context.Context) (V, []cacheTag, error)) (V, error) {
	c := s.cache
	if !s.fresh(ctx) {
		v, _, err := load(ctx)
		return v, err
	}
	if v, ok := c.get(k); ok {
		return clone(v.(V)), nil
	}
	asOf := c.snapshot()
	v, tags, err := load(ctx)
	if err == nil && tags != nil {
		c.put(k, clone(v), tags, asOf)
	}
	return v, err
}

func cloneToken(t store.Token) store.Token {
	t.Scopes, t.Resources = slices.Clone(t.Scopes), slices.Clone(t.Resources)
	return t
}

func cloneFamily(f store.TokenFamily) store.TokenFamily {
	f.Scopes, f.Resources = slices.Clone(f.Scopes), slices.Clone(f.Resources)
	return f
}
