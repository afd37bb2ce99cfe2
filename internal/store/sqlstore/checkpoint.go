package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Checkpoints in the background (SQLite). A WAL checkpoint copies the
// pages that commits appended to the write-ahead log back into the
// database file, with an fsync of each file. Left to SQLite, the
// connection that commits runs it, after its commit, whenever the log has
// grown past wal_autocheckpoint pages: on the write connection, where every
// queued transaction then waits for the copy and the two fsyncs.
//
// With CheckpointInBackground, a goroutine of the store runs PASSIVE
// checkpoints on a connection of their own, paced: one at most every
// checkpointEvery, and only after this store committed. A PASSIVE
// checkpoint never blocks the writer or a reader; it copies what no
// reader still needs. The write connection keeps a larger
// wal_autocheckpoint (set by the opener) as the backstop: the log file
// starts again from its beginning only when a write transaction begins
// after a checkpoint copied all of it, which under steady load is the
// writer's own checkpoint; by then the background has copied all but the
// last interval's pages. Another process on the file (the CLI) checkpoints
// its own commits as SQLite does by default.

// checkpointEvery is the least time between two background checkpoints.
const checkpointEvery = 50 * time.Millisecond

// checkpointer runs a store's background checkpoints.
type checkpointer struct {
	db   *sql.DB       // one connection, read-write
	wake chan struct{} // buffered (1): something committed since the last checkpoint
	stop chan struct{} // closed by close
	done chan struct{} // closed when the goroutine has returned

	closeOnce sync.Once
	closeErr  error
}

// CheckpointInBackground makes the store run the WAL checkpoints of a
// SQLite database on db, a pool of one read-write connection to the same
// file that the store owns from now on and closes in Close. Call it once,
// before the Store is used. The opener should raise the write
// connection's wal_autocheckpoint (see the comment above).
func (s *Store) CheckpointInBackground(db *sql.DB) {
	c := &checkpointer{db: db, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.ckpt = c
	go c.run()
}

// noteCommit counts a commit of this store (see store.ReadScope) and wakes
// the background checkpointer, if any, without waiting for it.
func (s *Store) noteCommit() {
	s.commits.Add(1)
	if s.ckpt == nil {
		return
	}
	select {
	case s.ckpt.wake <- struct{}{}:
	default:
	}
}

// run checkpoints after each wake, at most once every checkpointEvery,
// until stop closes.
func (c *checkpointer) run() {
	defer close(c.done)
	pace := time.NewTimer(0)
	defer pace.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		select {
		case <-c.stop:
			return
		case <-pace.C:
		}
		// An error (the file busy with another process's checkpoint, a
		// disk error) is left to the next wake and to the writer's own
		// backstop checkpoint, which reports what a commit must.
		_, _ = c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		pace.Reset(checkpointEvery)
	}
}

// close stops the goroutine, waits for it, and closes its pool; once,
// however often it is called (Store.Close may be called again).
func (c *checkpointer) close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.done
		c.closeErr = c.db.Close()
	})
	return c.closeErr
}
