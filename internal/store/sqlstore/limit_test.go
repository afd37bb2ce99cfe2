package sqlstore

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestNoBareLimitParameter keeps LIMIT $n out of the store's queries: SQLite
// marks a parameter that its planner reads (a LIMIT's) so that every new
// binding prepares the statement again, which made the statement cache
// useless for listings. LIMIT CAST($n AS INTEGER) is planned without it.
func TestNoBareLimitParameter(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	bare := regexp.MustCompile(`(?i)\bLIMIT\s+\$\d`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if loc := bare.FindIndex(b); loc != nil {
			t.Errorf("%s: %q: write LIMIT CAST($n AS INTEGER)", f, b[loc[0]:loc[1]])
		}
	}
}
