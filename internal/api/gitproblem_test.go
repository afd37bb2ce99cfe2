package api

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"latchkey/internal/gitrepo"
)

// TestGitErrorsAreTheCallersWhereTheyAre: what gitrepo reports about the
// caller's revision, path or repository content is a 404, 400 or 413 in
// each dialect, never a 500; anything else passes to the renderer.
func TestGitErrorsAreTheCallersWhereTheyAre(t *testing.T) {
	boom := errors.New("git crashed")
	for _, c := range []struct {
		err           error
		bb, giteaWant int
	}{
		{fmt.Errorf("x: %w", gitrepo.ErrNotFound), http.StatusNotFound, http.StatusNotFound},
		{fmt.Errorf("x: %w", gitrepo.ErrBadRevision), http.StatusBadRequest, http.StatusNotFound},
		{fmt.Errorf("x: %w", gitrepo.ErrTooLarge), http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge},
		{boom, 0, 0},
	} {
		for name, got := range map[string]error{"bitbucket": bbGitProblem(c.err, "missing"), "gitea": gitMissing(c.err, "it")} {
			want := c.bb
			if name == "gitea" {
				want = c.giteaWant
			}
			var ae *apiError
			switch {
			case want == 0 && got != boom:
				t.Errorf("%s: %v became %v, want it passed on", name, c.err, got)
			case want != 0 && (!errors.As(got, &ae) || ae.status != want):
				t.Errorf("%s: %v became %v, want status %d", name, c.err, got, want)
			}
		}
	}
}
