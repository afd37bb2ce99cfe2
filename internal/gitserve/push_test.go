package gitserve

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"latchkey/internal/gitrepo"
)

// pkt frames s as a pkt-line.
func pkt(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

var (
	zeros = strings.Repeat("0", 40)
	shaA  = strings.Repeat("a", 40)
	shaB  = strings.Repeat("b", 40)
)

func TestParseCommands(t *testing.T) {
	body := pkt("shallow "+shaA+"\n") +
		pkt(zeros+" "+shaA+" refs/heads/new\x00report-status side-band-64k agent=git/2.39\n") +
		pkt(shaA+" "+shaB+" refs/heads/main\n") +
		pkt(shaB+" "+zeros+" refs/tags/gone") + "0000" + "PACK…"
	got, complete := ParseCommands([]byte(body))
	want := []gitrepo.Change{
		{Ref: "refs/heads/new", Old: zeros, New: shaA},
		{Ref: "refs/heads/main", Old: shaA, New: shaB},
		{Ref: "refs/tags/gone", Old: shaB, New: zeros},
	}
	if !complete || !slices.Equal(got, want) {
		t.Fatalf("ParseCommands = %v, %v; want %v, true", got, complete, want)
	}
	// Cut short, or not pkt-lines at all: incomplete.
	for _, b := range []string{body[:30], "zzzz", pkt("x")} {
		if _, complete := ParseCommands([]byte(b)); complete {
			t.Errorf("ParseCommands(%q) says complete", b)
		}
	}
	// Lines that are not commands are skipped: a push certificate's
	// header, a SHA of the wrong length, a ref outside refs/.
	cert := pkt("push-cert\x00report-status\n") + pkt("certificate version 0.1\n") + pkt("pusher x\n") +
		pkt("\n") + pkt(shaA+" "+shaB+" refs/heads/main\n") + pkt(shaA+" "+shaB[:39]+" refs/heads/x\n") +
		pkt(shaA+" "+shaB+" HEAD\n") + pkt("push-cert-end\n") + "0000"
	got, complete = ParseCommands([]byte(cert))
	if !complete || !slices.Equal(got, []gitrepo.Change{{Ref: "refs/heads/main", Old: shaA, New: shaB}}) {
		t.Fatalf("ParseCommands(push cert) = %v, %v", got, complete)
	}
}

func TestRecorderGzipAndOverflow(t *testing.T) {
	body := pkt(zeros+" "+shaA+" refs/heads/main\x00report-status\n") + "0000"
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(body))
	zw.Close()
	rec := &commandRecorder{ReadCloser: nopCloser{bytes.NewReader(z.Bytes())}}
	readAll(t, rec)
	got, complete := rec.commands("gzip")
	if !complete || len(got) != 1 || got[0].New != shaA {
		t.Fatalf("gzip body: %v, %v", got, complete)
	}
	big := bytes.Repeat([]byte(pkt(shaA+" "+shaB+" refs/heads/main\n")), maxCommandBytes/80)
	rec = &commandRecorder{ReadCloser: nopCloser{bytes.NewReader(big)}}
	readAll(t, rec)
	if _, complete := rec.commands(""); complete || !rec.full || rec.buf.Len() != maxCommandBytes {
		t.Fatalf("overflow: complete %v, full %v, kept %d", complete, rec.full, rec.buf.Len())
	}
}

func TestApplied(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is not installed; the git tests need it")
		}
		t.Skip("git is not installed; skipping the tests that run it")
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "w")
	runGit(t, dir, "init", "-q", "--bare", "r.git")
	runGit(t, dir, "init", "-q", work)
	runGit(t, work, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty", "-m", "one")
	one := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	runGit(t, work, "push", "-q", filepath.Join(dir, "r.git"), "HEAD:refs/heads/main", "HEAD:refs/heads/kept")
	repo := gitrepo.Open("", filepath.Join(dir, "r.git"))
	cmds := []gitrepo.Change{
		{Ref: "refs/heads/main", Old: zeros, New: one},  // applied
		{Ref: "refs/heads/other", Old: zeros, New: one}, // refused: the ref is not there
		{Ref: "refs/heads/kept", Old: one, New: zeros},  // refused deletion: still there
		{Ref: "refs/heads/gone", Old: one, New: zeros},  // applied deletion
	}
	got, err := applied(context.Background(), repo, cmds)
	if err != nil {
		t.Fatal(err)
	}
	if want := []gitrepo.Change{cmds[0], cmds[3]}; !slices.Equal(got, want) {
		t.Fatalf("applied = %v, want %v", got, want)
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func readAll(t *testing.T, r *commandRecorder) {
	t.Helper()
	buf := make([]byte, 4096)
	for {
		if _, err := r.Read(buf); err != nil {
			return
		}
	}
}

func FuzzParseCommands(f *testing.F) {
	f.Add([]byte(pkt(zeros+" "+shaA+" refs/heads/main\x00caps\n") + "0000"))
	f.Add([]byte("0004"))
	f.Add([]byte("ffff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, _ := ParseCommands(body)
		for _, c := range changes {
			if !isObjectID(c.Old) || !isObjectID(c.New) || !strings.HasPrefix(c.Ref, "refs/") || strings.ContainsAny(c.Ref, " \x00\n") {
				t.Fatalf("parsed a command that is not one: %+v", c)
			}
		}
	})
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}
