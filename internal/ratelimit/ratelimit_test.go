package ratelimit_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"latchkey/internal/ratelimit"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
)

// limiters are every backend: memory, and the shared one on both databases.
func limiters(t *testing.T) map[string]ratelimit.Limiter {
	open := func(dsn string) store.Store {
		st, err := backend.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	out := map[string]ratelimit.Limiter{
		"memory":        ratelimit.NewMemory(),
		"shared/sqlite": ratelimit.Shared{Store: open(filepath.Join(t.TempDir(), "db"))},
	}
	if os.Getenv(testkit.PostgresEnv) != "" || os.Getenv("CI") == "true" {
		out["shared/postgres"] = ratelimit.Shared{Store: open(testkit.FreshPostgres(t))}
	}
	return out
}

func TestEveryBackendLetsTheLimitThroughAtOnceThenOneRequestPerInterval(t *testing.T) {
	rule := ratelimit.Rule{Limit: 5, Window: 50 * time.Second} // one request costs 10s
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for name, l := range limiters(t) {
		take := func(at time.Duration) (bool, time.Duration) {
			ok, wait, err := l.Take(context.Background(), "bucket", rule, t0.Add(at))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return ok, wait
		}
		for i := range 5 {
			if ok, _ := take(0); !ok {
				t.Fatalf("%s: request %d of the burst refused", name, i+1)
			}
		}
		if ok, wait := take(0); ok || wait != 10*time.Second {
			t.Fatalf("%s: request over the limit: allowed %v, wait %v; want refused, 10s", name, ok, wait)
		}
		if ok, wait := take(4 * time.Second); ok || wait != 6*time.Second {
			t.Fatalf("%s: 4s later: allowed %v, wait %v; want refused, 6s (refusals cost nothing)", name, ok, wait)
		}
		if ok, _ := take(10 * time.Second); !ok {
			t.Fatalf("%s: after the wait: refused", name)
		}
		if ok, _ := take(10 * time.Second); ok {
			t.Fatalf("%s: a second request after one interval: allowed", name)
		}
		for i := range 5 {
			if ok, _ := take(10*time.Second + rule.Window); !ok {
				t.Fatalf("%s: after a whole window, request %d refused", name, i+1)
			}
		}
		if ok, _, _ := l.Take(context.Background(), "another bucket", rule, t0); !ok {
			t.Fatalf("%s: another bucket was charged", name)
		}
	}
}

func TestTheCleanerDeletesBucketsThatAreFullAgain(t *testing.T) {
	st, err := backend.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	for _, b := range []string{"a", "b", "c"} {
		if ok, _, err := st.TakeRate(context.Background(), b, now, time.Second, time.Minute); !ok || err != nil {
			t.Fatalf("take %s: %v %v", b, ok, err)
		}
	}
	if n, err := st.DeleteExpired(context.Background(), now, 100); err != nil || n != 0 {
		t.Fatalf("delete expired while the buckets are spent: %d %v, want 0", n, err)
	}
	if n, err := st.DeleteExpired(context.Background(), now.Add(2*time.Second), 100); err != nil || n != 3 {
		t.Fatalf("delete expired once the buckets are full: %d %v, want 3", n, err)
	}
}

func TestRetryAfterIsWholeSecondsRoundedUp(t *testing.T) {
	for wait, want := range map[time.Duration]int64{0: 1, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, time.Hour: 3600} {
		if got := ratelimit.RetryAfterSeconds(wait); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", wait, got, want)
		}
	}
}
