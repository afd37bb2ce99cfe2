// Package cleanup runs the background cleaner of a Latchkey node: every
// interval (with jitter) it deletes expired authorization codes, sessions
// and tokens and dead token families through store.DeleteExpired, in
// bounded batches, so that no statement holds locks for long and request
// traffic keeps flowing meanwhile.
//
// Every node runs its own cleaner on the shared database; they need no
// coordination. The store skips rows another cleaner is already deleting,
// and the jitter keeps nodes started together from sweeping in step.
package cleanup

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"latchkey/internal/store"
)

// Deleter is the part of store.Store the cleaner needs.
type Deleter interface {
	DeleteExpired(ctx context.Context, now time.Time, batch int) (int, error)
}

// Defaults for the zero fields of Config.
const (
	DefaultInterval  = 5 * time.Minute // the --cleanup-interval default
	DefaultBatch     = 500
	DefaultGrace     = time.Minute
	DefaultMaxRounds = 1000
	DefaultPause     = 20 * time.Millisecond
)

// Config says what to clean and how often. Zero fields other than
// Interval take the defaults.
type Config struct {
	Store Deleter
	// Interval is the average time between sweeps. Zero or negative
	// disables the cleaner (Run returns at once).
	Interval time.Duration
	// Jitter is the largest random shift of each wait, as a fraction of
	// Interval (0.2 waits between 0.8 and 1.2 times Interval); the first
	// sweep comes after a random fraction of the first wait. Default 0.2.
	Jitter float64
	// Batch is the number of rows of each kind one call deletes.
	Batch int
	// Grace is subtracted from the clock before rows are compared with
	// their expiry, so that nodes whose clocks run a little ahead never
	// delete a row another node still considers live.
	Grace time.Duration
	// MaxRounds bounds the calls of one sweep; what is left waits for the
	// next sweep.
	MaxRounds int
	// Pause is the rest between two calls of one sweep.
	Pause time.Duration
	// AuditRetention is how long audit events are kept; zero keeps them
	// for ever. It needs a Store that can delete them (store.Store can).
	AuditRetention time.Duration
	// UnusedClientsAfter is how long a self-registered client (RFC 7591,
	// store.OriginRegistered) or one known by its client ID metadata
	// document (store.OriginMetadata) may go with no token family created or used
	// before it is deleted; zero keeps them. It needs a Store that can
	// delete them (store.Store can).
	UnusedClientsAfter time.Duration
	Now                func() time.Time
	Logger             *slog.Logger
}

func (c *Config) fill() {
	if c.Jitter <= 0 || c.Jitter >= 1 {
		c.Jitter = 0.2
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.MaxRounds <= 0 {
		c.MaxRounds = DefaultMaxRounds
	}
	if c.Pause <= 0 {
		c.Pause = DefaultPause
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Start runs the cleaner in a goroutine until ctx ends or stop is called;
// stop also waits for a sweep in progress to give up, so call it before
// closing the store.
func Start(ctx context.Context, cfg Config) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { Run(ctx, cfg) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// Run sweeps every interval until ctx ends. It logs failures (a database
// that is down, say) and tries again at the next sweep.
func Run(ctx context.Context, cfg Config) {
	cfg.fill()
	if cfg.Interval <= 0 {
		cfg.Logger.Info("background cleanup disabled")
		return
	}
	wait := time.Duration(rand.Float64() * float64(next(cfg)))
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		Sweep(ctx, cfg)
		wait = next(cfg)
	}
}

// next returns the interval shifted by a random jitter.
func next(cfg Config) time.Duration {
	shift := (rand.Float64()*2 - 1) * cfg.Jitter
	return time.Duration(float64(cfg.Interval) * (1 + shift))
}

// auditPruner is the optional part of the store that deletes old audit events.
type auditPruner interface {
	DeleteAuditBefore(ctx context.Context, before time.Time, batch int) (int, error)
}

// cacheLogPruner is the optional part of the store that deletes the rows
// of its cache-invalidation log that no node needs any more.
type cacheLogPruner interface {
	PruneCacheLog(ctx context.Context, batch int) (int, error)
}

// unusedClientDeleter is the optional part of the store that deletes
// clients nobody uses.
type unusedClientDeleter interface {
	DeleteUnusedClients(ctx context.Context, origin store.ClientOrigin, cutoff time.Time, batch int) (int, error)
}

// Sweep deletes what has expired, audit events older than the retention
// and self-registered and metadata-document clients unused for longer
// than UnusedClientsAfter
// (with their codes, consents and token families), batch after batch,
// until a call deletes nothing, MaxRounds calls have run, a call fails or
// ctx ends. It returns the number of rows deleted.
func Sweep(ctx context.Context, cfg Config) int {
	cfg.fill()
	start := time.Now()
	total := rounds(ctx, cfg, func() (int, error) {
		return cfg.Store.DeleteExpired(ctx, cfg.Now().Add(-cfg.Grace), cfg.Batch)
	})
	if p, ok := cfg.Store.(auditPruner); ok && cfg.AuditRetention > 0 {
		total += rounds(ctx, cfg, func() (int, error) {
			return p.DeleteAuditBefore(ctx, cfg.Now().Add(-cfg.AuditRetention), cfg.Batch)
		})
	}
	if d, ok := cfg.Store.(unusedClientDeleter); ok && cfg.UnusedClientsAfter > 0 {
		// Clients known by their metadata documents go the same way: the
		// next use fetches the document again.
		for _, origin := range []store.ClientOrigin{store.OriginRegistered, store.OriginMetadata} {
			clients := rounds(ctx, cfg, func() (int, error) {
				return d.DeleteUnusedClients(ctx, origin, cfg.Now().Add(-cfg.UnusedClientsAfter), cfg.Batch)
			})
			if clients > 0 {
				cfg.Logger.Info("cleanup: deleted unused clients that no administrator registered", "origin", string(origin),
					"clients", clients, "unused_for", cfg.UnusedClientsAfter.String())
			}
			total += clients
		}
	}
	if p, ok := cfg.Store.(cacheLogPruner); ok {
		// Bookkeeping, not expired data: logged apart, not in the total.
		if n := rounds(ctx, cfg, func() (int, error) { return p.PruneCacheLog(ctx, cfg.Batch) }); n > 0 {
			cfg.Logger.Debug("cleanup: pruned the cache invalidation log", "rows", n)
		}
	}
	if total > 0 {
		cfg.Logger.Info("cleanup", "deleted", total, "duration", time.Since(start))
	}
	return total
}

// rounds calls del until it deletes nothing, MaxRounds calls have run, a
// call fails or ctx ends, and returns the number of rows deleted.
func rounds(ctx context.Context, cfg Config, del func() (int, error)) int {
	total := 0
	for round := 0; round < cfg.MaxRounds; round++ {
		if round > 0 && !rest(ctx, cfg.Pause) {
			break
		}
		n, err := del()
		total += n
		if err != nil {
			if ctx.Err() == nil {
				cfg.Logger.Warn("cleanup failed", "error", err, "deleted", total)
			}
			return total
		}
		if n == 0 {
			break
		}
	}
	return total
}

// rest pauses for d; it reports false if ctx ended first.
func rest(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
