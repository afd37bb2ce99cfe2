package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"latchkey/internal/cleanup"
	"latchkey/internal/store"
	"latchkey/internal/store/postgres"
	"latchkey/internal/store/sqlstore"
	"latchkey/internal/store/storetest"
)

// dsnEnv names the environment variable with the test server's DSN, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const dsnEnv = "LATCHKEY_TEST_POSTGRES"

// serverDSN returns the test server's DSN. Without one the test is skipped,
// except in CI (CI=true), where a missing database is a failure.
func serverDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn != "" {
		return dsn
	}
	msg := dsnEnv + " is not set; set it to a PostgreSQL URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

var (
	adminOnce sync.Once
	adminDB   *sql.DB
	adminErr  error
)

// admin returns a connection pool to the test server for creating schemas.
func admin(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	adminOnce.Do(func() {
		adminDB, adminErr = sql.Open("pgx", dsn)
		if adminErr == nil {
			adminErr = adminDB.PingContext(t.Context())
		}
	})
	if adminErr != nil {
		t.Fatalf("connect to %s: %v", dsnEnv, adminErr)
	}
	return adminDB
}

// freshSchema creates a uniquely named schema, drops it when the test ends,
// and returns a DSN whose search_path is that schema.
func freshSchema(t *testing.T) string {
	t.Helper()
	dsn := serverDSN(t)
	db := admin(t, dsn)
	name := "lk_test_" + strings.ToLower(rand.Text()[:16])
	if _, err := db.ExecContext(t.Context(), "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return withSearchPath(t, dsn, name)
}

// withSearchPath sets the search_path run-time parameter in a URL or
// key=value DSN.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", dsnEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openFresh opens a migrated store in a fresh schema.
func openFresh(t *testing.T) store.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), freshSchema(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.RunTests(t, openFresh)
}

// TestClaimAcrossNodes: two stores over one schema, each with its own
// connection pools as two nodes have, claim deliveries concurrently in a
// loop. No delivery is leased to two workers at once, and each is claimed
// exactly once per round (FOR UPDATE SKIP LOCKED).
func TestClaimAcrossNodes(t *testing.T) {
	dsn := freshSchema(t)
	nodes := openNodes(t, dsn, 2)
	storetest.ClaimRace(t, nodes, 400, 4)
}

// TestConcurrentOpen starts many stores on one empty schema at once, as
// nodes starting together do: the migrations must apply exactly once.
func TestConcurrentOpen(t *testing.T) {
	dsn := freshSchema(t)
	const nodes = 8
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), dsn)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var applied int
	q := "SELECT count(*) FROM schema_migrations"
	if err := s.Transact(t.Context(), func(tx sqlstore.Tx) error { return tx.QueryRowContext(t.Context(), q).Scan(&applied) }); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t); applied != want {
		t.Errorf("schema_migrations has %d rows, want %d", applied, want)
	}
}

func migrationCount(t *testing.T) int {
	t.Helper()
	ms, err := sqlstore.Migrations(sqlstore.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func TestPoolMaxConnsFromTheDSN(t *testing.T) {
	dsn := os.Getenv("LATCHKEY_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("LATCHKEY_TEST_POSTGRES is not set")
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	st, err := postgres.Open(t.Context(), dsn+sep+"pool_max_conns=6")
	if err != nil {
		t.Fatalf("open with pool_max_conns: %v", err)
	}
	st.Close()
	if _, err := postgres.Open(t.Context(), dsn+sep+"pool_max_conns=x"); err == nil || !strings.Contains(err.Error(), "pool_max_conns") {
		t.Fatalf("a bad pool_max_conns: %v", err)
	}
}

// twoNodes opens two stores over one fresh schema, each with its own pools
// and notification stream, and a raw connection for hand-written SQL.
func twoNodes(t *testing.T) (a, b store.Store, raw storetest.Raw) {
	dsn := freshSchema(t)
	nodes := openNodes(t, dsn, 2)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return nodes[0], nodes[1], func(ctx context.Context, q string, args ...any) error {
		_, err := db.ExecContext(ctx, q, args...)
		return err
	}
}

// TestCacheAcrossNodes: what one node (or hand-written SQL) changes, the
// other node's cached reads see at once; and within one node.
func TestCacheAcrossNodes(t *testing.T) {
	a, b, raw := twoNodes(t)
	storetest.CacheCoherence(t, a, b, raw)
	a, _, raw = twoNodes(t)
	storetest.CacheCoherence(t, a, a, raw)
}

func TestCacheRaceAcrossNodes(t *testing.T) {
	a, b, _ := twoNodes(t)
	storetest.CacheRace(t, a, b)
}

// TestCacheSeesATransactionThatCommitsLate: a transaction that began (and
// took its transaction ID) before another one committed and was read, and
// commits only afterwards, is still seen by the next cached read: the
// log's order is not commit order on PostgreSQL.
func TestCacheSeesATransactionThatCommitsLate(t *testing.T) {
	dsn := freshSchema(t)
	nodes := openNodes(t, dsn, 2)
	writer, reader := nodes[0], nodes[1]
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	slow, err := writer.CreateUser(ctx, store.User{Username: "slow", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	other, err := writer.CreateUser(ctx, store.User{Username: "other", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	read := func(id int64) store.User {
		t.Helper()
		u, err := reader.GetUser(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	read(slow.ID)
	read(slow.ID)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled = 1 WHERE id = $1`, slow.ID); err != nil {
		t.Fatal(err)
	}
	// Another transaction commits after it began; the reader reads past it.
	if _, err := writer.UpdateUser(ctx, other.ID, func(u store.User) (store.User, error) { u.DisplayName = "x"; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if read(other.ID).DisplayName != "x" || read(slow.ID).Disabled {
		t.Fatal("the reader did not see the committed change, or saw the uncommitted one")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if !read(slow.ID).Disabled {
		t.Fatal("a change that committed late was not seen by the cache")
	}
}

// openNodes opens n stores over the schema of dsn, each with its own
// pools, as n nodes have.
func openNodes(t *testing.T, dsn string, n int) []store.Store {
	t.Helper()
	var nodes []store.Store
	for range n {
		s, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}
	return nodes
}

// TestCleanerPrunesTheCacheLog: the cleaner deletes the rows of the cache
// invalidation log that no node needs any more, however many there are
// (not one batch per sweep), and keeps the young ones.
func TestCleanerPrunesTheCacheLog(t *testing.T) {
	dsn := freshSchema(t)
	s := openNodes(t, dsn, 1)[0]
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `INSERT INTO cache_invalidations (at, tag)
		SELECT 0, 'u:' || i FROM generate_series(1, 1234) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO cache_invalidations (tag) VALUES ('u:young')`); err != nil {
		t.Fatal(err)
	}
	// The old rows are kept while any transaction of the server (of any
	// database: the tests of other packages share it) began before they
	// committed, so a sweep that prunes nothing is tried again; one that
	// prunes any must prune them all.
	var old, young int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		cleanup.Sweep(ctx, cleanup.Config{Store: s, Batch: 100, Pause: time.Millisecond})
		if err := db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE at = 0), count(*) FILTER (WHERE at <> 0)
			FROM cache_invalidations`).Scan(&old, &young); err != nil {
			t.Fatal(err)
		}
		if old != 1234 || time.Now().After(deadline) {
			break
		}
	}
	if old != 0 || young != 1 {
		t.Fatalf("after a sweep: %d old rows left (want 0), %d young (want 1)", old, young)
	}
}
