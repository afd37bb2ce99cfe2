package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drone/go-scm/scm"
	scmgitea "github.com/drone/go-scm/scm/driver/gitea"
	"github.com/drone/go-scm/scm/driver/stash"
	"github.com/drone/go-scm/scm/transport"

	"latchkey/internal/admin"
)

// TestCILoopWithGoSCM is the loop of a CI server (Drone, Harness) on
// go-scm, for both drivers: the hook created through the driver, a push
// with git, the delivery received on a local HTTP server and accepted by
// the same driver's Webhooks.Parse with the secret given at creation.
func TestCILoopWithGoSCM(t *testing.T) {
	f := newHookFixture(t)
	ctx := context.Background()
	f.env.Grant("alice", admin.Target{Repo: "PRJ/code"}, "REPO_ADMIN")
	token := f.token(t, f.user(t, "alice"), "REPO_ADMIN")
	giteaRecv, bbRecv := newReceiver(t), newReceiver(t)

	gc, err := scmgitea.New(f.env.URL)
	if err != nil {
		t.Fatal(err)
	}
	gc.Client = &http.Client{Transport: &transport.BearerToken{Token: token}}
	if _, _, err := gc.Repositories.CreateHook(ctx, "PRJ/code", &scm.HookInput{Name: "drone", Target: giteaRecv.URL + "/hook",
		Secret: "gitea-ci-secret", Events: scm.HookEvents{Push: true, Branch: true}}); err != nil {
		t.Fatalf("gitea CreateHook: %v", err)
	}
	sc, err := stash.New(f.env.URL)
	if err != nil {
		t.Fatal(err)
	}
	sc.Client = &http.Client{Transport: &transport.BearerToken{Token: token}}
	if _, _, err := sc.Repositories.CreateHook(ctx, "PRJ/code", &scm.HookInput{Name: "drone", Target: bbRecv.URL + "/hook",
		Secret: "stash-ci-secret", Events: scm.HookEvents{Push: true}}); err != nil {
		t.Fatalf("stash CreateHook: %v", err)
	}

	// One push: a commit on main and a new branch feature at it.
	dir := filepath.Join(t.TempDir(), "clone")
	f.git.must("", "clone", "-q", f.gitURL(token, "PRJ", "code"), dir)
	before := strings.TrimSpace(f.git.must(dir, "rev-parse", "HEAD"))
	if err := os.WriteFile(filepath.Join(dir, ".drone.yml"), []byte("kind: pipeline\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.git.must(dir, "add", ".drone.yml")
	f.git.must(dir, "commit", "-q", "-m", "add the pipeline")
	after := strings.TrimSpace(f.git.must(dir, "rev-parse", "HEAD"))
	f.git.must(dir, "push", "-q", f.gitURL(token, "PRJ", "code"), "HEAD:refs/heads/main", "HEAD:refs/heads/feature")

	// Gitea: push of main, and create then push of feature (in either
	// order between the two refs).
	var kinds []string
	for _, got := range giteaRecv.wait(t, 3) {
		hook, err := gc.Webhooks.Parse(got.request(), func(scm.Webhook) (string, error) { return "gitea-ci-secret", nil })
		if err != nil {
			t.Fatalf("gitea Webhooks.Parse (%s): %v", got.header.Get("X-Gitea-Event"), err)
		}
		switch h := hook.(type) {
		case *scm.PushHook:
			kinds = append(kinds, "push "+h.Ref)
			if h.Commit.Sha != after || (h.Ref == "refs/heads/main" && h.Before != before) {
				t.Errorf("push of %s: %s..%s, want %s..%s", h.Ref, h.Before, h.Commit.Sha, before, after)
			}
		case *scm.BranchHook:
			kinds = append(kinds, "branch "+h.Ref.Name) // go-scm keeps no SHA of it
			if h.Action != scm.ActionCreate || h.Repo.Namespace != "PRJ" || h.Sender.Login != "alice" {
				t.Errorf("branch hook %+v", h)
			}
		default:
			t.Errorf("gitea delivery parsed as %T", hook)
		}
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"branch feature", "push refs/heads/feature", "push refs/heads/main"}) {
		t.Fatalf("gitea deliveries %q", kinds)
	}

	// Bitbucket: one repo:refs_changed with both refs.
	got := bbRecv.wait(t, 1)[0]
	hook, err := sc.Webhooks.Parse(got.request(), func(scm.Webhook) (string, error) { return "stash-ci-secret", nil })
	if err != nil {
		t.Fatalf("stash Webhooks.Parse: %v", err)
	}
	switch h := hook.(type) {
	case *scm.PushHook: // main came first
		if h.Ref != "refs/heads/main" || h.Before != before || h.After != after {
			t.Fatalf("stash push hook %+v", h)
		}
	case *scm.BranchHook: // feature came first
		if h.Ref.Name != "feature" || h.Ref.Sha != after || h.Action != scm.ActionCreate {
			t.Fatalf("stash branch hook %+v", h)
		}
	default:
		t.Fatalf("stash delivery parsed as %T", hook)
	}
	if !strings.Contains(string(got.body), `"refId":"refs/heads/main"`) || !strings.Contains(string(got.body), `"refId":"refs/heads/feature"`) {
		t.Fatalf("stash payload without both refs: %s", got.body)
	}
}
