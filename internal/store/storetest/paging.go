package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/store"
)

var pagingTests = []test{
	{"EveryListOfAnEmptyStoreIsOneEmptyLastPage", testPagingEmpty},
	{"LimitBelowOneIsTheDefaultAndAboveTheMaximumIsTheMaximum", testPagingLimits},
	{"RowsAddedOrDeletedBetweenPagesShiftNoOtherRow", testPagingStable},
	{"CursorsWalkTiesOfTheFirstKeyByTheSecond", testPagingTies},
	{"MalformedCursorIsAnError", testPagingBadCursor},
}

// listAll reads a whole list, a page at a time, and fails the test on an
// error.
func listAll[T any](t *testing.T, what string, list store.List[T]) []T {
	t.Helper()
	items, err := store.All(ctx(t), list)
	must(t, what, err)
	return items
}

// checkPaging reads list in pages of every size from 1 to len(want)+1 and
// checks that the pages hold want in order; that every page but the last
// is full and followed by a cursor; and that the last page, full or not, is
// followed by none (no empty page at the end).
func checkPaging[T any](t *testing.T, what string, list store.List[T], want []T) {
	t.Helper()
	for size := 1; size <= len(want)+1; size++ {
		var got []T
		pages := 0
		for p := (store.Page{Limit: size}); ; {
			items, next, err := list(ctx(t), p)
			must(t, fmt.Sprintf("%s: page %d of size %d", what, pages+1, size), err)
			got, pages = append(got, items...), pages+1
			if next == "" {
				break
			}
			if len(items) != size || pages > len(want) {
				t.Fatalf("%s: page %d of size %d holds %d items and is not the last", what, pages, size, len(items))
			}
			p.After = next
		}
		if wantPages := max(1, (len(want)+size-1)/size); pages != wantPages {
			t.Errorf("%s in pages of %d: %d pages, want %d", what, size, pages, wantPages)
		}
		same(t, fmt.Sprintf("%s in pages of %d", what, size), got, want)
	}
}

// counted is a list with its items counted and dropped, so that lists of
// different item types fit in one table.
type counted func(context.Context, store.Page) (int, store.Cursor, error)

func countOf[T any](list store.List[T]) counted {
	return func(ctx context.Context, p store.Page) (int, store.Cursor, error) {
		items, next, err := list(ctx, p)
		return len(items), next, err
	}
}

// everyList is every paged list of the store, with arguments that match
// nothing in an empty store (user, owner and project 1).
func everyList(s store.Store) map[string]counted {
	return map[string]counted{
		"users":              countOf(s.ListUsers),
		"projects":           countOf(s.ListProjects),
		"repos of a project": countOf(store.Bind(s.ListRepos, 1)),
		"all repos":          countOf(s.ListAllRepos),
		"target permissions": countOf(func(ctx context.Context, p store.Page) ([]store.Permission, store.Cursor, error) {
			return s.ListTargetPermissions(ctx, store.TargetGlobal, 0, p)
		}),
		"clients":             countOf(s.ListClients),
		"clients of an owner": countOf(store.Bind(s.ListClientsByOwner, 1)),
		"consents of a user":  countOf(store.Bind(s.ListConsentsByUser, 1)),
		"families of a user": countOf(func(ctx context.Context, p store.Page) ([]store.UserFamily, store.Cursor, error) {
			return s.ListFamiliesByUser(ctx, 1, now(), p)
		}),
		"audit events":         countOf(s.ListAudit),
		"webhooks of a repo":   countOf(store.Bind(s.ListWebhooks, 1)),
		"deliveries of a hook": countOf(store.Bind(s.ListDeliveries, 1)),
		"statuses of a commit": countOf(statusesOf(s, 1, sha1Of("a"))),
	}
}

func testPagingEmpty(t *testing.T, s store.Store) {
	for name, list := range everyList(s) {
		for _, limit := range []int{-1, 0, 1, 5} {
			n, next, err := list(ctx(t), store.Page{Limit: limit})
			must(t, name, err)
			if n != 0 || next != "" {
				t.Errorf("%s of an empty store, limit %d: %d items, next %q; want none", name, limit, n, next)
			}
		}
	}
}

// appendEvents appends n audit events and returns their IDs, newest first.
func appendEvents(t *testing.T, s store.Store, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		e, err := s.AppendAudit(ctx(t), store.AuditEvent{At: now(), Event: audit.Event(fmt.Sprintf("e%d", i))})
		must(t, "append", err)
		ids = append(ids, e.ID)
	}
	slices.Reverse(ids)
	return ids
}

// eventIDs lists the IDs of es in order.
func eventIDs(es []store.AuditEvent) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func testPagingLimits(t *testing.T, s store.Store) {
	ids := appendEvents(t, s, store.DefaultLimit+1)
	for _, limit := range []int{-5, 0} {
		es, next, err := s.ListAudit(ctx(t), store.Page{Limit: limit})
		must(t, "list", err)
		if !slices.Equal(eventIDs(es), ids[:store.DefaultLimit]) || next == "" {
			t.Errorf("limit %d: %d events, next %q; want the %d newest and a next page", limit, len(es), next, store.DefaultLimit)
		}
	}
	if got := (store.Page{Limit: store.MaxLimit + 1}).Size(); got != store.MaxLimit {
		t.Errorf("a limit above the maximum asks for %d items, want %d", got, store.MaxLimit)
	}
	es, next, err := s.ListAudit(ctx(t), store.Page{Limit: store.MaxLimit + 1})
	must(t, "list", err)
	if !slices.Equal(eventIDs(es), ids) || next != "" {
		t.Errorf("limit above the maximum: %d events, next %q; want all %d", len(es), next, len(ids))
	}
}

func testPagingStable(t *testing.T, s store.Store) {
	for _, name := range []string{"b", "d", "f", "h"} {
		mkUser(t, s, name)
	}
	first, next, err := s.ListUsers(ctx(t), store.Page{Limit: 2})
	must(t, "first page", err)
	mkUser(t, s, "a") // before the cursor: not seen by this walk
	mkUser(t, s, "e") // after it: seen
	must(t, "delete f", s.DeleteUser(ctx(t), mustUser(t, s, "f").ID))
	rest := listAll(t, "the rest", func(c context.Context, p store.Page) ([]store.User, store.Cursor, error) {
		if p.After == "" {
			p.After = next
		}
		return s.ListUsers(c, p)
	})
	var names []string
	for _, u := range append(first, rest...) {
		names = append(names, u.Username)
	}
	if want := []string{"b", "d", "e", "h"}; !slices.Equal(names, want) {
		t.Errorf("walk over changing users: %q, want %q", names, want)
	}
}

// mustUser loads the user named name.
func mustUser(t *testing.T, s store.Store, name string) store.User {
	t.Helper()
	u, err := s.GetUserByUsername(ctx(t), name)
	must(t, "get user "+name, err)
	return u
}

func testPagingTies(t *testing.T, s store.Store) {
	alice := mkUser(t, s, "alice")
	at := now()
	var consents []store.Consent
	for _, id := range []string{"c", "a", "b"} {
		mkClient(t, s, id)
		c := store.Consent{UserID: alice.ID, ClientID: id, Scopes: []string{"REPO_READ"}, GrantedAt: at}
		must(t, "save consent", s.SaveConsent(ctx(t), c))
		consents = append(consents, c)
	}
	older := store.Consent{UserID: alice.ID, ClientID: "d", Scopes: []string{"openid"}, GrantedAt: at.Add(-time.Second)}
	mkClient(t, s, "d")
	must(t, "save consent", s.SaveConsent(ctx(t), older))
	checkPaging(t, "consents granted at one time", store.Bind(s.ListConsentsByUser, alice.ID),
		[]store.Consent{consents[1], consents[2], consents[0], older})
	app := mkClient(t, s, "app")
	var fams []store.UserFamily
	for range 3 {
		iss := mkFamily(t, s, app, alice, at)
		fams = append([]store.UserFamily{{Family: iss.Family, ClientName: app.Name}}, fams...)
	}
	checkPaging(t, "families created at one time", func(c context.Context, p store.Page) ([]store.UserFamily, store.Cursor, error) {
		return s.ListFamiliesByUser(c, alice.ID, at, p)
	}, fams)
}

func testPagingBadCursor(t *testing.T, s store.Store) {
	mkUser(t, s, "alice")
	for name, list := range everyList(s) {
		if _, _, err := list(ctx(t), store.Page{After: "not a cursor"}); err == nil {
			t.Errorf("%s: a malformed cursor was accepted", name)
		}
	}
}
