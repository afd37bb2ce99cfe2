package cleanup_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"latchkey/internal/cleanup"
	"latchkey/internal/store"
	"latchkey/internal/store/sqlite"
)

// fixture opens a fresh SQLite store with one user and n sessions that
// expired an hour ago, and one that is live.
func fixture(t *testing.T, n int) (store.Store, []string, string) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, err := st.CreateUser(t.Context(), store.User{Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(exp time.Time) string {
		id := rand.Text()
		if err := st.CreateSession(t.Context(), store.Session{ID: id, UserID: u.ID, AuthTime: time.Now(), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	var expired []string
	for range n {
		expired = append(expired, mk(time.Now().Add(-time.Hour)))
	}
	return st, expired, mk(time.Now().Add(time.Hour))
}

func wantSessions(t *testing.T, st store.Store, expired []string, live string) {
	t.Helper()
	for _, id := range expired {
		if _, err := st.GetSession(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired session: err = %v, want it deleted", err)
		}
	}
	if _, err := st.GetSession(t.Context(), live); err != nil {
		t.Errorf("live session: %v", err)
	}
}

func TestSweepDeletesEverythingExpiredInBatches(t *testing.T) {
	st, expired, live := fixture(t, 7)
	if n := cleanup.Sweep(t.Context(), cleanup.Config{Store: st, Batch: 2, Pause: time.Millisecond}); n != 7 {
		t.Errorf("Sweep deleted %d rows, want 7", n)
	}
	wantSessions(t, st, expired, live)
}

func TestSweepStopsAfterMaxRounds(t *testing.T) {
	st, _, _ := fixture(t, 7)
	if n := cleanup.Sweep(t.Context(), cleanup.Config{Store: st, Batch: 2, MaxRounds: 2, Pause: time.Millisecond}); n != 4 {
		t.Errorf("Sweep deleted %d rows, want 4 (two rounds of two)", n)
	}
}

func TestSweepHonoursGrace(t *testing.T) {
	st, expired, live := fixture(t, 3)
	// With two hours of grace, sessions that expired an hour ago are kept.
	if n := cleanup.Sweep(t.Context(), cleanup.Config{Store: st, Grace: 2 * time.Hour}); n != 0 {
		t.Errorf("Sweep deleted %d rows within the grace period, want 0", n)
	}
	if n := cleanup.Sweep(t.Context(), cleanup.Config{Store: st}); n != 3 {
		t.Errorf("Sweep deleted %d rows, want 3", n)
	}
	wantSessions(t, st, expired, live)
}

func TestSweepOnClosedStoreGivesUp(t *testing.T) {
	st, _, _ := fixture(t, 3)
	st.Close()
	if n := cleanup.Sweep(t.Context(), cleanup.Config{Store: st}); n != 0 {
		t.Errorf("Sweep on a closed store deleted %d rows", n)
	}
}

func TestStartSweepsInTheBackgroundUntilStopped(t *testing.T) {
	st, expired, live := fixture(t, 5)
	stop := cleanup.Start(t.Context(), cleanup.Config{Store: st, Interval: 20 * time.Millisecond, Batch: 2})
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := st.GetSession(t.Context(), expired[len(expired)-1])
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("expired sessions still there after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	wantSessions(t, st, expired, live)
}

func TestRunWithoutIntervalReturnsAtOnce(t *testing.T) {
	st, _, _ := fixture(t, 1)
	done := make(chan struct{})
	go func() {
		cleanup.Run(context.Background(), cleanup.Config{Store: st})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run with a zero interval did not return")
	}
}

func TestSweepPrunesAuditEventsOlderThanTheRetention(t *testing.T) {
	st, _, _ := fixture(t, 0)
	for _, age := range []time.Duration{48 * time.Hour, 30 * time.Hour, time.Hour} {
		if _, err := st.AppendAudit(t.Context(), store.AuditEvent{At: time.Now().Add(-age), Event: "login"}); err != nil {
			t.Fatal(err)
		}
	}
	cleanup.Sweep(t.Context(), cleanup.Config{Store: st, Batch: 1})
	if left, _ := store.All(t.Context(), st.ListAudit); len(left) != 3 {
		t.Fatalf("without a retention %d events are left, want all 3", len(left))
	}
	cleanup.Sweep(t.Context(), cleanup.Config{Store: st, Batch: 1, AuditRetention: 24 * time.Hour})
	left, err := store.All(t.Context(), st.ListAudit)
	if err != nil || len(left) != 1 || time.Since(left[0].At) > 2*time.Hour {
		t.Fatalf("after a sweep with a day's retention: %+v %v", left, err)
	}
}
