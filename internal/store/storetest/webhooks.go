package storetest

import (
	"errors"
	"testing"
	"time"

	"latchkey/internal/store"
)

// webhookTests cover a repository's webhooks: what is kept, how they are
// scoped by repository, and what a deletion takes with it.
var webhookTests = []test{
	{"CreateKeepsEveryFieldAndGetListAndActiveReadItBack", testWebhookRoundTrip},
	{"EmptySecretAndEventsReadBackAsNil", testWebhookEmpty},
	{"CreateInUnknownRepoIsNotFound", testWebhookNoRepo},
	{"AnotherReposWebhookIsNotFound", testWebhookScoped},
	{"ListIsByIDPerRepoAndPages", testListWebhooks},
	{"ActiveListsOnlyActiveHooksOfTheRepo", testActiveWebhooks},
	{"UpdateStoresWhatFnReturnsAndKeepsIdentity", testUpdateWebhook},
	{"UpdateFnErrorIsReturnedAndWritesNothing", testUpdateWebhookErrors},
	{"DeleteTakesItsDeliveriesOnly", testDeleteWebhook},
	{"DeleteRepoAndDeleteProjectTakeHooksDeliveriesAndStatuses", testDeleteRepoTakesHooks},
}

// mkHook creates an active Gitea webhook of r.
func mkHook(t *testing.T, s store.Store, r store.Repo, name string) store.Webhook {
	t.Helper()
	at := now()
	h, err := s.CreateWebhook(ctx(t), store.Webhook{RepoID: r.ID, Kind: store.HookGitea, Name: name,
		URL: "http://127.0.0.1:9/" + name, Secret: []byte("sealed " + name), Events: []string{"push"},
		Config: `{"content_type":"json"}`, Active: true, CreatedAt: at, UpdatedAt: at})
	must(t, "create webhook "+name, err)
	return h
}

// mkRepoHook creates a project, a repository in it and a webhook of it.
func mkRepoHook(t *testing.T, s store.Store) (store.Repo, store.Webhook) {
	t.Helper()
	r := mkRepo(t, s, mkProject(t, s, "PROJ"), "repo")
	return r, mkHook(t, s, r, "ci")
}

func testWebhookRoundTrip(t *testing.T, s store.Store) {
	r := mkRepo(t, s, mkProject(t, s, "PROJ"), "repo")
	u := mkUser(t, s, "alice")
	created := time.Now().Add(-time.Hour) // with nanoseconds: kept to the millisecond
	in := store.Webhook{RepoID: r.ID, Kind: store.HookBitbucket, Name: "Jenkins",
		URL: "https://ci.example.com/hook?x=1&y=é", Secret: []byte{0, 1, 0xff, 'k'},
		Events: []string{"repo:refs_changed", "pr:opened"}, Config: `{"a":[1,2]}`, Active: true,
		CreatorID: u.ID, CreatedAt: created, UpdatedAt: created.Add(time.Minute)}
	h, err := s.CreateWebhook(ctx(t), in)
	must(t, "create webhook", err)
	if h.ID == 0 {
		t.Fatal("created webhook has no ID")
	}
	want := in
	want.ID = h.ID
	want.CreatedAt, want.UpdatedAt = in.CreatedAt.Truncate(time.Millisecond), in.UpdatedAt.Truncate(time.Millisecond)
	same(t, "created webhook", h, want)
	got, err := s.GetWebhook(ctx(t), r.ID, h.ID)
	must(t, "get webhook", err)
	same(t, "stored webhook", got, want)
	same(t, "listed webhooks", listAll(t, "list webhooks", store.Bind(s.ListWebhooks, r.ID)), []store.Webhook{want})
	active, err := s.ActiveWebhooks(ctx(t), r.ID)
	must(t, "active webhooks", err)
	same(t, "active webhooks", active, []store.Webhook{want})
}

func testWebhookEmpty(t *testing.T, s store.Store) {
	r := mkRepo(t, s, mkProject(t, s, "PROJ"), "repo")
	for _, in := range []store.Webhook{
		{RepoID: r.ID, Kind: store.HookGitea, URL: "http://a"},
		{RepoID: r.ID, Kind: store.HookGitea, URL: "http://b", Secret: []byte{}, Events: []string{}},
	} {
		h, err := s.CreateWebhook(ctx(t), in)
		must(t, "create webhook", err)
		got, err := s.GetWebhook(ctx(t), r.ID, h.ID)
		must(t, "get webhook", err)
		same(t, "stored webhook", got, h)
		if got.Secret != nil || got.Events != nil || !got.CreatedAt.IsZero() || got.Active {
			t.Errorf("webhook stored without a secret, events, time or active: %+v", got)
		}
	}
}

func testWebhookNoRepo(t *testing.T, s store.Store) {
	r := mkRepo(t, s, mkProject(t, s, "PROJ"), "repo")
	_, err := s.CreateWebhook(ctx(t), store.Webhook{RepoID: r.ID + 1000, Kind: store.HookGitea, URL: "http://a"})
	wantErr(t, "create webhook of an unknown repository", err, store.ErrNotFound)
}

func testWebhookScoped(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	mine, other := mkRepo(t, s, p, "mine"), mkRepo(t, s, p, "other")
	h := mkHook(t, s, mine, "ci")
	_, err := s.GetWebhook(ctx(t), other.ID, h.ID)
	wantErr(t, "get another repository's webhook", err, store.ErrNotFound)
	_, err = s.UpdateWebhook(ctx(t), other.ID, h.ID, func(w store.Webhook) (store.Webhook, error) {
		t.Error("fn called for another repository's webhook")
		w.URL = "http://evil"
		return w, nil
	})
	wantErr(t, "update another repository's webhook", err, store.ErrNotFound)
	wantErr(t, "delete another repository's webhook", s.DeleteWebhook(ctx(t), other.ID, h.ID), store.ErrNotFound)
	_, err = s.GetWebhook(ctx(t), mine.ID, h.ID+1000)
	wantErr(t, "get unknown webhook", err, store.ErrNotFound)
	got, err := s.GetWebhook(ctx(t), mine.ID, h.ID)
	must(t, "get webhook", err)
	same(t, "webhook after another repository's attempts", got, h)
	if hs := listAll(t, "list webhooks", store.Bind(s.ListWebhooks, other.ID)); len(hs) != 0 {
		t.Errorf("another repository lists %d webhooks", len(hs))
	}
	if hs, err := s.ActiveWebhooks(ctx(t), other.ID); err != nil || len(hs) != 0 {
		t.Errorf("another repository's active webhooks: %d, %v; want none", len(hs), err)
	}
}

func testListWebhooks(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	a, b := mkRepo(t, s, p, "a"), mkRepo(t, s, p, "b")
	var want []store.Webhook
	for i, name := range []string{"z", "y", "x", "w", "v"} {
		want = append(want, mkHook(t, s, a, name))
		if i%2 == 0 {
			mkHook(t, s, b, name) // interleaved IDs of another repository
		}
	}
	checkPaging(t, "webhooks", store.Bind(s.ListWebhooks, a.ID), want)
}

func testActiveWebhooks(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	a, b := mkRepo(t, s, p, "a"), mkRepo(t, s, p, "b")
	var want []store.Webhook
	for i := range 5 {
		h := mkHook(t, s, a, string(rune('a'+i)))
		if i%2 == 1 {
			var err error
			h, err = s.UpdateWebhook(ctx(t), a.ID, h.ID, func(h store.Webhook) (store.Webhook, error) {
				h.Active = false
				return h, nil
			})
			must(t, "deactivate", err)
		} else {
			want = append(want, h)
		}
	}
	mkHook(t, s, b, "other")
	got, err := s.ActiveWebhooks(ctx(t), a.ID)
	must(t, "active webhooks", err)
	same(t, "active webhooks", got, want)
}

func testUpdateWebhook(t *testing.T, s store.Store) {
	r, h := mkRepoHook(t, s)
	other := mkRepo(t, s, mkProject(t, s, "OTHER"), "other")
	later := time.Now().Add(time.Hour)
	got, err := s.UpdateWebhook(ctx(t), r.ID, h.ID, func(old store.Webhook) (store.Webhook, error) {
		same(t, "webhook given to fn", old, h)
		old.Name, old.URL, old.Secret, old.Events = "renamed", "https://new.example/x", []byte("new secret"), []string{"push", "create"}
		old.Config, old.Active, old.UpdatedAt = `{"branch_filter":"main"}`, false, later
		// ignored:
		old.ID, old.RepoID, old.Kind, old.CreatorID, old.CreatedAt = 4242, other.ID, store.HookBitbucket, 77, later
		return old, nil
	})
	must(t, "update webhook", err)
	want := h
	want.Name, want.URL, want.Secret, want.Events = "renamed", "https://new.example/x", []byte("new secret"), []string{"push", "create"}
	want.Config, want.Active, want.UpdatedAt = `{"branch_filter":"main"}`, false, later.Truncate(time.Millisecond)
	same(t, "updated webhook", got, want)
	stored, err := s.GetWebhook(ctx(t), r.ID, h.ID)
	must(t, "get webhook", err)
	same(t, "stored webhook", stored, want)
}

func testUpdateWebhookErrors(t *testing.T, s store.Store) {
	r, h := mkRepoHook(t, s)
	boom := errors.New("boom")
	_, err := s.UpdateWebhook(ctx(t), r.ID, h.ID, func(w store.Webhook) (store.Webhook, error) {
		w.URL = "http://changed"
		return w, boom
	})
	wantErr(t, "update with a failing fn", err, boom)
	got, err := s.GetWebhook(ctx(t), r.ID, h.ID)
	must(t, "get webhook", err)
	same(t, "webhook after the failed update", got, h)
	_, err = s.UpdateWebhook(ctx(t), r.ID, h.ID+1000, func(w store.Webhook) (store.Webhook, error) { return w, nil })
	wantErr(t, "update unknown webhook", err, store.ErrNotFound)
}

func testDeleteWebhook(t *testing.T, s store.Store) {
	r, h := mkRepoHook(t, s)
	kept := mkHook(t, s, r, "kept")
	ds := enqueue(t, s, store.Delivery{HookID: h.ID}, store.Delivery{HookID: kept.ID})
	must(t, "delete webhook", s.DeleteWebhook(ctx(t), r.ID, h.ID))
	_, err := s.GetWebhook(ctx(t), r.ID, h.ID)
	wantErr(t, "get deleted webhook", err, store.ErrNotFound)
	if got := listAll(t, "list deliveries", store.Bind(s.ListDeliveries, h.ID)); len(got) != 0 {
		t.Errorf("deleted webhook lists %d deliveries", len(got))
	}
	err = s.FinishDelivery(ctx(t), ds[0].ID, store.DeliveryResult{State: store.DeliveryDelivered, AttemptedAt: now()})
	wantErr(t, "finish a delivery of a deleted webhook", err, store.ErrNotFound)
	same(t, "deliveries of the kept webhook", listAll(t, "list deliveries", store.Bind(s.ListDeliveries, kept.ID)), ds[1:])
	claimed, err := s.ClaimDeliveries(ctx(t), now(), time.Minute, 10)
	must(t, "claim", err)
	if len(claimed) != 1 || claimed[0].ID != ds[1].ID {
		t.Errorf("claimed %v, want only the kept webhook's delivery %d", deliveryIDs(claimed), ds[1].ID)
	}
	wantErr(t, "delete webhook twice", s.DeleteWebhook(ctx(t), r.ID, h.ID), store.ErrNotFound)
}

func testDeleteRepoTakesHooks(t *testing.T, s store.Store) {
	p, q := mkProject(t, s, "PROJ"), mkProject(t, s, "KEEP")
	repos := map[string]store.Repo{
		"deleted repository":            mkRepo(t, s, p, "one"), // DeleteRepo
		"repository of deleted project": mkRepo(t, s, p, "two"), // DeleteProject
		"kept repository":               mkRepo(t, s, q, "kept"),
	}
	hooks := map[string]store.Webhook{}
	sha := sha1Of("c")
	for name, r := range repos {
		hooks[name] = mkHook(t, s, r, "ci")
		enqueue(t, s, store.Delivery{HookID: hooks[name].ID}, store.Delivery{HookID: hooks[name].ID})
		mkStatus(t, s, r, sha, "ci/build")
	}
	must(t, "delete repo", s.DeleteRepo(ctx(t), repos["deleted repository"].ID))
	must(t, "delete project", s.DeleteProject(ctx(t), p.ID))
	for name, r := range repos {
		_, err := s.GetWebhook(ctx(t), r.ID, hooks[name].ID)
		deliveries := listAll(t, "list deliveries", store.Bind(s.ListDeliveries, hooks[name].ID))
		statuses := listAll(t, "list statuses", statusesOf(s, r.ID, sha))
		if name == "kept repository" {
			must(t, "webhook of the kept repository", err)
			if len(deliveries) != 2 || len(statuses) != 1 {
				t.Errorf("%s: %d deliveries and %d statuses, want 2 and 1", name, len(deliveries), len(statuses))
			}
			continue
		}
		wantErr(t, "webhook of a "+name, err, store.ErrNotFound)
		if len(deliveries) != 0 || len(statuses) != 0 {
			t.Errorf("%s: %d deliveries and %d statuses left", name, len(deliveries), len(statuses))
		}
	}
	claimed, err := s.ClaimDeliveries(ctx(t), now(), time.Minute, 100)
	must(t, "claim", err)
	if len(claimed) != 2 || claimed[0].RepoID != repos["kept repository"].ID || claimed[1].RepoID != repos["kept repository"].ID {
		t.Errorf("claimed %d deliveries (%+v), want the 2 of the kept repository", len(claimed), claimed)
	}
}

// deliveryIDs lists the IDs of ds in order.
func deliveryIDs(ds []store.Delivery) []int64 {
	var ids []int64
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}
