package sqlstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"latchkey/internal/store/sqlstore"
)

// TestCleanupOfTokensReadsIndexesOnly: the cleaner's steps over token
// families and tokens find what they delete through an index (of expiry,
// of revocation), never by reading the whole table: a sweep must cost what
// has expired, not what is stored. On ten million tokens the earlier steps,
// which read every family and every token, took about a minute of a core
// per sweep. SQLite's plans do not depend on statistics, so the check
// holds for any number of rows.
func TestCleanupOfTokensReadsIndexesOnly(t *testing.T) {
	_, db := rawBackends(t)["SQLite"](t)
	queries := sqlstore.CleanupQueries(sqlstore.SQLite)
	for _, what := range []string{"revoked token families", "token families", "tokens"} {
		q, ok := queries[what]
		if !ok {
			t.Fatalf("no cleanup step %q", what)
		}
		rows, err := db.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+q, time.Now().UnixMilli(), 100)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN ") {
				t.Errorf("the %s step reads a whole table (%q); its plan:\n%s", what, step, strings.Join(plan, "\n"))
			}
		}
	}
}
