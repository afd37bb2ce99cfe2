// Package delivery is the loop shared by the node's outbound delivery
// workers (webhook deliveries, back-channel logouts): claim due rows
// under a lease, send each within a bound, record the result, and
// schedule failed attempts again with exponential backoff.
package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"latchkey/internal/store"
)

// Worker claims due deliveries of type D and attempts them, up to
// Concurrency at once. Every field but After is required.
type Worker[D any] struct {
	// Name prefixes the worker's log lines ("webhook", "logout").
	Name string
	Log  *slog.Logger
	Now  func() time.Time
	// Timeout bounds one send; the lease of a claimed delivery and the
	// bound of an attempt follow from it (Lease, AttemptBound).
	Timeout      time.Duration
	PollInterval time.Duration
	Concurrency  int
	// Wake makes the worker look for due deliveries at once.
	Wake <-chan struct{}
	// Claim leases up to n deliveries due at now for lease.
	Claim func(ctx context.Context, now time.Time, lease time.Duration, n int) ([]D, error)
	// Attempt sends one claimed delivery and records its result, within
	// ctx (bounded by AttemptBound, not the worker's context: a claimed
	// delivery is finished even while the node stops).
	Attempt func(ctx context.Context, d D)
	// After, if set, runs at the end of each pass, with the worker's
	// context (housekeeping such as pruning finished deliveries).
	After func(ctx context.Context)
}

// Lease is how long a claimed delivery is this node's: longer than an
// attempt may last (AttemptBound), so that no other node sends it
// meanwhile. A node killed during an attempt leaves the delivery leased:
// it is sent again once the lease has passed.
func Lease(timeout time.Duration) time.Duration { return 2*timeout + 10*time.Second }

// AttemptBound bounds one attempt: the request (itself bounded by the
// timeout) and recording its result.
func AttemptBound(timeout time.Duration) time.Duration { return timeout + 5*time.Second }

// Start runs the worker until ctx is done or stop is called; stop waits
// for the worker, and for the deliveries it is sending (each bounded by
// AttemptBound) to be recorded, so call it before the store is closed.
func (w *Worker[D]) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Run claims due deliveries and attempts them, up to Concurrency at once,
// until ctx is done; then it waits for the attempts under way and
// returns. It looks again at once when Wake fires, when an attempt ended,
// and otherwise every PollInterval.
func (w *Worker[D]) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, w.Concurrency)
	freed := make(chan struct{}, 1)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.Wake:
		case <-timer.C:
		case <-freed:
		}
		for ctx.Err() == nil {
			free := cap(slots) - len(slots)
			if free == 0 {
				break
			}
			ds, err := w.Claim(ctx, w.Now(), Lease(w.Timeout), free)
			if err != nil {
				if ctx.Err() == nil {
					w.Log.Warn(w.Name+": claim deliveries", "error", err)
				}
				break
			}
			for _, d := range ds {
				slots <- struct{}{}
				wg.Go(func() {
					w.attempt(d)
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				})
			}
			if len(ds) < free {
				break // nothing more is due
			}
		}
		if w.After != nil {
			w.After(ctx)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(w.PollInterval)
	}
}

func (w *Worker[D]) attempt(d D) {
	ctx, cancel := context.WithTimeout(context.Background(), AttemptBound(w.Timeout))
	defer cancel()
	w.Attempt(ctx, d)
}

// Retry is the retry policy of a delivery: MaxAttempts attempts at most,
// waiting RetryBackoff after the first failed one, doubled after each
// further one up to MaxBackoff.
type Retry struct {
	MaxAttempts  int
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
}

// Backoff is the wait after the attempt-th failed attempt.
func (r Retry) Backoff(attempt int) time.Duration {
	d := r.RetryBackoff
	for i := 1; i < attempt && d < r.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.MaxBackoff)
}

// Settle sets the state of the result of the attempt-th attempt at a
// delivery: delivered; failed when permanent or attempts are used up;
// otherwise pending again, due after the backoff from now.
func (r Retry) Settle(result *store.DeliveryResult, now time.Time, delivered, permanent bool, attempt int) {
	switch {
	case delivered:
		result.State = store.DeliveryDelivered
	case permanent || attempt >= r.MaxAttempts:
		result.State = store.DeliveryFailed
	default:
		result.State = store.DeliveryPending
		result.NextAttemptAt = now.Add(r.Backoff(attempt))
	}
}

// Wake tells the worker that waits on wake that deliveries are due now,
// without blocking: a wake-up already pending covers this one.
func Wake(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
