package gitserve

import (
	"io"
	"net/http"
	"time"
)

// transfer bounds the connection of one git request while git runs. The
// server's read and write timeouts suit API calls, not pack transfers, so
// they are replaced here by deadlines that move only while data flows:
// each read of the request body and each write of the response may wait
// at most idle for the client, and nothing may happen after ceiling. A
// client that stalls has its read or write fail after idle; git then sees
// the end of its input or of its output and exits.
type transfer struct {
	rc      *http.ResponseController
	idle    time.Duration
	ceiling time.Time
}

// newTransfer starts bounding the connection of w for request r, which
// may last at most limits.MaxDuration from now. A request without a body
// has nothing to read: its read deadline is the ceiling at once.
func newTransfer(w http.ResponseWriter, r *http.Request, limits Limits) *transfer {
	t := &transfer{rc: http.NewResponseController(w), idle: limits.IdleTimeout, ceiling: time.Now().Add(limits.MaxDuration)}
	if r.Body == nil || r.Body == http.NoBody {
		_ = t.rc.SetReadDeadline(t.ceiling)
	} else {
		t.extendRead()
	}
	t.extendWrite()
	return t
}

// next is the deadline of the next read or write: idle from now, no later
// than the ceiling.
func (t *transfer) next() time.Time {
	if d := time.Now().Add(t.idle); d.Before(t.ceiling) {
		return d
	}
	return t.ceiling
}

// Not every ResponseWriter supports deadlines (handlers under test); the
// errors of setting them are ignored for that reason.

func (t *transfer) extendRead()  { _ = t.rc.SetReadDeadline(t.next()) }
func (t *transfer) extendWrite() { _ = t.rc.SetWriteDeadline(t.next()) }

// body wraps a request body so that each read waits at most idle. Once
// the body is read to its end the connection only waits for the response
// to be taken, which the write deadlines bound, so the read deadline moves
// to the ceiling.
func (t *transfer) body(b io.ReadCloser) io.ReadCloser { return &idleBody{ReadCloser: b, t: t} }

type idleBody struct {
	io.ReadCloser
	t *transfer
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.t.extendRead()
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		_ = b.t.rc.SetReadDeadline(b.t.ceiling)
	}
	return n, err
}

// writer wraps w so that each write waits at most idle.
func (t *transfer) writer(w http.ResponseWriter) http.ResponseWriter {
	return &idleWriter{ResponseWriter: w, t: t}
}

type idleWriter struct {
	http.ResponseWriter
	t *transfer
}

func (w *idleWriter) Write(p []byte) (int, error) {
	w.t.extendWrite()
	return w.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the connection's writer.
func (w *idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish bounds what net/http still does on the connection after the
// handler: the last flush of the response, and reading what is left of an
// unread body.
func (t *transfer) finish() {
	t.extendRead()
	t.extendWrite()
}
