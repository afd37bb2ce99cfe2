package gitserve

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/store"
)

// maxCommandBytes bounds the start of a push's body that is kept to read
// its ref update commands: about 20,000 ref updates. A push that updates
// more refs is still served; it is reported without its updates (logged).
const maxCommandBytes = 2 << 20

// onPushTimeout bounds the work of Config.OnPush. It runs even when the
// client has hung up (the refs are updated by then), so it gets its own
// deadline rather than the request's.
const onPushTimeout = 30 * time.Second

// commandRecorder keeps the first bytes of a receive-pack request body
// as git reads them, for the ref update commands at their start.
type commandRecorder struct {
	io.ReadCloser
	buf  bytes.Buffer
	full bool // more than maxCommandBytes came: the rest was not kept
}

func (c *commandRecorder) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if room := maxCommandBytes - c.buf.Len(); n > 0 && room > 0 {
		c.buf.Write(p[:min(n, room)])
	} else if n > 0 {
		c.full = true
	}
	return n, err
}

// ParseCommands reads the ref update commands at the start of a
// receive-pack request body ("<old> <new> <ref>" pkt-lines up to the
// first flush-pkt; the first carries capabilities after a NUL; shallow
// lines and a push certificate's other lines are skipped). It returns the
// commands read and whether the command list was complete in body.
func ParseCommands(body []byte) (changes []gitrepo.Change, complete bool) {
	for len(body) >= 4 {
		n, err := strconv.ParseUint(string(body[:4]), 16, 16)
		if err != nil {
			return changes, false
		}
		if n == 0 {
			return changes, true // flush-pkt: the end of the command list
		}
		if n < 4 || int(n) > len(body) {
			return changes, false
		}
		line := string(body[4:n])
		body = body[n:]
		line, _, _ = strings.Cut(line, "\x00")
		f := strings.Fields(strings.TrimSuffix(line, "\n"))
		if len(f) == 3 && isObjectID(f[0]) && isObjectID(f[1]) && len(f[0]) == len(f[1]) && strings.HasPrefix(f[2], "refs/") {
			changes = append(changes, gitrepo.Change{Old: f[0], New: f[1], Ref: f[2]})
		}
	}
	return changes, false
}

// isObjectID reports whether s is a full SHA-1 or SHA-256 in lower-case hex.
func isObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// commands reads the recorded commands, inflating a gzip-encoded body.
func (c *commandRecorder) commands(encoding string) ([]gitrepo.Change, bool) {
	body := c.buf.Bytes()
	if strings.EqualFold(encoding, "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, false
		}
		inflated, _ := io.ReadAll(io.LimitReader(zr, maxCommandBytes))
		body = inflated
	}
	return ParseCommands(body)
}

// applied keeps the commands that took effect: the ref now points at the
// command's new value (or is gone, for a deletion). A command that git
// refused, or that a later push has already overtaken, is left out.
func applied(ctx context.Context, repo *gitrepo.Repo, cmds []gitrepo.Change) ([]gitrepo.Change, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Ref
	}
	now, err := repo.Refs(ctx, names...)
	if err != nil {
		return nil, err
	}
	var out []gitrepo.Change
	for i, c := range cmds {
		deleted := strings.Trim(c.New, "0") == ""
		if c.Old != c.New && (deleted && now[i] == "" || !deleted && now[i] == c.New) {
			out = append(out, c)
		}
	}
	return out, nil
}

// reportPush tells Config.OnPush what a finished push changed. It is called
// after git has ended and before the handler returns, so the push's
// response has not ended yet: git waits for its end, so a push reported
// as successful has been reported here first. A failure is logged: the
// refs are updated whatever becomes of the report.
func (s *Server) reportPush(r *http.Request, caller *oauth.Caller, repo store.Repo, rec *commandRecorder) {
	if s.cfg.OnPush == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), onPushTimeout)
	defer cancel()
	cmds, complete := rec.commands(r.Header.Get("Content-Encoding"))
	if !complete {
		s.log.Warn("push not reported: its ref update commands could not be read", "repo_id", repo.ID,
			"kept_bytes", rec.buf.Len(), "overflow", rec.full)
		return
	}
	changes, err := applied(ctx, gitrepo.Open(s.cfg.Git, s.cfg.Repos.Path(repo)), cmds)
	if err != nil {
		s.log.Error("push not reported: reading the updated refs failed", "repo_id", repo.ID, "error", err)
		return
	}
	if len(changes) == 0 {
		return
	}
	if err := s.cfg.OnPush(ctx, caller, repo, changes); err != nil {
		s.log.Error("push report failed", "repo_id", repo.ID, "error", err)
	}
}
