package store

import (
	"context"
	"sync"
)

// ReadScope groups the reads of one request for a store's read cache: the
// cache checks once per scope, at its first cached read, that it has caught
// up with every change committed before then, instead of once per read.
// Reads in a scope therefore see the database as of that check, or later,
// except that a write committed by the same store after it (this request's
// own, or another's in this process) makes the next read check again. A
// store without a cache ignores the scope. The server opens one per HTTP
// request; background work runs without one (every read checks).
type ReadScope struct {
	mu      sync.Mutex
	checked bool
	ok      bool
	commits uint64 // the store's commit count at the check
}

type readScopeKey struct{}

// WithReadScope returns ctx with a new ReadScope.
func WithReadScope(ctx context.Context) context.Context {
	return context.WithValue(ctx, readScopeKey{}, &ReadScope{})
}

// ReadScopeOf returns ctx's ReadScope, or nil.
func ReadScopeOf(ctx context.Context) *ReadScope {
	sc, _ := ctx.Value(readScopeKey{}).(*ReadScope)
	return sc
}

// Checked reports whether the scope's check holds for a store whose commit
// count is commits: it ran, succeeded, and nothing was committed since.
func (sc *ReadScope) Checked(commits uint64) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.checked && sc.ok && sc.commits == commits
}

// Record records a check's outcome, made when the store's commit count was
// commits.
func (sc *ReadScope) Record(ok bool, commits uint64) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.checked, sc.ok, sc.commits = true, ok, commits
}
