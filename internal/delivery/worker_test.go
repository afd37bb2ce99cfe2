package delivery

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"latchkey/internal/store"
)

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	r := Retry{MaxAttempts: 3, RetryBackoff: time.Second, MaxBackoff: 5 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := r.Backoff(i + 1); got != w {
			t.Fatalf("Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

func TestSettle(t *testing.T) {
	r := Retry{MaxAttempts: 3, RetryBackoff: time.Second, MaxBackoff: time.Minute}
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		delivered, permanent bool
		attempt              int
		state                store.DeliveryState
		next                 time.Time
	}{
		{true, false, 3, store.DeliveryDelivered, time.Time{}},
		{false, true, 1, store.DeliveryFailed, time.Time{}},
		{false, false, 3, store.DeliveryFailed, time.Time{}},
		{false, false, 2, store.DeliveryPending, now.Add(2 * time.Second)},
	} {
		var res store.DeliveryResult
		r.Settle(&res, now, tc.delivered, tc.permanent, tc.attempt)
		if res.State != tc.state || !res.NextAttemptAt.Equal(tc.next) {
			t.Errorf("%+v: got %s %v", tc, res.State, res.NextAttemptAt)
		}
	}
}

// TestWorkerBoundsConcurrencyAndDrains checks that no more than
// Concurrency attempts run at once, that every claimed delivery is
// attempted with the lease and attempt bound of the timeout, that After
// runs, and that stop waits for the attempts under way.
func TestWorkerBoundsConcurrencyAndDrains(t *testing.T) {
	var mu sync.Mutex
	queue := make([]int, 10)
	for i := range queue {
		queue[i] = i
	}
	var running, peak, done, afters int
	w := &Worker[int]{
		Name: "test", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now,
		Timeout: time.Second, PollInterval: time.Hour, Concurrency: 3,
		Claim: func(_ context.Context, _ time.Time, lease time.Duration, n int) ([]int, error) {
			if lease != 12*time.Second {
				t.Errorf("lease %v", lease)
			}
			mu.Lock()
			defer mu.Unlock()
			n = min(n, len(queue))
			ds := queue[:n]
			queue = queue[n:]
			return ds, nil
		},
		Attempt: func(ctx context.Context, _ int) {
			if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 6*time.Second {
				t.Errorf("attempt deadline %v %v", dl, ok)
			}
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			running--
			done++
			mu.Unlock()
		},
		After: func(context.Context) { mu.Lock(); afters++; mu.Unlock() },
	}
	stop := w.Start(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := done
		mu.Unlock()
		if n == 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if done != 10 || peak > 3 || peak == 0 || afters == 0 {
		t.Fatalf("done %d, peak %d, afters %d", done, peak, afters)
	}
}
