package sqlstore_test

import (
	"database/sql"
	"strconv"
	"strings"
	"testing"

	"latchkey/internal/store"
	"latchkey/internal/store/postgres"
	"latchkey/internal/store/sqlstore"
	"latchkey/internal/testkit"
)

// The pulls of a PostgreSQL node read the invalidation log through its
// index however large the log is and whatever the planner estimates: a
// pull runs before most requests, and a scan of ten minutes of log on each
// would make every read as slow as the log is long. With the log's young
// rows after a large old part (a write load, then reads), neither query
// of a pull may scan the table.
// openPostgres opens a store on a fresh database of the server of
// LATCHKEY_TEST_POSTGRES, and a pool of its own on it for hand-written SQL.
func openPostgres(t *testing.T) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	dsn := testkit.FreshPostgres(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

func TestPostgresPullsReadTheLogByItsIndex(t *testing.T) {
	_, db := openPostgres(t)
	ctx := t.Context()
	// 30 000 old rows of 300 transactions, and 20 young ones.
	if _, err := db.ExecContext(ctx, `INSERT INTO cache_invalidations (xid, tag)
		SELECT (1000 + i / 100)::text::xid8, 'f:' || i FROM generate_series(1, 30000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO cache_invalidations (xid, tag)
		SELECT (900000 + i)::text::xid8, 'u:' || i FROM generate_series(1, 20) AS i`); err != nil {
		t.Fatal(err)
	}
	for _, analyzed := range []bool{false, true} {
		if analyzed {
			if _, err := db.ExecContext(ctx, `ANALYZE cache_invalidations`); err != nil {
				t.Fatal(err)
			}
		}
		for name, pull := range map[string]struct {
			query string
			args  []any
		}{
			"first": {sqlstore.PGPullFirst, []any{"900000", sqlstore.PGBatch}},
			"next":  {sqlstore.PGPullNext, []any{"900005", "u:5", sqlstore.PGBatch}},
			"late":  {sqlstore.PGPullLate, []any{"{1001,900005}"}},
		} {
			rows, err := db.QueryContext(ctx, "EXPLAIN "+pull.query, pull.args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			p := strings.Join(plan, "\n")
			if strings.Contains(p, "Seq Scan on cache_invalidations") || !strings.Contains(p, "cache_invalidations_xid") {
				t.Errorf("the %s query of a pull (analyzed: %v) does not read the log by its index:\n%s", name, analyzed, p)
			}
		}
	}
}

// A pull applies every unsettled row, however many batches they take: a
// change whose row comes after several batches of others is seen.
func TestPostgresPullReadsEveryBatch(t *testing.T) {
	s, db := openPostgres(t)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, store.User{Username: "batched", Email: "batched@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // read, then cached
		if _, err := s.GetUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	// One transaction disables the user without its trigger and logs
	// its tag after 3 batches' worth of other tags (f:… sorts before u:…).
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SET LOCAL session_replication_role = replica`,
		`UPDATE users SET disabled = 1 WHERE id = ` + strconv.FormatInt(u.ID, 10),
		`INSERT INTO cache_invalidations (tag) SELECT 'f:' || i FROM generate_series(1, ` + strconv.Itoa(3*sqlstore.PGBatch) + `) AS i`,
		`INSERT INTO cache_invalidations (tag) VALUES ('u:` + strconv.FormatInt(u.ID, 10) + `')`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			tx.Rollback()
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Disabled {
		t.Fatal("a change logged after 3 batches of other rows was not seen")
	}
}
