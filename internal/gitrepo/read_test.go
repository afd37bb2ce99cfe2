package gitrepo_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"latchkey/internal/gitrepo"
)

// fixture is a bare repository with a known history, and the SHAs of
// its commits.
type fixture struct {
	repo              *gitrepo.Repo
	first, second, tg string // commits: first on main, second on main, tg on branch "feature/x"
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is not installed; the gitrepo tests need it")
		}
		t.Skip("git is not installed; skipping the tests that run it")
	}
	root := t.TempDir()
	bare, work := filepath.Join(root, "r.git"), filepath.Join(root, "w")
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=Ann Author", "-c", "user.email=ann@example.com",
			"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+root, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_COMMITTER_DATE=2026-01-02T03:04:05+0200", "GIT_AUTHOR_DATE=2026-01-01T00:00:00-0700")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git(root, "init", "-q", "--bare", bare)
	git(root, "init", "-q", work)
	write := func(name, content string) {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "hello\n")
	write("dir/a.txt", "a\n")
	write("dir/b*.txt", "star\n")
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "first\n\nbody line")
	first := git(work, "rev-parse", "HEAD")
	write("README.md", "hello again\n")
	if err := os.Symlink("README.md", filepath.Join(work, "link")); err != nil {
		t.Fatal(err)
	}
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "second")
	second := git(work, "rev-parse", "HEAD")
	git(work, "tag", "v1", first)
	git(work, "checkout", "-q", "-b", "feature/x")
	write("feature.txt", "f\n")
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "feature")
	tg := git(work, "rev-parse", "HEAD")
	git(work, "push", "-q", bare, "main", "feature/x", "v1")
	return fixture{repo: gitrepo.Open("", bare), first: first, second: second, tg: tg}
}

func TestBranches(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	list, err := f.repo.Branches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []gitrepo.Branch{{Name: "feature/x", Commit: f.tg}, {Name: "main", Commit: f.second}}
	if len(list) != 2 || list[0] != want[0] || list[1] != want[1] {
		t.Fatalf("Branches = %v, want %v", list, want)
	}
	b, err := f.repo.Branch(ctx, "feature/x")
	if err != nil || b != want[0] {
		t.Fatalf("Branch(feature/x) = %v, %v", b, err)
	}
	for _, name := range []string{"nope", "feature", "-x", "main~1", "a..b", "ma*n"} {
		if _, err := f.repo.Branch(ctx, name); !errors.Is(err, gitrepo.ErrNotFound) && !errors.Is(err, gitrepo.ErrBadRevision) {
			t.Errorf("Branch(%q) = %v, want not found or bad revision", name, err)
		}
	}
	if d, err := f.repo.DefaultBranch(ctx); err != nil || d != "main" {
		t.Fatalf("DefaultBranch = %q, %v", d, err)
	}
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for rev, want := range map[string]string{
		"": f.second, "HEAD": f.second, "main": f.second, "feature/x": f.tg, "v1": f.first,
		f.first: f.first, f.first[:7]: f.first, "refs/heads/main": f.second, "refs/tags/v1": f.first,
	} {
		if got, err := f.repo.Resolve(ctx, rev); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", rev, got, err, want)
		}
	}
	for _, rev := range []string{"nope", "main~1", "main^", ":/first", "--all", "main@{1}", "a b", "x\x00y"} {
		got, err := f.repo.Resolve(ctx, rev)
		if !errors.Is(err, gitrepo.ErrNotFound) && !errors.Is(err, gitrepo.ErrBadRevision) {
			t.Errorf("Resolve(%q) = %q, %v; want an error", rev, got, err)
		}
	}
}

func TestCommitAndLog(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.repo.Commit(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != f.first || len(c.Parents) != 0 || c.Message != "first\n\nbody line\n" ||
		c.Author.Name != "Ann Author" || c.Author.Email != "ann@example.com" {
		t.Fatalf("Commit(v1) = %+v", c)
	}
	if want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -7*3600)); !c.Author.When.Equal(want) {
		t.Errorf("author time %v, want %v", c.Author.When, want)
	}
	if _, off := c.Committer.When.Zone(); off != 2*3600 {
		t.Errorf("committer zone offset %d, want +0200", off)
	}
	log, more, err := f.repo.Log(ctx, "feature/x", "", 0, 2)
	if err != nil || !more || len(log) != 2 || log[0].SHA != f.tg || log[1].SHA != f.second || log[0].Parents[0] != f.second {
		t.Fatalf("Log(feature/x, 0, 2) = %v, %v, %v", log, more, err)
	}
	log, more, err = f.repo.Log(ctx, "feature/x", "", 2, 2)
	if err != nil || more || len(log) != 1 || log[0].SHA != f.first {
		t.Fatalf("Log(feature/x, 2, 2) = %v, %v, %v", log, more, err)
	}
	log, _, err = f.repo.Log(ctx, "main", "dir/b*.txt", 0, 10)
	if err != nil || len(log) != 1 || log[0].SHA != f.first {
		t.Fatalf("Log(main, dir/b*.txt) = %v, %v (the path is literal, not a glob)", log, err)
	}
	r, err := f.repo.Range(ctx, f.first, f.tg, 10)
	if err != nil || len(r) != 2 || r[0].SHA != f.tg || r[1].SHA != f.second {
		t.Fatalf("Range(first, tg) = %v, %v", r, err)
	}
	if r, err := f.repo.Range(ctx, strings.Repeat("0", 40), f.second, 10); err != nil || len(r) != 2 {
		t.Fatalf("Range(zero, second) = %v, %v", r, err)
	}
	if r, err := f.repo.Range(ctx, f.second, strings.Repeat("0", 40), 10); err != nil || len(r) != 0 {
		t.Fatalf("Range(second, zero) = %v, %v", r, err)
	}
	if _, err := f.repo.Range(ctx, "--all", f.second, 10); !errors.Is(err, gitrepo.ErrBadRevision) {
		t.Fatalf("Range(--all, …) = %v, want ErrBadRevision", err)
	}
	if ok, err := f.repo.HasCommit(ctx, f.tg); err != nil || !ok {
		t.Fatalf("HasCommit(tg) = %v, %v", ok, err)
	}
	if ok, err := f.repo.HasCommit(ctx, strings.Repeat("a", 40)); err != nil || ok {
		t.Fatalf("HasCommit(aaaa…) = %v, %v", ok, err)
	}
}

func TestTree(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	root, err := f.repo.ReadDir(ctx, "main", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range root {
		names = append(names, e.Name+":"+string(e.Type))
	}
	if got := strings.Join(names, " "); got != "README.md:file dir:dir link:symlink" {
		t.Fatalf("ReadDir(main, \"\") = %s", got)
	}
	sub, err := f.repo.ReadDir(ctx, "main", "/dir/")
	if err != nil || len(sub) != 2 || sub[0].Path != "dir/a.txt" || sub[0].Size != 2 || sub[1].Name != "b*.txt" {
		t.Fatalf("ReadDir(main, dir) = %+v, %v", sub, err)
	}
	data, e, err := f.repo.ReadFile(ctx, "v1", "README.md", 100)
	if err != nil || string(data) != "hello\n" || e.Type != gitrepo.TypeFile || e.Mode != "100644" {
		t.Fatalf("ReadFile(v1, README.md) = %q, %+v, %v", data, e, err)
	}
	if data, _, err := f.repo.ReadFile(ctx, "main", "link", 100); err != nil || string(data) != "README.md" {
		t.Fatalf("ReadFile(main, link) = %q, %v", data, err)
	}
	if _, _, err := f.repo.ReadFile(ctx, "main", "README.md", 3); !errors.Is(err, gitrepo.ErrTooLarge) {
		t.Fatalf("ReadFile over the limit = %v, want ErrTooLarge", err)
	}
	if e, err := f.repo.Stat(ctx, "main", "dir"); err != nil || e.Type != gitrepo.TypeDir || e.Path != "dir" {
		t.Fatalf("Stat(main, dir) = %+v, %v", e, err)
	}
	for _, p := range []string{"missing", "dir/missing", "README.md/x", "dir/b", "d"} {
		if _, err := f.repo.Stat(ctx, "main", p); !errors.Is(err, gitrepo.ErrNotFound) {
			t.Errorf("Stat(main, %q) = %v, want ErrNotFound", p, err)
		}
	}
	for _, p := range []string{"../x", "dir/../README.md", "a//b", "x\x00"} {
		if _, err := f.repo.Stat(ctx, "main", p); !errors.Is(err, gitrepo.ErrBadRevision) {
			t.Errorf("Stat(main, %q) = %v, want ErrBadRevision", p, err)
		}
	}
	if _, err := f.repo.ReadDir(ctx, "main", "README.md"); !errors.Is(err, gitrepo.ErrNotFound) {
		t.Errorf("ReadDir of a file = %v, want ErrNotFound", err)
	}
}

func TestEmptyRepository(t *testing.T) {
	f := newFixture(t)
	_ = f
	dir := filepath.Join(t.TempDir(), "empty.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "--initial-branch=trunk", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	r := gitrepo.Open("", dir)
	ctx := context.Background()
	if list, err := r.Branches(ctx); err != nil || len(list) != 0 {
		t.Fatalf("Branches = %v, %v", list, err)
	}
	if d, err := r.DefaultBranch(ctx); err != nil || d != "trunk" {
		t.Fatalf("DefaultBranch = %q, %v", d, err)
	}
	if _, err := r.Resolve(ctx, ""); !errors.Is(err, gitrepo.ErrNotFound) {
		t.Fatalf("Resolve(HEAD) = %v, want ErrNotFound", err)
	}
	if _, err := r.ReadDir(ctx, "", ""); !errors.Is(err, gitrepo.ErrNotFound) {
		t.Fatalf("ReadDir = %v, want ErrNotFound", err)
	}
}

func FuzzParseCommit(f *testing.F) {
	f.Add([]byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@b> 1700000000 +0100\ncommitter C <c@d> 1 -0000\n\nmsg\n"))
	f.Add([]byte("tree x\nparent y\nauthor <> x\n\n"))
	f.Add([]byte("gpgsig -----BEGIN\n continued\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := gitrepo.ParseCommit("0000", raw)
		if err == nil && c.Tree == "" {
			t.Fatalf("a commit without a tree parsed: %+v", c)
		}
	})
}

func TestChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// second changed README.md and added the link; against its parent.
	got, err := f.repo.Changes(ctx, "", f.second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]gitrepo.ChangeType{"README.md": gitrepo.ChangeModify, "link": gitrepo.ChangeAdd}
	if len(got) != len(want) {
		t.Fatalf("Changes(second) = %+v", got)
	}
	for _, c := range got {
		if want[c.Path] != c.Type {
			t.Errorf("Changes(second): %s %s, want %s", c.Path, c.Type, want[c.Path])
		}
		if c.Type == gitrepo.ChangeAdd && (c.SrcSHA != "" || c.SrcPath != "") {
			t.Errorf("an added file has a source: %+v", c)
		}
	}
	// The root commit: every file added.
	root, err := f.repo.Changes(ctx, "", f.first)
	if err != nil || len(root) != 3 || root[0].Type != gitrepo.ChangeAdd {
		t.Fatalf("Changes(first) = %+v, %v", root, err)
	}
	// Over a range, from the tag to the feature branch.
	span, err := f.repo.Changes(ctx, "v1", "feature/x")
	if err != nil || len(span) != 3 {
		t.Fatalf("Changes(v1, feature/x) = %+v, %v", span, err)
	}
	if _, err := f.repo.Changes(ctx, "--all", "main"); !errors.Is(err, gitrepo.ErrBadRevision) {
		t.Fatalf("Changes(--all) = %v", err)
	}
}

func FuzzParseRawDiff(f *testing.F) {
	f.Add([]byte(":100644 100644 aaaa bbbb M\x00a.txt\x00:000000 100644 0000 cccc A\x00b\x00"))
	f.Add([]byte(":100644 100644 aaaa aaaa R097\x00old\x00new\x00"))
	f.Add([]byte(":100644 100644 aaaa aaaa C\x00x"))
	f.Fuzz(func(t *testing.T, out []byte) {
		list, err := gitrepo.ParseRawDiff(out)
		for _, c := range err2nil(err, list) {
			if c.Type == "" || (c.Type == gitrepo.ChangeAdd && c.SrcPath != "") {
				t.Fatalf("parsed %+v", c)
			}
		}
	})
}

func err2nil(err error, list []gitrepo.FileChange) []gitrepo.FileChange {
	if err != nil {
		return nil
	}
	return list
}
