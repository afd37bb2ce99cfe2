package storetest

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"testing"
	"time"

	"latchkey/internal/store"
)

// statusTests cover the commit statuses CI systems report.
var statusTests = []test{
	{"AddKeepsEveryField", testStatusRoundTrip},
	{"AddToUnknownRepoIsNotFound", testStatusNoRepo},
	{"ListIsNewestFirstPerRepoAndCommitAndPages", testListStatuses},
	{"ListByBadTextIsEmpty", testStatusesBadSHA},
}

// sha1Of returns a commit ID as git spells it: 40 lower-case hex digits.
func sha1Of(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// mkStatus adds a successful status of commit sha of r in context c.
func mkStatus(t *testing.T, s store.Store, r store.Repo, sha, c string) store.CommitStatus {
	t.Helper()
	cs, err := s.AddCommitStatus(ctx(t), store.CommitStatus{RepoID: r.ID, SHA: sha, Context: c,
		State: store.StatusSuccess, Name: c, CreatedAt: now()})
	must(t, "add commit status", err)
	return cs
}

// statusesOf is the list of the statuses of commit sha of repository repoID.
func statusesOf(s store.Store, repoID int64, sha string) store.List[store.CommitStatus] {
	return func(c context.Context, p store.Page) ([]store.CommitStatus, store.Cursor, error) {
		return s.ListCommitStatuses(c, repoID, sha, p)
	}
}

func testStatusRoundTrip(t *testing.T, s store.Store) {
	r := mkRepo(t, s, mkProject(t, s, "PROJ"), "repo")
	u := mkUser(t, s, "ci")
	at := time.Now()
	in := store.CommitStatus{RepoID: r.ID, SHA: sha1Of("a"), Context: "ci/woodpecker/push", State: store.StatusFailure,
		Name: "Woodpecker – push", TargetURL: "https://ci.example.com/repos/1/pipeline/7?x=é",
		Description: "Pipeline failed", CreatorID: u.ID, CreatedAt: at}
	cs, err := s.AddCommitStatus(ctx(t), in)
	must(t, "add commit status", err)
	if cs.ID == 0 {
		t.Fatal("added status has no ID")
	}
	want := in
	want.ID, want.CreatedAt = cs.ID, at.Truncate(time.Millisecond)
	same(t, "added status", cs, want)
	same(t, "listed statuses", listAll(t, "list statuses", statusesOf(s, r.ID, in.SHA)), []store.CommitStatus{want})
	bare, err := s.AddCommitStatus(ctx(t), store.CommitStatus{RepoID: r.ID, SHA: in.SHA, State: store.StatusPending})
	must(t, "add bare status", err)
	same(t, "listed statuses", listAll(t, "list statuses", statusesOf(s, r.ID, in.SHA)), []store.CommitStatus{bare, want})
}

func testStatusNoRepo(t *testing.T, s store.Store) {
	r := mkRepo(t, s, mkProject(t, s, "PROJ"), "repo")
	_, err := s.AddCommitStatus(ctx(t), store.CommitStatus{RepoID: r.ID + 1000, SHA: sha1Of("a"), State: store.StatusSuccess})
	wantErr(t, "add a status to an unknown repository", err, store.ErrNotFound)
}

func testListStatuses(t *testing.T, s store.Store) {
	p := mkProject(t, s, "PROJ")
	a, b := mkRepo(t, s, p, "a"), mkRepo(t, s, p, "b")
	one, two := sha1Of("one"), sha1Of("two")
	var want []store.CommitStatus
	for i, c := range []string{"build", "test", "build", "lint", "deploy"} {
		want = append([]store.CommitStatus{mkStatus(t, s, a, one, c)}, want...)
		mkStatus(t, s, a, two, c) // another commit
		if i%2 == 0 {
			mkStatus(t, s, b, one, c) // the same commit in another repository
		}
	}
	checkPaging(t, "statuses", statusesOf(s, a.ID, one), want)
	if got := listAll(t, "list statuses", statusesOf(s, a.ID, sha1Of("none"))); len(got) != 0 {
		t.Errorf("a commit without statuses lists %d", len(got))
	}
}

func testStatusesBadSHA(t *testing.T, s store.Store) {
	r := mkRepo(t, s, mkProject(t, s, "PROJ"), "repo")
	mkStatus(t, s, r, sha1Of("a"), "ci")
	for _, bad := range badTexts {
		got, next, err := s.ListCommitStatuses(ctx(t), r.ID, bad, store.Page{})
		must(t, "list statuses of bad text", err)
		if len(got) != 0 || next != "" {
			t.Errorf("statuses of %q: %d, next %q; want none", bad, len(got), next)
		}
	}
}
