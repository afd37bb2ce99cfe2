package gitrepo_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"latchkey/internal/gitrepo"
)

func TestFiles(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	all := func(string) bool { return true }
	for _, tc := range []struct {
		rev   string
		keep  func(string) bool
		limit int
		want  []string
		more  bool
	}{
		{"main", all, 100, []string{"README.md", "dir/a.txt", "dir/b*.txt", "link"}, false},
		{f.first, all, 100, []string{"README.md", "dir/a.txt", "dir/b*.txt"}, false},
		{"feature/x", func(p string) bool { return strings.HasSuffix(p, ".txt") }, 100, []string{"dir/a.txt", "dir/b*.txt", "feature.txt"}, false},
		{"main", all, 2, []string{"README.md", "dir/a.txt"}, true},
		{"main", all, 4, []string{"README.md", "dir/a.txt", "dir/b*.txt", "link"}, false},
		{"main", func(string) bool { return false }, 1, []string{}, false},
	} {
		got, more, err := f.repo.Files(ctx, tc.rev, tc.keep, tc.limit)
		if err != nil || !slices.Equal(got, tc.want) || more != tc.more {
			t.Errorf("Files(%s, limit %d) = %q, %v, %v; want %q, %v", tc.rev, tc.limit, got, more, err, tc.want, tc.more)
		}
	}
	for _, rev := range []string{"nope", "--all", "main~1"} {
		if _, _, err := f.repo.Files(ctx, rev, all, 10); !errors.Is(err, gitrepo.ErrNotFound) && !errors.Is(err, gitrepo.ErrBadRevision) {
			t.Errorf("Files(%q) = %v, want not found or bad revision", rev, err)
		}
	}
}
