package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"latchkey/internal/store"
)

// deliveryTests cover the delivery queue: what is stored, the claim
// (which deliveries, in which order, leased how), the result of an
// attempt and the cleanup of finished deliveries.
var deliveryTests = []test{
	{"EnqueueKeepsEveryFieldAndStartsPending", testEnqueueRoundTrip},
	{"EnqueueIsAllOrNothing", testEnqueueAtomic},
	{"EnqueueNothingIsNothing", testEnqueueNothing},
	{"ClaimTakesDueDeliveriesMostOverdueFirstUpToLimit", testClaimOrder},
	{"ClaimLeasesAndCountsTheAttempt", testClaimLease},
	{"ClaimRefusesZeroNowAndNoLease", testClaimBadArgs},
	{"FinishRecordsTheResultAndEndsTheLease", testFinishDelivery},
	{"FinishPendingIsDueAgainAtItsNextAttempt", testFinishRetry},
	{"FinishUnknownIsNotFoundAndUnknownStateAnError", testFinishErrors},
	{"FinishKeepsARemoteAnswerOfBadTextAsReplacement", testFinishBadText},
	{"ListIsNewestFirstPerHookAndPages", testListDeliveries},
	{"ConcurrentClaimsTakeEachDeliveryOnce", testClaimConcurrent},
	{"FinishedDeliveriesGoThirtyDaysAfterTheirLastAttempt", testCleanupDeliveries},
	{"CleanupOfDeliveriesIsBoundedByBatch", testCleanupDeliveriesBatch},
}

// enqueue stores deliveries (Event "push" where empty) and returns them.
func enqueue(t *testing.T, s store.Store, ds ...store.Delivery) []store.Delivery {
	t.Helper()
	for i := range ds {
		if ds[i].Event == "" {
			ds[i].Event = "push"
		}
		if ds[i].CreatedAt.IsZero() {
			ds[i].CreatedAt = now()
		}
	}
	out, err := s.EnqueueDeliveries(ctx(t), ds)
	must(t, "enqueue deliveries", err)
	return out
}

// claim claims at now and fails the test on an error.
func claim(t *testing.T, s store.Store, at time.Time, lease time.Duration, limit int) []store.Delivery {
	t.Helper()
	ds, err := s.ClaimDeliveries(ctx(t), at, lease, limit)
	must(t, "claim deliveries", err)
	return ds
}

// getDelivery reads delivery id of hook hookID from the hook's list.
func getDelivery(t *testing.T, s store.Store, hookID, id int64) store.Delivery {
	t.Helper()
	for _, d := range listAll(t, "list deliveries", store.Bind(s.ListDeliveries, hookID)) {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("delivery %d is not listed", id)
	return store.Delivery{}
}

func testEnqueueRoundTrip(t *testing.T, s store.Store) {
	r, h := mkRepoHook(t, s)
	at := time.Now() // with nanoseconds: kept to the millisecond
	in := store.Delivery{HookID: h.ID, RepoID: r.ID, Event: "push", GUID: "3c4b4d1e-8f7a-4b1e-9d2c-0a1b2c3d4e5f",
		Payload:       []byte(`{"ref":"refs/heads/main","x":"\u0000"}`),
		Headers:       map[string]string{"X-Gitea-Event": "push", "X-Gitea-Event-Type": "push", "Content-Type": "application/json"},
		NextAttemptAt: at.Add(time.Second), CreatedAt: at,
		// ignored: a new delivery is pending, never attempted nor leased
		State: store.DeliveryFailed, Attempts: 7, LeaseUntil: at.Add(time.Hour), ResponseStatus: 500,
		ResponseBody: "x", Error: "y", AttemptedAt: at, Duration: time.Second}
	got := enqueue(t, s, in, store.Delivery{HookID: h.ID, Event: "push"}) // RepoID filled in
	want := store.Delivery{ID: got[0].ID, HookID: h.ID, RepoID: r.ID, Event: in.Event, GUID: in.GUID, Payload: in.Payload,
		Headers: in.Headers, State: store.DeliveryPending, NextAttemptAt: at.Add(time.Second).Truncate(time.Millisecond),
		CreatedAt: at.Truncate(time.Millisecond)}
	if got[0].ID == 0 || got[1].ID <= got[0].ID {
		t.Fatalf("enqueued IDs %d, %d; want growing IDs", got[0].ID, got[1].ID)
	}
	same(t, "enqueued delivery", got[0], want)
	same(t, "stored delivery", getDelivery(t, s, h.ID, want.ID), want)
	if got[1].RepoID != r.ID || got[1].Payload != nil || got[1].Headers != nil {
		t.Errorf("delivery enqueued without repository, payload or headers: %+v", got[1])
	}
	same(t, "stored bare delivery", getDelivery(t, s, h.ID, got[1].ID), got[1])
}

func testEnqueueAtomic(t *testing.T, s store.Store) {
	r, h := mkRepoHook(t, s)
	other := mkRepo(t, s, mkProject(t, s, "OTHER"), "other")
	for what, bad := range map[string]store.Delivery{
		"an unknown webhook":                  {HookID: h.ID + 1000, Event: "push"},
		"a webhook of another repository":     {HookID: h.ID, RepoID: other.ID, Event: "push"},
		"the webhook of a deleted repository": {HookID: mkHook(t, s, other, "gone").ID, Event: "push"},
	} {
		if what == "the webhook of a deleted repository" {
			must(t, "delete repo", s.DeleteRepo(ctx(t), other.ID))
		}
		_, err := s.EnqueueDeliveries(ctx(t), []store.Delivery{{HookID: h.ID, RepoID: r.ID, Event: "push"}, bad})
		wantErr(t, "enqueue with "+what, err, store.ErrNotFound)
		if ds := listAll(t, "list deliveries", store.Bind(s.ListDeliveries, h.ID)); len(ds) != 0 {
			t.Errorf("enqueue with %s stored %d deliveries, want none", what, len(ds))
		}
	}
	if ds := claim(t, s, now(), time.Minute, 10); len(ds) != 0 {
		t.Errorf("claimed %d deliveries after failed enqueues, want none", len(ds))
	}
}

func testEnqueueNothing(t *testing.T, s store.Store) {
	ds, err := s.EnqueueDeliveries(ctx(t), nil)
	must(t, "enqueue nothing", err)
	if len(ds) != 0 {
		t.Errorf("enqueue nothing returned %d deliveries", len(ds))
	}
}

func testClaimOrder(t *testing.T, s store.Store) {
	_, h := mkRepoHook(t, s)
	at := now()
	ds := enqueue(t, s,
		store.Delivery{HookID: h.ID, NextAttemptAt: at.Add(-time.Minute)}, // 0: due, second
		store.Delivery{HookID: h.ID, NextAttemptAt: at.Add(time.Second)},  // 1: not yet due
		store.Delivery{HookID: h.ID, NextAttemptAt: at.Add(-time.Hour)},   // 2: due, first
		store.Delivery{HookID: h.ID, NextAttemptAt: at},                   // 3: due (at now), fourth
		store.Delivery{HookID: h.ID, NextAttemptAt: at.Add(-time.Minute)}, // 4: due, third (ID after 0)
		store.Delivery{HookID: h.ID},                                      // 5: zero: due at once, first of all
	)
	if got := claim(t, s, at, time.Minute, 0); len(got) != 0 {
		t.Errorf("limit 0 claimed %d", len(got))
	}
	first := claim(t, s, at, time.Minute, 3)
	if ids, want := deliveryIDs(first), []int64{ds[5].ID, ds[2].ID, ds[0].ID}; !slices.Equal(ids, want) {
		t.Errorf("first claim of 3: %v, want %v", ids, want)
	}
	rest := claim(t, s, at, time.Minute, 10)
	if ids, want := deliveryIDs(rest), []int64{ds[4].ID, ds[3].ID}; !slices.Equal(ids, want) {
		t.Errorf("second claim: %v, want %v (leased ones and the one not due left out)", ids, want)
	}
	if got := claim(t, s, at, time.Minute, 10); len(got) != 0 {
		t.Errorf("third claim at the same time: %v, want none", deliveryIDs(got))
	}
	if got := claim(t, s, at.Add(time.Second), time.Minute, 10); len(got) != 1 || got[0].ID != ds[1].ID {
		t.Errorf("claim a second later: %v, want [%d]", deliveryIDs(got), ds[1].ID)
	}
}

func testClaimLease(t *testing.T, s store.Store) {
	_, h := mkRepoHook(t, s)
	at := time.Now() // with nanoseconds
	d := enqueue(t, s, store.Delivery{HookID: h.ID, Payload: []byte("{}")})[0]
	got := claim(t, s, at, 30*time.Second, 10)
	want := d
	want.Attempts, want.LeaseUntil = 1, at.Add(30*time.Second).Truncate(time.Millisecond)
	if len(got) != 1 {
		t.Fatalf("claimed %d deliveries, want 1", len(got))
	}
	same(t, "claimed delivery", got[0], want)
	same(t, "stored claimed delivery", getDelivery(t, s, h.ID, d.ID), want)
	if again := claim(t, s, at.Add(29*time.Second), 30*time.Second, 10); len(again) != 0 {
		t.Errorf("claimed again while leased: %v", deliveryIDs(again))
	}
	// The lease ran out (its worker died): due again, the attempt counted.
	again := claim(t, s, at.Add(30*time.Second), time.Minute, 10)
	want.Attempts, want.LeaseUntil = 2, at.Add(30*time.Second+time.Minute).Truncate(time.Millisecond)
	if len(again) != 1 {
		t.Fatalf("claimed %d deliveries after the lease ran out, want 1", len(again))
	}
	same(t, "claimed again", again[0], want)
}

func testClaimBadArgs(t *testing.T, s store.Store) {
	_, h := mkRepoHook(t, s)
	enqueue(t, s, store.Delivery{HookID: h.ID})
	if _, err := s.ClaimDeliveries(ctx(t), time.Time{}, time.Minute, 10); err == nil {
		t.Error("a claim at the zero time was accepted")
	}
	for _, lease := range []time.Duration{0, -time.Second} {
		if _, err := s.ClaimDeliveries(ctx(t), now(), lease, 10); err == nil {
			t.Errorf("a claim with lease %v was accepted", lease)
		}
	}
	if got := claim(t, s, now(), time.Minute, 10); len(got) != 1 || got[0].Attempts != 1 {
		t.Errorf("claim after the refused ones: %+v, want the delivery at its first attempt", got)
	}
}

func testFinishDelivery(t *testing.T, s store.Store) {
	_, h := mkRepoHook(t, s)
	at := time.Now()
	ds := enqueue(t, s, store.Delivery{HookID: h.ID}, store.Delivery{HookID: h.ID})
	claimed := claim(t, s, at, time.Minute, 10)
	for i, state := range []store.DeliveryState{store.DeliveryDelivered, store.DeliveryFailed} {
		r := store.DeliveryResult{State: state, ResponseStatus: 200 + 300*i, ResponseBody: fmt.Sprintf(`{"ok":%d}`, i),
			Error: map[int]string{1: "answered 500"}[i], AttemptedAt: at.Add(time.Second), Duration: 1234567 * time.Microsecond}
		must(t, "finish delivery", s.FinishDelivery(ctx(t), ds[i].ID, r))
		want := claimed[i]
		want.State, want.LeaseUntil, want.ResponseStatus, want.ResponseBody, want.Error = state, time.Time{}, r.ResponseStatus, r.ResponseBody, r.Error
		want.AttemptedAt, want.Duration = at.Add(time.Second).Truncate(time.Millisecond), 1234*time.Millisecond
		same(t, string(state)+" delivery", getDelivery(t, s, h.ID, ds[i].ID), want)
	}
	if got := claim(t, s, at.Add(24*time.Hour), time.Minute, 10); len(got) != 0 {
		t.Errorf("finished deliveries claimed again: %v", deliveryIDs(got))
	}
}

func testFinishRetry(t *testing.T, s store.Store) {
	_, h := mkRepoHook(t, s)
	at := now()
	d := enqueue(t, s, store.Delivery{HookID: h.ID})[0]
	claim(t, s, at, time.Hour, 10)
	next := at.Add(10 * time.Second)
	must(t, "finish for a retry", s.FinishDelivery(ctx(t), d.ID, store.DeliveryResult{State: store.DeliveryPending,
		NextAttemptAt: next, Error: "dial tcp: connection refused", AttemptedAt: at, Duration: 3 * time.Millisecond}))
	got := getDelivery(t, s, h.ID, d.ID)
	if got.State != store.DeliveryPending || !got.LeaseUntil.IsZero() || !got.NextAttemptAt.Equal(next) || got.Attempts != 1 {
		t.Errorf("delivery to retry: %+v", got)
	}
	if got := claim(t, s, next.Add(-time.Millisecond), time.Hour, 10); len(got) != 0 {
		t.Errorf("claimed before its next attempt: %v", deliveryIDs(got))
	}
	// Due at its next attempt although the first lease (an hour) still runs:
	// finishing ended it.
	got2 := claim(t, s, next, time.Minute, 10)
	if len(got2) != 1 || got2[0].Attempts != 2 || got2[0].Error != "dial tcp: connection refused" {
		t.Errorf("claim at the next attempt: %+v, want the delivery at attempt 2 with its last error", got2)
	}
}

func testFinishErrors(t *testing.T, s store.Store) {
	_, h := mkRepoHook(t, s)
	d := enqueue(t, s, store.Delivery{HookID: h.ID})[0]
	err := s.FinishDelivery(ctx(t), d.ID+1000, store.DeliveryResult{State: store.DeliveryDelivered})
	wantErr(t, "finish an unknown delivery", err, store.ErrNotFound)
	for _, state := range []store.DeliveryState{"", "sent", "PENDING"} {
		if err := s.FinishDelivery(ctx(t), d.ID, store.DeliveryResult{State: state}); err == nil {
			t.Errorf("finish with state %q was accepted", state)
		}
	}
	same(t, "delivery after refused finishes", getDelivery(t, s, h.ID, d.ID), d)
}

func testFinishBadText(t *testing.T, s store.Store) {
	_, h := mkRepoHook(t, s)
	d := enqueue(t, s, store.Delivery{HookID: h.ID})[0]
	must(t, "finish with a binary answer", s.FinishDelivery(ctx(t), d.ID, store.DeliveryResult{
		State: store.DeliveryFailed, ResponseStatus: 502, ResponseBody: "a\x00b\xffc", Error: "bad\xfe", AttemptedAt: now()}))
	got := getDelivery(t, s, h.ID, d.ID)
	if got.ResponseBody != "a\uFFFDb\uFFFDc" || got.Error != "bad\uFFFD" {
		t.Errorf("stored answer %q and error %q, want the bad bytes replaced by U+FFFD", got.ResponseBody, got.Error)
	}
}

func testListDeliveries(t *testing.T, s store.Store) {
	r, h := mkRepoHook(t, s)
	other := mkHook(t, s, r, "other")
	var want []store.Delivery
	for i := range 5 {
		want = append(want, enqueue(t, s, store.Delivery{HookID: h.ID, GUID: fmt.Sprint(i)})...)
		if i%2 == 0 {
			enqueue(t, s, store.Delivery{HookID: other.ID})
		}
	}
	slices.Reverse(want)
	checkPaging(t, "deliveries", store.Bind(s.ListDeliveries, h.ID), want)
}

// testClaimConcurrent: workers claiming at once, as on several nodes,
// each take disjoint deliveries, and together all of them.
func testClaimConcurrent(t *testing.T, s store.Store) {
	ClaimRace(t, []store.Store{s}, 60, 6)
}

// ClaimRace enqueues n deliveries through the first store and lets
// workers goroutines per store claim them concurrently, in small
// batches, until none is left; the stores may be one, or several over one
// database (as nodes). It fails the test if a delivery is claimed twice
// while its lease lasts, or if one is never claimed. It then lets the
// leases run out and checks the same of a second round, in which every
// delivery is at its second attempt.
func ClaimRace(t *testing.T, nodes []store.Store, n, workers int) {
	t.Helper()
	s := nodes[0]
	_, h := mkRepoHook(t, s)
	ds := make([]store.Delivery, n)
	for i := range ds {
		ds[i] = store.Delivery{HookID: h.ID, Event: "push", GUID: fmt.Sprint(i)}
	}
	_, err := s.EnqueueDeliveries(ctx(t), ds)
	must(t, "enqueue", err)
	at := now()
	for round := 1; round <= 2; round++ {
		var mu sync.Mutex
		owner := map[int64]int{} // delivery ID → worker
		var errs []error
		var wg sync.WaitGroup
		for node := range nodes {
			for w := range workers {
				worker := node*workers + w
				wg.Go(func() {
					// Each claim takes at least one delivery of n, unless
					// the store hands one out twice: bound the loop.
					for range n + 1 {
						got, err := nodes[node].ClaimDeliveries(ctx(t), at, time.Hour, 3)
						mu.Lock()
						if err != nil {
							errs = append(errs, err)
						}
						for _, d := range got {
							if prev, ok := owner[d.ID]; ok {
								errs = append(errs, fmt.Errorf("round %d: delivery %d claimed by worker %d and by worker %d while leased",
									round, d.ID, prev, worker))
							}
							if d.Attempts != round {
								errs = append(errs, fmt.Errorf("round %d: delivery %d claimed at attempt %d", round, d.ID, d.Attempts))
							}
							owner[d.ID] = worker
						}
						mu.Unlock()
						if err != nil || len(got) == 0 {
							return
						}
					}
				})
			}
		}
		wg.Wait()
		for i, err := range errs {
			if i == 10 {
				t.Errorf("... and %d more", len(errs)-i)
				break
			}
			t.Error(err)
		}
		if len(owner) != n {
			t.Errorf("round %d: %d of %d deliveries claimed", round, len(owner), n)
		}
		at = at.Add(time.Hour) // every lease runs out
	}
}

func testCleanupDeliveries(t *testing.T, s store.Store) {
	r, h := mkRepoHook(t, s)
	at := now()
	ds := enqueue(t, s, store.Delivery{HookID: h.ID, CreatedAt: at}, store.Delivery{HookID: h.ID, CreatedAt: at},
		store.Delivery{HookID: h.ID, CreatedAt: at}, store.Delivery{HookID: h.ID, CreatedAt: at})
	claim(t, s, at, time.Minute, 10)
	must(t, "finish delivered", s.FinishDelivery(ctx(t), ds[0].ID, store.DeliveryResult{State: store.DeliveryDelivered, AttemptedAt: at}))
	must(t, "finish failed", s.FinishDelivery(ctx(t), ds[1].ID, store.DeliveryResult{State: store.DeliveryFailed, AttemptedAt: at}))
	// Last attempted ten days later: kept ten days longer.
	must(t, "finish failed later", s.FinishDelivery(ctx(t), ds[2].ID, store.DeliveryResult{State: store.DeliveryFailed, AttemptedAt: at.Add(10 * 24 * time.Hour)}))
	// ds[3] stays pending (leased, then due again) however old.
	st := mkStatus(t, s, r, sha1Of("x"), "ci")
	const day = 24 * time.Hour
	if n := sweep(t, s, at.Add(30*day), 100); n != 0 {
		t.Errorf("sweep 30 days after the last attempts deleted %d rows, want 0", n)
	}
	if n := sweep(t, s, at.Add(30*day+time.Millisecond), 100); n != 2 {
		t.Errorf("sweep just over 30 days after: deleted %d rows, want 2 (the delivered and the failed one)", n)
	}
	left := listAll(t, "list deliveries", store.Bind(s.ListDeliveries, h.ID))
	if ids, want := deliveryIDs(left), []int64{ds[3].ID, ds[2].ID}; !slices.Equal(ids, want) {
		t.Errorf("deliveries left %v, want %v", ids, want)
	}
	if n := sweep(t, s, at.Add(400*day), 100); n != 1 {
		t.Errorf("sweep a year later: deleted %d rows, want 1 (the later failed one)", n)
	}
	left = listAll(t, "list deliveries", store.Bind(s.ListDeliveries, h.ID))
	if ids, want := deliveryIDs(left), []int64{ds[3].ID}; !slices.Equal(ids, want) {
		t.Errorf("deliveries left %v, want only the pending one %v", ids, want)
	}
	same(t, "commit statuses after the sweeps", listAll(t, "list statuses", statusesOf(s, r.ID, st.SHA)), []store.CommitStatus{st})
}

func testCleanupDeliveriesBatch(t *testing.T, s store.Store) {
	_, h := mkRepoHook(t, s)
	at := now()
	ds := make([]store.Delivery, 25)
	for i := range ds {
		ds[i] = store.Delivery{HookID: h.ID, CreatedAt: at}
	}
	for _, d := range enqueue(t, s, ds...) {
		must(t, "finish", s.FinishDelivery(ctx(t), d.ID, store.DeliveryResult{State: store.DeliveryDelivered, AttemptedAt: at}))
	}
	for i, want := range []int{10, 10, 5, 0} {
		n, err := s.DeleteExpired(ctx(t), at.Add(31*24*time.Hour), 10)
		must(t, "delete expired", err)
		if n != want {
			t.Errorf("call %d deleted %d rows, want %d", i+1, n, want)
		}
	}
}
