package sqlstore

import (
	"context"
	"errors"
	"sync"
)

// Group commit: on SQLite, the transactions of concurrent Transact calls
// run together in one database transaction, so that one BEGIN IMMEDIATE
// and one COMMIT (the WAL writes, the lock traffic) serve many callers.
//
// Callers queue their requests. One goroutine, the writer, serves the
// queue: it takes up to maxBatch queued requests, runs them as one
// transaction on the write connection, each inside a savepoint of its own,
// commits, delivers every caller's result, and takes the next batch at
// once. Requests queue while a batch runs, which is what makes the next
// batch bigger: no caller waits on purpose for others to join. The writer
// is started by the request that finds none running and returns when it
// finds the queue empty, so an idle store has none.
//
// Why a goroutine of its own: the writer goes from one batch to the next
// without waiting to be scheduled. When the caller that led a batch handed
// the lead to the next caller instead, the wake-up left the write
// connection idle for 13-15 % of the time under load.
//
// A batch of one runs exactly as an unbatched transaction (Store.transact),
// under its caller's context. When a batch fails as a whole, it is rolled
// back and each of its requests (but one whose fn panicked and those whose
// caller had gone) runs on its own through that path too, on its caller's
// goroutine, again if it ran in the batch, which Transact's contract (fn
// may run more than once) allows.

// maxBatch bounds the requests of one batch.
const maxBatch = 64

// savepoint is the name of the savepoint of each request of a batch.
// Requests run one after another, so one name serves them all.
const savepoint = "batch_member"

// The statements around each request of a batch.
const (
	beginMember    = `SAVEPOINT ` + savepoint
	releaseMember  = `RELEASE ` + savepoint
	rollbackMember = `ROLLBACK TO ` + savepoint
)

// batcher is the queue of a store's batched transactions.
type batcher struct {
	mu      sync.Mutex
	queue   []*request
	writing bool // a writer goroutine runs: it serves queue until it finds it empty
}

// request is one Transact call waiting in the queue or running in a batch.
type request struct {
	ctx  context.Context // the caller's, bounded by the per-call timeout
	fn   func(Tx) error
	done chan outcome // buffered: a request gets one message, sent without waiting
}

// outcome is what a caller learns from the writer.
type outcome struct {
	err      error // fn's result, after the commit
	alone    bool  // the batch failed: run fn again on your own
	panicked bool  // fn panicked with value: panic again in the caller
	value    any
}

// transactBatched is transact for SQLite: fn runs in the next batch. ctx
// is the caller's context bounded by the per-call timeout.
func (s *Store) transactBatched(ctx context.Context, fn func(Tx) error) error {
	r := &request{ctx: ctx, fn: fn, done: make(chan outcome, 1)}
	b := &s.batch
	b.mu.Lock()
	b.queue = append(b.queue, r)
	start := !b.writing
	b.writing = true
	b.mu.Unlock()
	if start {
		go s.writer()
	}

	// Wait even if ctx is done: the writer may be running fn, which writes
	// the caller's variables. A request whose ctx is done is skipped when
	// its batch reaches it, so the wait is short.
	o := <-r.done
	switch {
	case o.panicked:
		panic(o.value)
	case o.alone:
		return s.transact(ctx, fn)
	}
	return o.err
}

// writer runs batches until it finds the queue empty.
func (s *Store) writer() {
	for {
		batch := s.take()
		if batch == nil {
			return
		}
		s.serve(batch)
	}
}

// serve runs one batch and delivers every request's outcome. Should
// anything but an fn panic (fns' panics are their callers'), the panic is
// raised again in the batch's first caller and the others run on their
// own; the writer goes on.
func (s *Store) serve(batch []*request) {
	outs := make([]outcome, len(batch))
	for i := range outs {
		outs[i] = outcome{alone: true}
	}
	delivered := false
	defer func() {
		if !delivered {
			if v := recover(); v != nil {
				outs[0] = outcome{panicked: true, value: v}
			}
			deliver(batch, outs)
		}
	}()
	if s.batchTaken != nil {
		s.batchTaken(len(batch))
	}
	if len(batch) == 1 {
		outs[0] = s.transactLone(batch[0])
		deliver(batch, outs)
		delivered = true
		return
	}

	// The batch's statements run under a context of its own: one caller
	// hanging up must not interrupt the transaction the others share.
	// It has the values of the first caller's context and is cancelled
	// when the batch ends, which also makes database/sql roll back a
	// transaction that a panic left open.
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	defer cancel()
	ctx, cancelTimeout := s.bound(ctx)
	defer cancelTimeout()

	s.runBatch(ctx, batch, outs)
	// Statements first seen in this batch are prepared before its callers
	// hear back (it happens once per statement): their next batch finds
	// them ready.
	s.prepareNoted(ctx)
	deliver(batch, outs)
	delivered = true
}

// transactLone runs the request of a batch of one as an unbatched
// transaction, under its caller's context, and returns its outcome; a
// panic of its fn (the transaction rolled back) is the caller's.
func (s *Store) transactLone(r *request) outcome {
	p, err := call(func() error { return s.transact(r.ctx, r.fn) })
	if p != nil {
		return *p
	}
	return outcome{err: err}
}

// take removes the next batch from the queue; when the queue is empty it
// returns nil and notes that no writer runs.
func (s *Store) take() []*request {
	b := &s.batch
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.queue), maxBatch)
	if n == 0 {
		b.writing = false
		return nil
	}
	batch := make([]*request, n)
	copy(batch, b.queue)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch
}

// deliver sends every request of batch its outcome.
func deliver(batch []*request, outs []outcome) {
	for i, r := range batch {
		r.done <- outs[i]
	}
}

// runBatch runs the requests of batch in one transaction on the write
// connection, each in a savepoint: a request whose fn fails (and does not
// ask for a commit with committed) is rolled back to its savepoint alone.
// A request whose caller's context is done when the batch reaches it does
// not run; one whose context is done by the time its fn returns is rolled
// back, as an unbatched transaction would be; both get the context's error.
//
// outs comes in as alone for every request. If the transaction commits,
// runBatch sets every outcome. If anything fails for the batch as a whole
// (BEGIN, a savepoint statement, a retryable error of an fn, the commit,
// the beforeCommit hook) or an fn panics, the transaction is rolled back
// and only the requests that did not run and the one that panicked get an
// outcome other than alone.
func (s *Store) runBatch(ctx context.Context, batch []*request, outs []outcome) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return
	}
	defer tx.Rollback() // after a commit: sql.ErrTxDone, nothing done
	t := Tx{tx: tx, s: s, ctx: ctx}
	results := make([]error, len(batch))
	ran := make([]bool, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			outs[i] = outcome{err: err}
			continue
		}
		if _, err := t.ExecContext(ctx, beginMember); err != nil {
			return
		}
		p, err := call(func() error { return r.fn(t) })
		if p != nil {
			outs[i] = *p
			return
		}
		var kept *committedError
		keep := err == nil || errors.As(err, &kept)
		if keep && r.ctx.Err() != nil {
			keep, kept, err = false, nil, r.ctx.Err()
		}
		if !keep {
			if isRetryable(err) {
				return // the whole transaction is to be tried again
			}
			if _, rerr := t.ExecContext(ctx, rollbackMember); rerr != nil {
				return // the transaction may be gone with the error
			}
		}
		if _, err := t.ExecContext(ctx, releaseMember); err != nil {
			return
		}
		if kept != nil {
			err = kept.err
		}
		results[i], ran[i] = err, true
	}
	if s.beforeCommit != nil {
		if err := s.beforeCommit(); err != nil {
			return
		}
	}
	err = tx.Commit()
	s.noteCommit() // after a failed commit too: it may have committed
	if err != nil {
		return
	}
	for i := range batch {
		if ran[i] {
			outs[i] = outcome{err: results[i]}
		}
	}
}

// call runs fn and returns its error, or the outcome of its panic.
func call(fn func() error) (p *outcome, err error) {
	returned := false
	defer func() {
		if !returned {
			p = &outcome{panicked: true, value: recover()}
		}
	}()
	err = fn()
	returned = true
	return nil, err
}
