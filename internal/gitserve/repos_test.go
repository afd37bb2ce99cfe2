package gitserve_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"latchkey/internal/gitserve"
	"latchkey/internal/store"
)

// needGit skips the test without git, except in CI, where it fails.
func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is not installed; the git tests need it")
		}
		t.Skip("git is not installed; skipping the tests that run it")
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestCreateWritesABareRepositoryGitAccepts(t *testing.T) {
	needGit(t)
	repos := gitserve.NewRepos(filepath.Join(t.TempDir(), "repos"))
	r := store.Repo{ID: 42, Slug: "repo"}
	if err := repos.Create(r); err != nil {
		t.Fatal(err)
	}
	if got, want := repos.Path(r), filepath.Join(repos.Dir(), "42.git"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
	if got := git(t, repos.Path(r), "rev-parse", "--is-bare-repository"); got != "true" {
		t.Errorf("rev-parse --is-bare-repository = %q, want true", got)
	}
	if got := git(t, repos.Path(r), "symbolic-ref", "HEAD"); got != "refs/heads/"+gitserve.DefaultBranch {
		t.Errorf("HEAD = %q, want the default branch", got)
	}
	git(t, repos.Path(r), "fsck", "--strict")

	work := t.TempDir()
	git(t, work, "init", "-q", "-b", gitserve.DefaultBranch)
	git(t, work, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first")
	git(t, work, "push", "-q", repos.Path(r), "HEAD")
	if got := git(t, repos.Path(r), "log", "--format=%s", gitserve.DefaultBranch); got != "first" {
		t.Errorf("pushed log = %q, want first", got)
	}
}

func TestCreateReplacesALeftoverAndRemoveDeletes(t *testing.T) {
	repos := gitserve.NewRepos(filepath.Join(t.TempDir(), "repos"))
	r := store.Repo{ID: 7}
	leftover := filepath.Join(repos.Path(r), "objects", "stale")
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := repos.Create(r); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover survived Create: %v", err)
	}
	if _, err := os.Stat(filepath.Join(repos.Path(r), "HEAD")); err != nil {
		t.Errorf("no HEAD after Create: %v", err)
	}
	entries, _ := os.ReadDir(repos.Dir())
	if len(entries) != 1 {
		t.Errorf("repos directory holds %d entries, want 1 (no temporary directories left)", len(entries))
	}
	if err := repos.Remove(r); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(repos.Path(r)); !os.IsNotExist(err) {
		t.Errorf("repository still there after Remove: %v", err)
	}
	if err := repos.Remove(r); err != nil {
		t.Errorf("removing a missing repository: %v", err)
	}
}

func TestRelativeDirectoryIsMadeAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	repos := gitserve.NewRepos(filepath.Join("data", "repos"))
	if !filepath.IsAbs(repos.Dir()) {
		t.Fatalf("Dir() = %q: git http-backend runs elsewhere and would not find it", repos.Dir())
	}
}
