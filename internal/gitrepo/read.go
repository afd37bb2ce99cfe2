package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxOutput bounds what one git command may print for the methods that
// read its whole output (ref lists, tree listings, single objects other
// than the blobs ReadFile bounds itself).
const maxOutput = 64 << 20

// Branches lists the branches, sorted by name. An empty repository has none.
func (r *Repo) Branches(ctx context.Context) ([]Branch, error) {
	out, err := r.output(ctx, nil, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
	if err != nil {
		return nil, err
	}
	var list []Branch
	for line := range strings.Lines(string(out)) {
		sha, ref, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		if !ok {
			continue
		}
		list = append(list, Branch{Name: strings.TrimPrefix(ref, "refs/heads/"), Commit: sha})
	}
	slices.SortFunc(list, func(a, b Branch) int { return strings.Compare(a.Name, b.Name) })
	return list, nil
}

// Branch reads one branch by name (without refs/heads/).
func (r *Repo) Branch(ctx context.Context, name string) (Branch, error) {
	if err := checkRefName(name); err != nil {
		return Branch{}, err
	}
	shas, err := r.commits(ctx, "refs/heads/"+name)
	if err != nil {
		return Branch{}, err
	}
	if shas[0] == "" {
		return Branch{}, ErrNotFound
	}
	return Branch{Name: name, Commit: shas[0]}, nil
}

// DefaultBranch is the branch HEAD names, even before it has a commit.
func (r *Repo) DefaultBranch(ctx context.Context) (string, error) {
	out, err := r.output(ctx, nil, "symbolic-ref", "-q", "HEAD")
	if err != nil {
		return "", err
	}
	ref := strings.TrimSpace(string(out))
	name, ok := strings.CutPrefix(ref, "refs/heads/")
	if !ok {
		return "", ErrNotFound
	}
	return name, nil
}

// Resolve turns a revision into the full SHA of the commit it names. The
// revision is a branch name, a tag name, a full or abbreviated (at least
// 4 digits) commit SHA, or a full ref name (refs/…), tried in that order,
// as Gitea does; "" means HEAD. Git's revision syntax beyond names
// (main~2, a..b, :/text, @{…}) is refused with ErrBadRevision.
func (r *Repo) Resolve(ctx context.Context, rev string) (string, error) {
	if rev == "" {
		rev = "HEAD"
	}
	if err := checkRefName(rev); err != nil {
		return "", err
	}
	candidates := []string{"refs/heads/" + rev, "refs/tags/" + rev}
	if isHex(rev) {
		candidates = append(candidates, rev)
	}
	if rev == "HEAD" || strings.HasPrefix(rev, "refs/") {
		candidates = append(candidates, rev)
	}
	shas, err := r.commits(ctx, candidates...)
	if err != nil {
		return "", err
	}
	for _, sha := range shas {
		if sha != "" {
			return sha, nil
		}
	}
	return "", ErrNotFound
}

// Commit reads one commit by revision (see Resolve).
func (r *Repo) Commit(ctx context.Context, rev string) (Commit, error) {
	sha, err := r.Resolve(ctx, rev)
	if err != nil {
		return Commit{}, err
	}
	list, err := r.readCommits(ctx, []string{sha})
	if err != nil {
		return Commit{}, err
	}
	return list[0], nil
}

// Log lists the history of rev (see Resolve), newest first, limited to
// commits that touch path when path is not "", skipping skip commits and
// returning at most limit; more says whether further commits follow.
func (r *Repo) Log(ctx context.Context, rev, file string, skip, limit int) (commits []Commit, more bool, err error) {
	if skip < 0 || limit <= 0 {
		return nil, false, fmt.Errorf("gitrepo: log skip %d, limit %d", skip, limit)
	}
	sha, err := r.Resolve(ctx, rev)
	if err != nil {
		return nil, false, err
	}
	args := []string{"rev-list", "--skip=" + strconv.Itoa(skip), "--max-count=" + strconv.Itoa(limit+1), sha}
	if file != "" {
		if file, err = cleanPath(file); err != nil {
			return nil, false, err
		}
		args = append(args, "--", file)
	}
	out, err := r.output(ctx, nil, args...)
	if err != nil {
		return nil, false, err
	}
	shas := strings.Fields(string(out))
	if len(shas) > limit {
		shas, more = shas[:limit], true
	}
	commits, err = r.readCommits(ctx, shas)
	return commits, more, err
}

// Range lists the commits reachable from to and not from from, newest
// first, at most limit. Both are full SHAs; from may be "" or all zeros
// (a new ref: every commit of to), and so may to (a deleted ref: none).
func (r *Repo) Range(ctx context.Context, from, to string, limit int) ([]Commit, error) {
	if zero(to) {
		return nil, nil
	}
	if !isHex(to) || (!zero(from) && !isHex(from)) || limit <= 0 {
		return nil, ErrBadRevision
	}
	args := []string{"rev-list", "--max-count=" + strconv.Itoa(limit), to}
	if !zero(from) {
		args = append(args, "^"+from)
	}
	out, err := r.output(ctx, nil, args...)
	if err != nil {
		return nil, err
	}
	return r.readCommits(ctx, strings.Fields(string(out)))
}

// Stat describes the entry at path in the tree of rev (see Resolve); ""
// is the root directory.
func (r *Repo) Stat(ctx context.Context, rev, file string) (Entry, error) {
	sha, err := r.Resolve(ctx, rev)
	if err != nil {
		return Entry{}, err
	}
	return r.stat(ctx, sha, file)
}

func (r *Repo) stat(ctx context.Context, commit, file string) (Entry, error) {
	file, err := cleanPath(file)
	if err != nil {
		return Entry{}, err
	}
	if file == "" {
		c, err := r.readCommits(ctx, []string{commit})
		if err != nil {
			return Entry{}, err
		}
		return Entry{Type: TypeDir, Mode: "040000", SHA: c[0].Tree}, nil
	}
	out, err := r.output(ctx, nil, "ls-tree", "-z", "-l", "--full-tree", commit, "--", file)
	if err != nil {
		return Entry{}, err
	}
	entries, err := parseTree(out, path.Dir(file))
	if err != nil {
		return Entry{}, err
	}
	for _, e := range entries {
		if e.Path == file {
			return e, nil
		}
	}
	return Entry{}, ErrNotFound
}

// ReadDir lists the entries of the directory at path in the tree of rev
// (see Resolve), sorted by name.
func (r *Repo) ReadDir(ctx context.Context, rev, dir string) ([]Entry, error) {
	e, err := r.Stat(ctx, rev, dir)
	if err != nil {
		return nil, err
	}
	if e.Type != TypeDir {
		return nil, ErrNotFound
	}
	out, err := r.output(ctx, nil, "ls-tree", "-z", "-l", e.SHA)
	if err != nil {
		return nil, err
	}
	entries, err := parseTree(out, e.Path)
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return entries, err
}

// ReadFile reads the blob at path in the tree of rev (see Resolve); a
// symbolic link reads as its target. Files larger than max bytes are
// refused with ErrTooLarge, directories and submodules are ErrNotFound.
func (r *Repo) ReadFile(ctx context.Context, rev, file string, max int64) ([]byte, Entry, error) {
	e, err := r.Stat(ctx, rev, file)
	if err != nil {
		return nil, Entry{}, err
	}
	if e.Type != TypeFile && e.Type != TypeSymlink {
		return nil, e, ErrNotFound
	}
	if e.Size > max {
		return nil, e, ErrTooLarge
	}
	out, err := r.output(ctx, nil, "cat-file", "blob", e.SHA)
	return out, e, err
}

// HasCommit reports whether the repository holds commit sha (at least 4
// hex digits).
func (r *Repo) HasCommit(ctx context.Context, sha string) (bool, error) {
	if !isHex(sha) {
		return false, nil
	}
	shas, err := r.commits(ctx, sha)
	if err != nil {
		return false, err
	}
	return shas[0] != "", nil
}

// commits resolves each name to the commit it names ("" for none), in
// one git process.
func (r *Repo) commits(ctx context.Context, names ...string) ([]string, error) {
	var in bytes.Buffer
	for _, n := range names {
		in.WriteString(n + "^{commit}\n")
	}
	out, err := r.output(ctx, &in, "cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(names) {
		return nil, fmt.Errorf("gitrepo: cat-file answered %d lines for %d names", len(lines), len(names))
	}
	shas := make([]string, len(names))
	for i, l := range lines {
		if sha, typ, ok := strings.Cut(l, " "); ok && typ == "commit" && isHex(sha) {
			shas[i] = sha
		}
	}
	return shas, nil
}

// readCommits reads and parses the commits with the given full SHAs, in
// one git process.
func (r *Repo) readCommits(ctx context.Context, shas []string) ([]Commit, error) {
	if len(shas) == 0 {
		return nil, nil
	}
	in := strings.NewReader(strings.Join(shas, "\n") + "\n")
	out, err := r.output(ctx, in, "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	rd := bufio.NewReader(bytes.NewReader(out))
	list := make([]Commit, 0, len(shas))
	for range shas {
		header, err := rd.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("gitrepo: cat-file --batch: %w", err)
		}
		f := strings.Fields(header)
		if len(f) != 3 || f[1] != "commit" {
			return nil, ErrNotFound
		}
		size, err := strconv.Atoi(f[2])
		if err != nil || size < 0 {
			return nil, fmt.Errorf("gitrepo: cat-file --batch header %q", header)
		}
		body := make([]byte, size+1) // the object and its newline
		if _, err := io.ReadFull(rd, body); err != nil {
			return nil, fmt.Errorf("gitrepo: cat-file --batch: %w", err)
		}
		c, err := ParseCommit(f[0], body[:size])
		if err != nil {
			return nil, err
		}
		list = append(list, c)
	}
	return list, nil
}

// ParseCommit parses a raw commit object (git cat-file commit) with the
// given SHA.
func ParseCommit(sha string, raw []byte) (Commit, error) {
	c := Commit{SHA: sha}
	headers, message, _ := bytes.Cut(raw, []byte("\n\n"))
	for line := range strings.Lines(string(headers)) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, " ") {
			continue // the continuation of a multi-line header (gpgsig, mergetag)
		}
		key, value, _ := strings.Cut(line, " ")
		switch key {
		case "tree":
			c.Tree = value
		case "parent":
			c.Parents = append(c.Parents, value)
		case "author":
			c.Author = parseSignature(value)
		case "committer":
			c.Committer = parseSignature(value)
		}
	}
	if !isHex(c.Tree) {
		return Commit{}, fmt.Errorf("gitrepo: commit %s has no tree", sha)
	}
	c.Message = string(message)
	return c, nil
}

// parseSignature parses "Name <email> 1700000000 +0100". What does not
// parse stays empty or zero.
func parseSignature(s string) Signature {
	var sig Signature
	lt, gt := strings.IndexByte(s, '<'), strings.LastIndexByte(s, '>')
	if lt < 0 || gt < lt {
		sig.Name = strings.TrimSpace(s)
		return sig
	}
	sig.Name = strings.TrimSpace(s[:lt])
	sig.Email = s[lt+1 : gt]
	f := strings.Fields(s[gt+1:])
	if len(f) < 1 {
		return sig
	}
	secs, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return sig
	}
	loc := time.UTC
	if len(f) > 1 && len(f[1]) == 5 && (f[1][0] == '+' || f[1][0] == '-') {
		h, err1 := strconv.Atoi(f[1][1:3])
		m, err2 := strconv.Atoi(f[1][3:5])
		if err1 == nil && err2 == nil {
			off := (h*60 + m) * 60
			if f[1][0] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		}
	}
	sig.When = time.Unix(secs, 0).In(loc)
	return sig
}

// parseTree parses `git ls-tree -z -l` output of a tree at dir.
func parseTree(out []byte, dir string) ([]Entry, error) {
	if dir == "." {
		dir = ""
	}
	var list []Entry
	for rec := range bytes.SplitSeq(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		meta, name, ok := bytes.Cut(rec, []byte{'\t'})
		f := strings.Fields(string(meta))
		if !ok || len(f) != 4 {
			return nil, fmt.Errorf("gitrepo: ls-tree record %q", rec)
		}
		e := Entry{Mode: f[0], SHA: f[2], Name: path.Base(string(name)), Path: path.Join(dir, path.Base(string(name)))}
		switch {
		case f[1] == "tree":
			e.Type = TypeDir
		case f[1] == "commit":
			e.Type = TypeSubmodule
		case f[0] == "120000":
			e.Type = TypeSymlink
		default:
			e.Type = TypeFile
		}
		if f[3] != "-" {
			e.Size, _ = strconv.ParseInt(f[3], 10, 64)
		}
		list = append(list, e)
	}
	return list, nil
}

// output runs git on the repository with stdin in (nil for none) and
// returns what it printed. Exit status 128 or 1 with nothing printed
// reads as ErrNotFound (a missing object, an unborn HEAD); other failures
// carry git's message.
func (r *Repo) output(ctx context.Context, in io.Reader, args ...string) ([]byte, error) {
	git := r.git
	if git == "" {
		git = "git"
	}
	cmd := exec.CommandContext(ctx, git, append([]string{"--git-dir=" + r.dir}, args...)...)
	cmd.Env = []string{
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=" + r.dir,
		"GIT_TERMINAL_PROMPT=0", "GIT_LITERAL_PATHSPECS=1", "LC_ALL=C", "PATH=/usr/local/bin:/usr/bin:/bin",
	}
	cmd.Stdin = in
	var stdout limited
	var stderr bytes.Buffer
	stdout.max = maxOutput
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if stdout.over {
		return nil, ErrTooLarge
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		msg := strings.TrimSpace(stderr.String())
		if exit.ExitCode() == 1 && msg == "" || exit.ExitCode() == 128 && notFound(msg) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("gitrepo: git %s: %s: %w", args[0], msg, err)
	}
	if err != nil {
		return nil, fmt.Errorf("gitrepo: git %s: %w", args[0], err)
	}
	return stdout.buf.Bytes(), nil
}

// notFound reports whether git's message says an object or revision is
// missing rather than that the repository is broken.
func notFound(msg string) bool {
	for _, s := range []string{"Not a valid object name", "bad revision", "unknown revision", "not a tree object", "bad object", "ambiguous argument", "does not exist"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// limited is a buffer that stops at max bytes.
type limited struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (l *limited) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		l.over = true
		return 0, ErrTooLarge
	}
	return l.buf.Write(p)
}

// checkRefName refuses what is not a plain ref or revision name: empty,
// an option, git's revision operators, or control characters.
func checkRefName(name string) error {
	if name == "" || len(name) > 1024 || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "/") ||
		strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".lock") || strings.HasSuffix(name, ".") ||
		strings.Contains(name, "..") || strings.Contains(name, "@{") || strings.Contains(name, "//") {
		return ErrBadRevision
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) || strings.ContainsRune("~^:?*[\\", r) || r == unicode.ReplacementChar {
			return ErrBadRevision
		}
	}
	return nil
}

// cleanPath checks a path inside a tree and returns it without leading
// or trailing slashes: no "." or ".." elements, no NUL, no control
// characters.
func cleanPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if len(p) > 4096 {
		return "", ErrBadRevision
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return "", ErrBadRevision
		}
	}
	for _, r := range p {
		if r == 0 || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return "", ErrBadRevision
		}
	}
	return p, nil
}

// isHex reports whether s is 4 to 64 lower-case hex digits.
func isHex(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// zero reports whether sha names no commit ("" or all zeros).
func zero(sha string) bool { return strings.Trim(sha, "0") == "" }

// Refs reads the objects the given full ref names point at, unpeeled (an
// annotated tag's tag object), "" for a ref that does not exist, in one
// git process.
func (r *Repo) Refs(ctx context.Context, names ...string) ([]string, error) {
	var in bytes.Buffer
	for _, n := range names {
		if err := checkRefName(n); err != nil || !strings.HasPrefix(n, "refs/") {
			return nil, ErrBadRevision
		}
		in.WriteString(n + "\n")
	}
	if len(names) == 0 {
		return nil, nil
	}
	out, err := r.output(ctx, &in, "cat-file", "--batch-check=%(objectname)")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(names) {
		return nil, fmt.Errorf("gitrepo: cat-file answered %d lines for %d names", len(lines), len(names))
	}
	for i, l := range lines {
		if !isHex(l) {
			lines[i] = ""
		}
	}
	return lines, nil
}

// ChangeType is how a file changed between two commits, in Bitbucket's
// words.
type ChangeType string

// Change types.
const (
	ChangeAdd    ChangeType = "ADD"
	ChangeModify ChangeType = "MODIFY"
	ChangeDelete ChangeType = "DELETE"
	ChangeMove   ChangeType = "MOVE"
	ChangeCopy   ChangeType = "COPY"
)

// FileChange is one file that differs between two commits. Src fields are
// the file before (empty for an added file); SrcPath differs from Path
// for a move or a copy. Similarity is git's rename or copy score (0-100),
// -1 for other changes.
type FileChange struct {
	Type          ChangeType
	Path, SrcPath string
	Mode, SrcMode string
	SHA, SrcSHA   string
	Similarity    int
}

// maxChanges bounds the files a diff lists.
const maxChanges = 10_000

// Changes lists the files that differ from commit base to commit tip
// (both revisions, see Resolve), with renames found; base "" (or all
// zeros) means tip's first parent, or the empty tree for a root commit.
// At most maxChanges files are listed.
func (r *Repo) Changes(ctx context.Context, base, tip string) ([]FileChange, error) {
	to, err := r.Resolve(ctx, tip)
	if err != nil {
		return nil, err
	}
	args := []string{"diff-tree", "-r", "-z", "--raw", "-M", "--no-commit-id"}
	if zero(base) {
		args = append(args, "--root", "-m", "--first-parent", to)
	} else {
		from, err := r.Resolve(ctx, base)
		if err != nil {
			return nil, err
		}
		args = append(args, from, to)
	}
	out, err := r.output(ctx, nil, args...)
	if err != nil {
		return nil, err
	}
	return parseRawDiff(out)
}

// parseRawDiff parses `git diff-tree -z --raw` output: for each file
// ":<src mode> <mode> <src sha> <sha> <status>" NUL <path> NUL, with a
// second path for renames and copies (C and R carry a score).
func parseRawDiff(out []byte) ([]FileChange, error) {
	fields := strings.Split(string(out), "\x00")
	var list []FileChange
	for i := 0; i < len(fields) && len(list) < maxChanges; {
		meta := fields[i]
		if meta == "" {
			i++
			continue
		}
		f := strings.Fields(strings.TrimPrefix(meta, ":"))
		if !strings.HasPrefix(meta, ":") || len(f) != 5 || i+1 >= len(fields) {
			return nil, fmt.Errorf("gitrepo: diff record %q", meta)
		}
		c := FileChange{SrcMode: f[0], Mode: f[1], SrcSHA: f[2], SHA: f[3], Similarity: -1, Path: fields[i+1]}
		i += 2
		status := f[4]
		switch status[0] {
		case 'A':
			c.Type, c.SrcMode, c.SrcSHA = ChangeAdd, "", ""
		case 'D':
			c.Type, c.Mode, c.SHA = ChangeDelete, "", ""
		case 'R', 'C':
			if i >= len(fields) {
				return nil, fmt.Errorf("gitrepo: diff record %q without its second path", meta)
			}
			c.Type = ChangeMove
			if status[0] == 'C' {
				c.Type = ChangeCopy
			}
			c.SrcPath, c.Path = c.Path, fields[i]
			i++
			if n, err := strconv.Atoi(status[1:]); err == nil {
				c.Similarity = n
			}
		default: // M, T (type change), U, X
			c.Type = ChangeModify
		}
		if c.SrcPath == "" && c.Type != ChangeAdd {
			c.SrcPath = c.Path
		}
		list = append(list, c)
	}
	return list, nil
}
