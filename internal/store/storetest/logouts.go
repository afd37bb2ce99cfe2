package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"latchkey/internal/store"
)

// logoutTests cover back-channel logout (issue 15): which clients a
// session or a user signed in to, and the queue of logout tokens.
var logoutTests = []test{
	{"TargetsAreTheSessionsClientsWithABackchannelURI", testLogoutTargets},
	{"EnqueueRoundTripAndAllOrNothing", testLogoutEnqueue},
	{"ClaimLeasesFinishRecordsAndRetries", testLogoutClaimFinish},
	{"ConcurrentClaimsTakeEachLogoutOnce", testLogoutClaimConcurrent},
	{"PruneDeletesOnlyFinishedOldDeliveries", testLogoutPrune},
	{"DeletingTheClientTakesItsLogouts", testLogoutClientDeleted},
}

// mkLogoutClient stores a client with a back-channel logout URI ("" for none).
func mkLogoutClient(t *testing.T, s store.Store, id, uri string) store.Client {
	t.Helper()
	c := store.Client{ID: id, Name: id, SecretHash: newHash(), RedirectURIs: []string{"https://" + id + ".example.com/cb"},
		CreatedAt: now(), BackchannelLogoutURI: uri}
	c, err := s.CreateClient(ctx(t), c)
	must(t, "create client", err)
	return c
}

// mkSignedInFamily stores a family of the user and client made by session sid.
func mkSignedInFamily(t *testing.T, s store.Store, userID int64, clientID, sid string) store.TokenFamily {
	t.Helper()
	iss, err := s.CreateFamily(ctx(t), store.Issue{Family: store.TokenFamily{ClientID: clientID, UserID: userID, CreatedAt: now(),
		SignIn: store.SignIn{SID: sid}}, Tokens: newTokens([]string{"REPO_READ"})}, now())
	must(t, "create family", err)
	return iss.Family
}

func clientIDs(ts []store.LogoutTarget) []string {
	ids := []string{}
	for _, t := range ts {
		ids = append(ids, t.Client.ID+"/"+t.SID)
	}
	return ids
}

func testLogoutTargets(t *testing.T, s store.Store) {
	alice, bob := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	mkLogoutClient(t, s, "a", "https://a.example.com/bcl")
	mkLogoutClient(t, s, "b", "https://b.example.com/bcl")
	mkLogoutClient(t, s, "quiet", "")
	mkLogoutClient(t, s, "c", "https://c.example.com/bcl")
	mkSignedInFamily(t, s, alice.ID, "a", "s1")
	mkSignedInFamily(t, s, alice.ID, "a", "s1") // twice: listed once
	f := mkSignedInFamily(t, s, alice.ID, "b", "s1")
	mkSignedInFamily(t, s, alice.ID, "quiet", "s1")
	mkSignedInFamily(t, s, alice.ID, "c", "s2")
	mkSignedInFamily(t, s, alice.ID, "a", "") // made without a session ID
	mkSignedInFamily(t, s, bob.ID, "c", "s1") // another user's family of the same sid
	must(t, "revoke family", s.RevokeFamily(ctx(t), f.ID, now()))

	got, err := s.LogoutTargets(ctx(t), alice.ID, "s1")
	must(t, "targets of s1", err)
	same(t, "targets of s1", clientIDs(got), []string{"a/s1", "b/s1"})
	if got[0].Client.BackchannelLogoutURI != "https://a.example.com/bcl" {
		t.Errorf("target a: %+v", got[0])
	}
	got, err = s.LogoutTargets(ctx(t), alice.ID, "")
	must(t, "targets of alice", err)
	same(t, "targets of alice", clientIDs(got), []string{"a/", "a/s1", "b/s1", "c/s2"})
	got, err = s.LogoutTargets(ctx(t), alice.ID, "nope")
	must(t, "targets of an unknown sid", err)
	same(t, "targets of an unknown sid", clientIDs(got), []string{})
}

func testLogoutEnqueue(t *testing.T, s store.Store) {
	mkLogoutClient(t, s, "a", "https://a.example.com/bcl")
	at := now()
	in := store.LogoutDelivery{ClientID: "a", Subject: "7", SID: "s1", JTI: "j1", NextAttemptAt: at, CreatedAt: at,
		Attempts: 9, State: store.DeliveryFailed, Error: "ignored"}
	out, err := s.EnqueueLogouts(ctx(t), []store.LogoutDelivery{in})
	must(t, "enqueue", err)
	want := store.LogoutDelivery{ID: out[0].ID, ClientID: "a", Subject: "7", SID: "s1", JTI: "j1",
		State: store.DeliveryPending, NextAttemptAt: at, CreatedAt: at}
	same(t, "enqueued", out[0], want)
	list := listAll(t, "list logouts", store.Bind(s.ListLogouts, "a"))
	same(t, "listed", list, []store.LogoutDelivery{want})

	_, err = s.EnqueueLogouts(ctx(t), []store.LogoutDelivery{{ClientID: "a", Subject: "7", JTI: "j2", CreatedAt: at},
		{ClientID: "gone", Subject: "7", JTI: "j3", CreatedAt: at}})
	wantErr(t, "enqueue for a missing client", err, store.ErrNotFound)
	_, err = s.EnqueueLogouts(ctx(t), []store.LogoutDelivery{{ClientID: "a", Subject: "7", JTI: "j1", CreatedAt: at}})
	wantErr(t, "enqueue a taken jti", err, store.ErrAlreadyExists)
	if n := len(listAll(t, "list logouts", store.Bind(s.ListLogouts, "a"))); n != 1 {
		t.Fatalf("after refused enqueues: %d deliveries, want 1", n)
	}
	none, err := s.EnqueueLogouts(ctx(t), nil)
	if err != nil || len(none) != 0 {
		t.Fatalf("enqueue nothing: %v %v", none, err)
	}
}

func testLogoutClaimFinish(t *testing.T, s store.Store) {
	mkLogoutClient(t, s, "a", "https://a.example.com/bcl")
	at := now()
	ds, err := s.EnqueueLogouts(ctx(t), []store.LogoutDelivery{
		{ClientID: "a", Subject: "1", JTI: "late", NextAttemptAt: at.Add(-time.Second), CreatedAt: at},
		{ClientID: "a", Subject: "1", JTI: "early", NextAttemptAt: at.Add(-time.Minute), CreatedAt: at},
		{ClientID: "a", Subject: "1", JTI: "future", NextAttemptAt: at.Add(time.Hour), CreatedAt: at},
	})
	must(t, "enqueue", err)
	_, err = s.ClaimLogouts(ctx(t), time.Time{}, time.Minute, 5)
	if err == nil {
		t.Fatal("claim with a zero now succeeded")
	}
	_, err = s.ClaimLogouts(ctx(t), at, 0, 5)
	if err == nil {
		t.Fatal("claim without a lease succeeded")
	}
	got, err := s.ClaimLogouts(ctx(t), at, time.Minute, 5)
	must(t, "claim", err)
	if len(got) != 2 || got[0].JTI != "early" || got[1].JTI != "late" {
		t.Fatalf("claimed %+v, want early then late", got)
	}
	if got[0].Attempts != 1 || !got[0].LeaseUntil.Equal(at.Add(time.Minute)) {
		t.Fatalf("claimed %+v: want attempt 1, leased a minute", got[0])
	}
	again, err := s.ClaimLogouts(ctx(t), at.Add(30*time.Second), time.Minute, 5)
	must(t, "claim while leased", err)
	same(t, "claimed while leased", len(again), 0)

	must(t, "finish delivered", s.FinishLogout(ctx(t), got[0].ID, store.DeliveryResult{State: store.DeliveryDelivered,
		AttemptedAt: at, ResponseStatus: 200}))
	must(t, "finish for a retry", s.FinishLogout(ctx(t), got[1].ID, store.DeliveryResult{State: store.DeliveryPending,
		AttemptedAt: at, ResponseStatus: 503, Error: "bad\x00text\xff", NextAttemptAt: at.Add(10 * time.Second)}))
	wantErr(t, "finish an unknown delivery", s.FinishLogout(ctx(t), ds[2].ID+1000, store.DeliveryResult{State: store.DeliveryFailed}), store.ErrNotFound)
	if err := s.FinishLogout(ctx(t), got[0].ID, store.DeliveryResult{State: "odd"}); err == nil {
		t.Fatal("finish with an unknown state succeeded")
	}
	list := listAll(t, "list logouts", store.Bind(s.ListLogouts, "a"))
	byJTI := map[string]store.LogoutDelivery{}
	for _, d := range list {
		byJTI[d.JTI] = d
	}
	if d := byJTI["early"]; d.State != store.DeliveryDelivered || !d.LeaseUntil.IsZero() || d.ResponseStatus != 200 {
		t.Errorf("delivered: %+v", d)
	}
	if d := byJTI["late"]; d.State != store.DeliveryPending || d.Error != "bad\ufffdtext\ufffd" || !d.NextAttemptAt.Equal(at.Add(10*time.Second)) {
		t.Errorf("retried: %+v", d)
	}
	retry, err := s.ClaimLogouts(ctx(t), at.Add(10*time.Second), time.Minute, 5)
	must(t, "claim the retry", err)
	if len(retry) != 1 || retry[0].JTI != "late" || retry[0].Attempts != 2 {
		t.Fatalf("retry claim: %+v", retry)
	}
}

func testLogoutClaimConcurrent(t *testing.T, s store.Store) {
	LogoutClaimRace(t, []store.Store{s}, 40, 6)
}

// LogoutClaimRace enqueues n logout deliveries through the first store
// and lets workers goroutines per store claim them concurrently until
// none is left; the stores may be several over one database (nodes). It
// fails the test if a delivery is claimed twice, or never.
func LogoutClaimRace(t *testing.T, nodes []store.Store, n, workers int) {
	t.Helper()
	s := nodes[0]
	id := fmt.Sprintf("race-%d", time.Now().UnixNano())
	mkLogoutClient(t, s, id, "https://race.example.com/bcl")
	ds := make([]store.LogoutDelivery, n)
	for i := range ds {
		ds[i] = store.LogoutDelivery{ClientID: id, Subject: "1", JTI: fmt.Sprintf("%s-%d", id, i), CreatedAt: now()}
	}
	_, err := s.EnqueueLogouts(ctx(t), ds)
	must(t, "enqueue", err)
	at := now()
	var mu sync.Mutex
	owner := map[int64]int{}
	var errs []error
	var wg sync.WaitGroup
	for node := range nodes {
		for w := range workers {
			worker := node*workers + w
			wg.Go(func() {
				for range n + 1 {
					got, err := nodes[node].ClaimLogouts(ctx(t), at, time.Hour, 3)
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					}
					for _, d := range got {
						if prev, ok := owner[d.ID]; ok {
							errs = append(errs, fmt.Errorf("logout %d claimed by worker %d and by worker %d", d.ID, prev, worker))
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
	for _, err := range errs {
		t.Error(err)
	}
	if len(owner) != n {
		t.Errorf("%d of %d logout deliveries claimed", len(owner), n)
	}
}

func testLogoutPrune(t *testing.T, s store.Store) {
	mkLogoutClient(t, s, "a", "https://a.example.com/bcl")
	at := now()
	ds, err := s.EnqueueLogouts(ctx(t), []store.LogoutDelivery{
		{ClientID: "a", Subject: "1", JTI: "old-done", CreatedAt: at},
		{ClientID: "a", Subject: "1", JTI: "old-failed", CreatedAt: at},
		{ClientID: "a", Subject: "1", JTI: "new-done", CreatedAt: at},
		{ClientID: "a", Subject: "1", JTI: "pending", CreatedAt: at},
	})
	must(t, "enqueue", err)
	old := at.Add(-48 * time.Hour)
	must(t, "finish", s.FinishLogout(ctx(t), ds[0].ID, store.DeliveryResult{State: store.DeliveryDelivered, AttemptedAt: old}))
	must(t, "finish", s.FinishLogout(ctx(t), ds[1].ID, store.DeliveryResult{State: store.DeliveryFailed, AttemptedAt: old}))
	must(t, "finish", s.FinishLogout(ctx(t), ds[2].ID, store.DeliveryResult{State: store.DeliveryDelivered, AttemptedAt: at}))
	must(t, "finish", s.FinishLogout(ctx(t), ds[3].ID, store.DeliveryResult{State: store.DeliveryPending, AttemptedAt: old}))
	n, err := s.PruneLogouts(ctx(t), at.Add(-time.Hour), 1)
	must(t, "prune", err)
	same(t, "pruned (batch 1)", n, 1)
	n, err = s.PruneLogouts(ctx(t), at.Add(-time.Hour), 10)
	must(t, "prune", err)
	same(t, "pruned", n, 1)
	left := []string{}
	for _, d := range listAll(t, "list logouts", store.Bind(s.ListLogouts, "a")) {
		left = append(left, d.JTI)
	}
	same(t, "left", left, []string{"pending", "new-done"})
}

func testLogoutClientDeleted(t *testing.T, s store.Store) {
	mkLogoutClient(t, s, "a", "https://a.example.com/bcl")
	ds, err := s.EnqueueLogouts(ctx(t), []store.LogoutDelivery{{ClientID: "a", Subject: "1", JTI: "j", CreatedAt: now()}})
	must(t, "enqueue", err)
	must(t, "delete client", s.DeleteClient(ctx(t), "a"))
	wantErr(t, "finish after the client went", s.FinishLogout(ctx(t), ds[0].ID, store.DeliveryResult{State: store.DeliveryDelivered}), store.ErrNotFound)
}
