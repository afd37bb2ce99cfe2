package gitrepo

import (
	"bytes"
	"context"
)

// Files walks the paths of every file, symbolic link and submodule in
// the tree of rev (see Resolve), at every depth, in git's order (byte-wise
// by path), and keeps those for which keep holds, at most limit of them;
// more says whether the walk stopped at limit with further paths kept
// left. Directories are not listed. A tree whose listing is larger than
// the bound of one git command is ErrTooLarge.
func (r *Repo) Files(ctx context.Context, rev string, keep func(path string) bool, limit int) (paths []string, more bool, err error) {
	sha, err := r.Resolve(ctx, rev)
	if err != nil {
		return nil, false, err
	}
	out, err := r.output(ctx, nil, "ls-tree", "-r", "-z", "--name-only", "--full-tree", sha)
	if err != nil {
		return nil, false, err
	}
	paths = []string{}
	for rec := range bytes.SplitSeq(out, []byte{0}) {
		if len(rec) == 0 || !keep(string(rec)) {
			continue
		}
		if len(paths) == limit {
			return paths, true, nil
		}
		paths = append(paths, string(rec))
	}
	return paths, false, nil
}
