package storetest

import (
	"reflect"
	"testing"

	"latchkey/internal/store"
)

var badTextTests = []test{
	{"UpdateUserWithBadTextIsInvalidTextAndWritesNothing", testUpdateUserBadText},
	{"UpdateProjectWithBadTextIsInvalidTextAndWritesNothing", testUpdateProjectBadText},
	{"UpdateRepoWithBadTextIsInvalidTextAndWritesNothing", testUpdateRepoBadText},
	{"UpdateClientWithBadTextIsInvalidTextAndWritesNothing", testUpdateClientBadText},
	{"UpdateDeviceCodeWithBadTextIsInvalidTextAndWritesNothing", testUpdateDeviceBadText},
	{"IssueWithBadTextIsInvalidTextAndWritesNothing", testIssueBadText},
	{"CreateWebhookWithBadTextIsInvalidTextAndWritesNothing", testCreateWebhookBadText},
	{"UpdateWebhookWithBadTextIsInvalidTextAndWritesNothing", testUpdateWebhookBadText},
	{"EnqueueDeliveriesWithBadTextIsInvalidTextAndWritesNothing", testEnqueueBadText},
	{"AddCommitStatusWithBadTextIsInvalidTextAndWritesNothing", testAddStatusBadText},
}

// badTexts are what PostgreSQL cannot keep and SQLite would: a NUL byte
// (a display name "admin\x00 (bob)") and invalid UTF-8.
var badTexts = []string{"admin\x00 (bob)", "a\xffb"}

// withText returns v with its field named field set to bad: a string field
// to bad, a string list to a list holding bad.
func withText[T any](v T, field, bad string) T {
	f := reflect.ValueOf(&v).Elem().FieldByName(field)
	if f.Kind() == reflect.Slice {
		f.Set(reflect.ValueOf([]string{"ok", bad}))
	} else {
		f.SetString(bad)
	}
	return v
}

// eachBadText runs fn for every text field named and every bad text.
func eachBadText(t *testing.T, fields []string, fn func(t *testing.T, field, bad string)) {
	for _, field := range fields {
		for _, bad := range badTexts {
			t.Run(field, func(t *testing.T) { fn(t, field, bad) })
		}
	}
}

func testUpdateUserBadText(t *testing.T, s store.Store) {
	u := mkUser(t, s, "bob")
	eachBadText(t, []string{"Username", "Email", "DisplayName", "PasswordHash"}, func(t *testing.T, field, bad string) {
		_, err := s.UpdateUser(ctx(t), u.ID, func(u store.User) (store.User, error) { return withText(u, field, bad), nil })
		wantErr(t, "update user "+field, err, store.ErrInvalidText)
		got, err := s.GetUser(ctx(t), u.ID)
		must(t, "get user", err)
		same(t, "user after the refused update", got, u)
	})
}

func testUpdateProjectBadText(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	eachBadText(t, []string{"Key", "Name", "Description"}, func(t *testing.T, field, bad string) {
		_, err := s.UpdateProject(ctx(t), p.ID, func(p store.Project) (store.Project, error) { return withText(p, field, bad), nil })
		wantErr(t, "update project "+field, err, store.ErrInvalidText)
		got, err := s.GetProjectByKey(ctx(t), p.Key)
		must(t, "get project", err)
		same(t, "project after the refused update", got, p)
	})
}

func testUpdateRepoBadText(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	r := mkRepo(t, s, p, "repo")
	eachBadText(t, []string{"Slug", "Name"}, func(t *testing.T, field, bad string) {
		_, err := s.UpdateRepo(ctx(t), r.ID, func(r store.Repo) (store.Repo, error) { return withText(r, field, bad), nil })
		wantErr(t, "update repo "+field, err, store.ErrInvalidText)
		got, err := s.GetRepo(ctx(t), p.Key, r.Slug)
		must(t, "get repo", err)
		same(t, "repository after the refused update", got, r)
	})
}

func testUpdateClientBadText(t *testing.T, s store.Store) {
	c := mkClient(t, s, "app")
	fields := []string{"Name", "SecretHash", "RedirectURIs", "Scopes", "DefaultScopes", "GrantTypes"}
	eachBadText(t, fields, func(t *testing.T, field, bad string) {
		_, err := s.UpdateClient(ctx(t), c.ID, func(c store.Client) (store.Client, error) { return withText(c, field, bad), nil })
		wantErr(t, "update client "+field, err, store.ErrInvalidText)
		got, err := s.GetClient(ctx(t), c.ID)
		must(t, "get client", err)
		same(t, "client after the refused update", got, c)
	})
}

func testUpdateDeviceBadText(t *testing.T, s store.Store) {
	d := mkDevice(t, s, "BCDFGHJK")
	eachBadText(t, []string{"Status"}, func(t *testing.T, field, bad string) {
		_, err := s.UpdateDeviceCode(ctx(t), d.Hash, now(), func(d store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
			return withText(d, field, bad), nil, nil
		})
		wantErr(t, "update device code "+field, err, store.ErrInvalidText)
		got, err := s.GetDeviceCode(ctx(t), d.Hash)
		must(t, "get device code", err)
		same(t, "device code after the refused update", got, d)
	})
}

// testIssueBadText: the family and tokens a callback returns are written
// in the callback's transaction, through the same guard.
func testIssueBadText(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	for _, bad := range badTexts {
		hash := mkCode(t, s, c, u)
		var unwritten store.Issue
		_, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, hash), now(), func(code store.AuthCode) (store.Issue, error) {
			unwritten, _ = issueFromCode(code)
			unwritten.Family.Nonce = bad
			return unwritten, nil
		})
		wantErr(t, "redeem with a nonce of bad text", err, store.ErrInvalidText)
		for _, tok := range unwritten.Tokens {
			_, _, err := s.GetToken(ctx(t), tok.Hash)
			wantErr(t, "token of the refused issue", err, store.ErrNotFound)
		}
	}
}

func testCreateWebhookBadText(t *testing.T, s store.Store) {
	r := mkRepo(t, s, mkProject(t, s, "PROJ"), "repo")
	h := store.Webhook{RepoID: r.ID, Kind: store.HookGitea, Name: "ci", URL: "http://ci", Events: []string{"push"}, Config: "{}"}
	eachBadText(t, []string{"Kind", "Name", "URL", "Events", "Config"}, func(t *testing.T, field, bad string) {
		_, err := s.CreateWebhook(ctx(t), withText(h, field, bad))
		wantErr(t, "create webhook "+field, err, store.ErrInvalidText)
		if hs := listAll(t, "list webhooks", store.Bind(s.ListWebhooks, r.ID)); len(hs) != 0 {
			t.Errorf("refused webhook stored: %+v", hs)
		}
	})
}

func testUpdateWebhookBadText(t *testing.T, s store.Store) {
	r, h := mkRepoHook(t, s)
	eachBadText(t, []string{"Name", "URL", "Events", "Config"}, func(t *testing.T, field, bad string) {
		_, err := s.UpdateWebhook(ctx(t), r.ID, h.ID, func(h store.Webhook) (store.Webhook, error) { return withText(h, field, bad), nil })
		wantErr(t, "update webhook "+field, err, store.ErrInvalidText)
		got, err := s.GetWebhook(ctx(t), r.ID, h.ID)
		must(t, "get webhook", err)
		same(t, "webhook after the refused update", got, h)
	})
}

func testEnqueueBadText(t *testing.T, s store.Store) {
	_, h := mkRepoHook(t, s)
	good := store.Delivery{HookID: h.ID, Event: "push", GUID: "g", Headers: map[string]string{"X-Gitea-Event": "push"}}
	check := func(t *testing.T, what string, bad store.Delivery) {
		_, err := s.EnqueueDeliveries(ctx(t), []store.Delivery{good, bad})
		wantErr(t, "enqueue with a bad "+what, err, store.ErrInvalidText)
		if ds := listAll(t, "list deliveries", store.Bind(s.ListDeliveries, h.ID)); len(ds) != 0 {
			t.Errorf("enqueue with a bad %s stored %d deliveries", what, len(ds))
		}
	}
	eachBadText(t, []string{"Event", "GUID"}, func(t *testing.T, field, bad string) {
		check(t, field, withText(good, field, bad))
	})
	for _, bad := range badTexts {
		check(t, "header name", store.Delivery{HookID: h.ID, Headers: map[string]string{bad: "x"}})
		check(t, "header value", store.Delivery{HookID: h.ID, Headers: map[string]string{"X": bad}})
	}
}

func testAddStatusBadText(t *testing.T, s store.Store) {
	r := mkRepo(t, s, mkProject(t, s, "PROJ"), "repo")
	sha := sha1Of("a")
	cs := store.CommitStatus{RepoID: r.ID, SHA: sha, Context: "ci", State: store.StatusSuccess, Name: "CI",
		TargetURL: "http://ci", Description: "ok"}
	eachBadText(t, []string{"SHA", "Context", "State", "Name", "TargetURL", "Description"}, func(t *testing.T, field, bad string) {
		_, err := s.AddCommitStatus(ctx(t), withText(cs, field, bad))
		wantErr(t, "add commit status "+field, err, store.ErrInvalidText)
		if got := listAll(t, "list statuses", statusesOf(s, r.ID, sha)); len(got) != 0 {
			t.Errorf("refused status stored: %+v", got)
		}
	})
}
