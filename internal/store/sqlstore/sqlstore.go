// Package sqlstore implements store.Store over database/sql, once for both
// SQLite (modernc.org/sqlite) and PostgreSQL (pgx). Both drivers read $N
// placeholders, so every query has one SQL text; the Dialect value only
// picks the schema files, the row-locking clause and the migration lock.
//
// A Store holds two pools. Writes (every method that changes a row, and the
// atomic read-modify-write methods) run as transactions on the write pool;
// plain reads run on the read pool. On SQLite the write pool is one
// connection whose transactions begin with BEGIN IMMEDIATE, so writers queue
// in Go and never meet SQLITE_BUSY from each other; the busy timeout covers
// other processes. The transactions of concurrent callers are batched into
// one SQLite transaction with one commit (group commit, see Transact). On
// PostgreSQL the rows that must change exactly once are locked with
// SELECT ... FOR UPDATE.
//
// Callbacks (UpdateUser's fn, RedeemAuthCode's issue, ...) run inside the
// write transaction, and a transaction that fails for a reason another
// attempt may cure is retried (Transact), so a callback may run more than
// once, as the store contract warns. Their errors come out of the
// transaction in a callbackError (errors.go). A callback must not call the
// Store: on SQLite a write would wait for the one write connection the
// callback is holding.
//
// A Store may bound every call with a deadline (SetTimeout), so that a
// database that stops answering makes requests fail fast instead of
// hanging. Errors that mean the database could not be reached wrap
// store.ErrUnavailable.
//
// Times are stored as unix milliseconds and come back in UTC, truncated to
// the millisecond. A zero time.Time is stored as 0 and read back as zero.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"latchkey/internal/store"
)

// Dialect names the SQL dialect of the database behind a Store.
type Dialect int

// Supported dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

// String returns the dialect's name, which is also its migrations directory.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// forUpdate is appended to a SELECT that reads a row the transaction is
// about to change. SQLite has no row locks (and no such clause): its write
// transactions already hold the database's single write lock.
func (d Dialect) forUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// forUpdateOf is forUpdate for a join that locks only the rows of the
// table named (or aliased) table.
func (d Dialect) forUpdateOf(table string) string {
	if d == Postgres {
		return " FOR UPDATE OF " + table
	}
	return ""
}

// bytewise is appended to a text column compared or ordered by a list
// that must agree on both backends: PostgreSQL then compares it byte-wise,
// as SQLite always does. (The key columns of the lists have the "C"
// collation in the schema already.)
func (d Dialect) bytewise() string {
	if d == Postgres {
		return ` COLLATE "C"`
	}
	return ""
}

// Store implements store.Store. Create it with New.
type Store struct {
	dialect Dialect
	write   *sql.DB
	read    *sql.DB
	stmts   stmtCache
	wstmts  writeStmts
	timeout time.Duration // per call; 0: none
	batch   batcher       // SQLite's queue of transactions (batch.go)

	cache     *readCache
	logMu     sync.Mutex        // SQLite: guards logSeq and logSchema
	logSeq    int64             // SQLite: the last invalidation log row applied; -1: none yet
	logSchema string            // SQLite: the schema version the cache's rows were read under
	version   versionWatch      // SQLite: the readings that tell a pull nothing committed
	commits   atomic.Uint64     // writes committed by this store (see store.ReadScope, noteCommit)
	atOnce    atomic.Uint64     // PostgreSQL: grants written by one statement (atonce.go)
	ckpt      *checkpointer     // SQLite: the background checkpoints; nil: SQLite's own (checkpoint.go)
	pgSnap    pgSnapshot        // PostgreSQL: the snapshot of the last pull
	pgPulled  time.Time         // PostgreSQL: when the last pull ended
	pgApplied map[string]uint64 // PostgreSQL: rows applied that a later pull may read again ("xid tag"): their xid

	// beforeCommit, when set (by tests only), runs before every commit;
	// its error fails the attempt as a commit error would.
	beforeCommit func() error
	// batchTaken, when set (by tests only), learns the size of every
	// batch of transactions as the writer takes it (batch.go).
	batchTaken func(size int)
}

var _ store.Store = (*Store)(nil)

// New returns a Store over two pools of one database: write for
// transactions, read for plain queries (they may be the same *sql.DB). On
// SQLite the write pool must be limited to one connection and open its
// transactions with BEGIN IMMEDIATE (DSN parameter _txlock=immediate).
// New does not migrate; call Migrate. The Store owns both pools and closes
// them in Close.
//
// The read cache (see cache.go) holds up to cacheEntries entries.
func New(d Dialect, write, read *sql.DB) *Store {
	s := &Store{dialect: d, write: write, read: read, logSeq: -1}
	pull := s.pullLog
	if d == Postgres {
		pull = s.pullXids
	}
	s.cache = newReadCache(cacheEntries, pull)
	return s
}

// SetWALIndex makes the pulls of a SQLite store read the header of the
// database's WAL index, the file at path (the database's path with "-shm"
// appended), instead of a data_version pragma, to learn whether anything
// committed since the previous pull (see versionWatch). Call it before the
// Store is used.
func (s *Store) SetWALIndex(path string) {
	s.version.walIndex = path
}

// SetTimeout bounds the database work of every later call of a Store
// method (except Migrate, which may legitimately wait for another node's
// migration) by d, counted from the start of the call and including the wait
// for a pooled connection, lock waits and retries. A call that runs out of
// time fails with an error wrapping store.ErrUnavailable. Zero, the
// default, sets no bound beyond the caller's context. Call it before the
// Store is used.
func (s *Store) SetTimeout(d time.Duration) { s.timeout = d }

// bound returns ctx limited by the store's per-call timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// Dialect reports the store's SQL dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping checks that both pools reach the database and that it holds the
// schema this build expects: the newest migration of the dialect is
// recorded in schema_migrations. A database that is gone, whose tables are
// gone, or whose schema is older is store.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.write.PingContext(ctx); err != nil {
		return wrap("ping", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return wrap("ping", err)
	}
	want, err := latestVersion(s.dialect)
	if err != nil {
		return err
	}
	var n int
	err = s.read.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, want).Scan(&n)
	if err != nil {
		return wrap("ping: schema version", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: ping: %w: schema version %d is not applied", store.ErrUnavailable, want)
	}
	return nil
}

// latestVersion is the version of the dialect's newest migration.
func latestVersion(d Dialect) (int, error) {
	ms, err := Migrations(d)
	if err != nil || len(ms) == 0 {
		return 0, fmt.Errorf("sqlstore: no migrations: %w", err)
	}
	return ms[len(ms)-1].Version, nil
}

// Close closes both pools.
func (s *Store) Close() error {
	s.version.close()
	s.stmts.close()
	s.wstmts.close()
	var err error
	if s.ckpt != nil {
		err = s.ckpt.close() // first: the last connection to close checkpoints the rest
	}
	err = errors.Join(err, s.write.Close())
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	if err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// maxAttempts bounds how often Transact runs a transaction that failed with
// a retryable error.
const maxAttempts = 5

// Transact runs fn in a transaction on the write pool (a Tx, whose
// statements pass the same text guard as every other write) and commits it if fn
// returns nil; otherwise it rolls back and returns fn's error, except that
// an error made by committed commits first. A transaction
// that fails because of a serialization failure or a deadlock (PostgreSQL)
// or a busy database (SQLite, after its busy timeout) is retried a few
// times, so fn may run more than once and must not have effects outside tx.
// On PostgreSQL it runs at the server's default isolation (normally READ
// COMMITTED), so lock the rows you read-modify-write with FOR UPDATE.
// The store's per-call timeout (SetTimeout) bounds all attempts together.
//
// On SQLite the transactions of concurrent calls are batched (group
// commit, batch.go): the fns of up to maxBatch calls run one after another
// in one transaction, which holds the database's write lock (BEGIN
// IMMEDIATE) throughout and commits once for them all. Each fn runs in a
// savepoint of its own, so an fn that fails is rolled back alone, and sees
// the writes of the fns before it in its batch, uncommitted, as it would
// see them committed had it run after them: of two redemptions of one code
// in one batch, the second finds the code used. For the caller nothing
// changes but this:
//   - In a batch, tx's statements run under the batch's context, not under
//     the ctx fn passes them: a caller that hangs up does not interrupt the
//     statements of a transaction that others share. The batch's context
//     has the values of its first caller's ctx and the per-call timeout,
//     counted from the start of the batch.
//   - fn may run on another goroutine (the caller's waits meanwhile). A
//     panic of fn rolls back the batch and is raised again, with its value,
//     in the caller's goroutine.
//   - The result comes only once the batch has committed. If the batch
//     fails as a whole (its BEGIN, COMMIT or a savepoint statement fails,
//     an fn returns a retryable error or leaves SQLite's transaction, or an
//     fn panics) it is rolled back, and each of its other calls runs fn
//     (again, if it ran in the batch) in a transaction of its own, with
//     retries, as an unbatched call does.
//   - A call whose ctx is done before its fn starts does not run fn, and
//     one whose ctx is done by the time fn returns is rolled back; both
//     fail with the context's error. Once fn has returned in a batch, the
//     caller's going away no longer undoes its writes.
//
// A lone call (a batch of one) runs as an unbatched transaction does, under
// the caller's ctx: a caller that goes away before the commit rolls it back.
func (s *Store) Transact(ctx context.Context, fn func(Tx) error) error {
	bounded, cancel := s.bound(ctx)
	defer cancel()
	if s.dialect == SQLite {
		return gone(ctx, s.transactBatched(bounded, fn))
	}
	return gone(ctx, s.transact(bounded, fn))
}

// gone marks err as the caller's going away when ctx, the caller's own
// context, was cancelled: a client that hung up makes database/sql drop
// the connection or roll the transaction back under the statement, and
// the driver's words for that ("bad connection", "transaction has already
// been committed or rolled back") must not read as an unreachable
// database. The error then matches context.Canceled and never
// store.ErrUnavailable. The store's own per-call timeout is a deadline,
// not a cancellation, and stays unavailability.
func gone(ctx context.Context, err error) error {
	if err == nil || !errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled) {
		return err
	}
	return &goneError{err: err}
}

// goneError is an error of a call whose caller went away.
type goneError struct{ err error }

func (e *goneError) Error() string { return "the caller went away: " + e.err.Error() }

// Is makes the error match context.Canceled (and nothing it wraps, so
// that no driver error underneath classifies it otherwise).
func (e *goneError) Is(target error) bool { return target == context.Canceled }

// transact is Transact without the per-call timeout and without batching:
// one transaction of its own for fn.
func (s *Store) transact(ctx context.Context, fn func(Tx) error) error {
	err := retry(ctx, func() error { return s.transactOnce(ctx, fn) })
	s.prepareNoted(ctx)
	return err
}

// exec runs one writing statement on its own (a statement is atomic) and
// retries it like a transaction.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := checkText(args); err != nil {
		return nil, err
	}
	bounded, cancel := s.bound(ctx)
	defer cancel()
	var res sql.Result
	err := retry(bounded, func() error {
		var err error
		res, err = s.write.ExecContext(bounded, query, args...)
		s.noteCommit()
		return err
	})
	return res, gone(ctx, err)
}

// insertID runs one INSERT ... RETURNING id on its own and retries it like
// a transaction.
func (s *Store) insertID(ctx context.Context, query string, args ...any) (int64, error) {
	if err := checkText(args); err != nil {
		return 0, err
	}
	bounded, cancel := s.bound(ctx)
	defer cancel()
	var id int64
	err := retry(bounded, func() (err error) {
		id, err = s.queryID(bounded, query, args...)
		return err
	})
	return id, gone(ctx, err)
}

// queryID runs query, a statement on its own that returns one id, once,
// and returns the id.
func (s *Store) queryID(ctx context.Context, query string, args ...any) (int64, error) {
	var id int64
	err := s.write.QueryRowContext(ctx, query, args...).Scan(&id)
	s.noteCommit() // after a failure too: it may have committed
	return id, err
}

// retry runs fn until it succeeds, fails for a reason that another attempt
// cannot cure, or has run maxAttempts times.
func retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == maxAttempts || !isRetryable(err) {
			return err
		}
		if werr := sleep(ctx, backoff(attempt)); werr != nil {
			return errors.Join(err, werr)
		}
	}
}

func (s *Store) transactOnce(ctx context.Context, fn func(Tx) error) (err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	result := fn(Tx{tx: tx, s: s})
	var kept *committedError
	if errors.As(result, &kept) {
		result = kept.err
	} else if result != nil {
		return result
	}
	if s.beforeCommit != nil {
		if err := s.beforeCommit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
	}
	err = tx.Commit()
	s.noteCommit() // after a failed commit too: it may have committed
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return result
}

// backoff returns a jittered pause before retry number attempt+1.
func backoff(attempt int) time.Duration {
	base := time.Duration(attempt) * 5 * time.Millisecond
	return base + rand.N(base)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
