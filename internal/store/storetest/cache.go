package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"latchkey/internal/store"
)

// Raw runs a hand-written statement on a node's database, outside the
// store's methods (as an administrator's SQL would).
type Raw func(ctx context.Context, query string, args ...any) error

// CacheCoherence checks the read cache across nodes: reader serves the
// token checks' reads (GetBearer, GetToken, GetUser, GetUserByUsername,
// ListPermissions, GetClient) after they were read once, so from its cache
// where it has one, while writer changes the rows behind them, through the
// store and by hand-written SQL (raw). Every read on reader that starts
// after a change returned must see the change.
func CacheCoherence(t *testing.T, writer, reader store.Store, raw Raw) {
	c := ctx(t)
	cl := mkClient(t, writer, "cached")
	u := mkUser(t, writer, "cachedreader")
	iss := mkFamily(t, writer, cl, u, now())
	access := iss.Tokens[0].Hash

	warm := func() store.Bearer {
		t.Helper()
		var b store.Bearer
		for range 3 { // fill, then hit
			var err error
			b, err = reader.GetBearer(c, access)
			must(t, "get bearer", err)
			_, _, err = reader.GetToken(c, access)
			must(t, "get token", err)
			_, err = reader.GetUser(c, u.ID)
			must(t, "get user", err)
			_, err = reader.GetUserByUsername(c, u.Username)
			must(t, "get user by name", err)
			_, err = reader.ListPermissions(c, u.ID)
			must(t, "list permissions", err)
			_, err = reader.GetClient(c, cl.ID)
			must(t, "get client", err)
		}
		return b
	}

	// A permission granted, then taken away.
	warm()
	must(t, "set permission", writer.SetPermission(c, store.Permission{UserID: u.ID, Target: store.TargetGlobal, Name: "PROJECT_CREATE"}))
	ps, err := reader.ListPermissions(c, u.ID)
	must(t, "list permissions", err)
	same(t, "permissions after the grant", len(ps), 1)
	warm()
	must(t, "delete permission", writer.DeletePermission(c, u.ID, store.TargetGlobal, 0))
	ps, err = reader.ListPermissions(c, u.ID)
	must(t, "list permissions", err)
	same(t, "permissions after the removal", len(ps), 0)

	// The user disabled by hand, then enabled through the store.
	warm()
	must(t, "disable by hand", raw(c, `UPDATE users SET disabled = 1 WHERE id = $1`, u.ID))
	b, err := reader.GetBearer(c, access)
	must(t, "get bearer", err)
	same(t, "bearer's user disabled", b.User.Disabled, true)
	got, err := reader.GetUserByUsername(c, u.Username)
	must(t, "get user by name", err)
	same(t, "user by name disabled", got.Disabled, true)
	_, err = writer.UpdateUser(c, u.ID, func(x store.User) (store.User, error) { x.Disabled = false; return x, nil })
	must(t, "enable", err)
	got, err = reader.GetUser(c, u.ID)
	must(t, "get user", err)
	same(t, "user enabled", got.Disabled, false)

	// Two users disabled by one hand-written statement: a transaction
	// that changes several cached rows invalidates each of them.
	u2 := mkUser(t, writer, "cachedreader2")
	for range 2 {
		for _, id := range []int64{u.ID, u2.ID} {
			_, err := reader.GetUser(c, id)
			must(t, "get user", err)
		}
	}
	must(t, "disable both by hand", raw(c, `UPDATE users SET disabled = 1 WHERE id IN ($1, $2)`, u.ID, u2.ID))
	for _, id := range []int64{u.ID, u2.ID} {
		got, err := reader.GetUser(c, id)
		must(t, "get user", err)
		same(t, fmt.Sprintf("user %d disabled with another", id), got.Disabled, true)
	}
	must(t, "enable by hand", raw(c, `UPDATE users SET disabled = 0 WHERE id = $1`, u.ID))

	// The client suspended.
	warm()
	_, err = writer.UpdateClient(c, cl.ID, func(x store.Client) (store.Client, error) { x.Suspended = true; return x, nil })
	must(t, "suspend client", err)
	b, err = reader.GetBearer(c, access)
	must(t, "get bearer", err)
	same(t, "bearer's client suspended", b.ClientSuspended, true)
	gc, err := reader.GetClient(c, cl.ID)
	must(t, "get client", err)
	same(t, "client suspended", gc.Suspended, true)

	// The family revoked through the store; then a second family's token
	// deleted by hand.
	warm()
	must(t, "revoke", writer.RevokeFamily(c, iss.Family.ID, now()))
	b, err = reader.GetBearer(c, access)
	must(t, "get bearer", err)
	same(t, "bearer's family revoked", b.Family.Revoked(), true)
	_, f, err := reader.GetToken(c, access)
	must(t, "get token", err)
	same(t, "token's family revoked", f.Revoked(), true)

	iss2 := mkFamily(t, writer, cl, u, now())
	if _, err := reader.GetBearer(c, iss2.Tokens[0].Hash); err != nil {
		t.Fatalf("get bearer: %v", err)
	}
	must(t, "delete by hand", raw(c, `DELETE FROM tokens WHERE hash = $1`, iss2.Tokens[0].Hash))
	_, err = reader.GetBearer(c, iss2.Tokens[0].Hash)
	wantErr(t, "bearer of a deleted token", err, store.ErrNotFound)

	// Projects and repositories: created, renamed by hand, deleted.
	lists := func() (int, int, string) {
		t.Helper()
		var ps []store.Project
		var rs []store.Repo
		for range 2 {
			var err error
			ps, _, err = reader.ListProjects(c, store.Page{})
			must(t, "list projects", err)
			rs, _, err = reader.ListAllRepos(c, store.Page{})
			must(t, "list repos", err)
		}
		name := ""
		if len(ps) > 0 {
			name = ps[0].Name
		}
		return len(ps), len(rs), name
	}
	lists()
	pr := mkProject(t, writer, "CACHED")
	if np, _, _ := lists(); np != 1 {
		t.Fatalf("%d projects after a creation", np)
	}
	mkRepo(t, writer, pr, "cached")
	if _, nr, _ := lists(); nr != 1 {
		t.Fatalf("%d repos after a creation", nr)
	}
	must(t, "rename by hand", raw(c, `UPDATE projects SET name = 'Renamed' WHERE id = $1`, pr.ID))
	if _, _, name := lists(); name != "Renamed" {
		t.Fatalf("project name %q after a rename", name)
	}

	// A caller's copy is its own.
	b, err = reader.GetBearer(c, access)
	must(t, "get bearer", err)
	b.Token.Scopes[0] = "changed"
	b, err = reader.GetBearer(c, access)
	must(t, "get bearer", err)
	same(t, "cached scope", b.Token.Scopes[0], "REPO_READ")
}

// CacheRace revokes families on writer while readers on reader check
// their tokens in a loop: once RevokeFamily has returned, no check that
// starts afterwards may see the family live.
func CacheRace(t *testing.T, writer, reader store.Store) {
	c := ctx(t)
	cl := mkClient(t, writer, "raced")
	u := mkUser(t, writer, "racedreader")
	const rounds = 40
	for round := range rounds {
		iss := mkFamily(t, writer, cl, u, now())
		access := iss.Tokens[0].Hash
		var revoked atomic.Bool
		var stop atomic.Bool
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					after := revoked.Load()
					b, err := reader.GetBearer(c, access)
					if err != nil {
						errs <- err
						return
					}
					if after && !b.Family.Revoked() {
						errs <- fmt.Errorf("round %d: a check that began after the revocation returned saw the family live", round)
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		must(t, "revoke", writer.RevokeFamily(c, iss.Family.ID, now()))
		revoked.Store(true)
		time.Sleep(5 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
}

var cacheTests = []test{
	{"AReadScopeSeesTheStoresOwnLaterWrites", testReadScopeOwnWrites},
}

// testReadScopeOwnWrites: reads in one store.ReadScope share one check of
// the cache, but a write the same store commits afterwards (a request
// revoking a token, then reading it) is seen by the scope's next read.
func testReadScopeOwnWrites(t *testing.T, s store.Store) {
	c := store.WithReadScope(ctx(t))
	cl := mkClient(t, s, "scoped")
	u := mkUser(t, s, "scopedreader")
	iss := mkFamily(t, s, cl, u, now())
	for range 2 {
		b, err := s.GetBearer(c, iss.Tokens[0].Hash)
		must(t, "get bearer", err)
		same(t, "live", b.Family.Revoked(), false)
	}
	must(t, "revoke", s.RevokeFamily(c, iss.Family.ID, now()))
	b, err := s.GetBearer(c, iss.Tokens[0].Hash)
	must(t, "get bearer", err)
	same(t, "revoked in the same scope", b.Family.Revoked(), true)
	must(t, "set permission", s.SetPermission(c, store.Permission{UserID: u.ID, Target: store.TargetGlobal, Name: "PROJECT_CREATE"}))
	ps, err := s.ListPermissions(c, u.ID)
	must(t, "list permissions", err)
	same(t, "permissions in the same scope", len(ps), 1)
}
