package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"latchkey/internal/store"
	"latchkey/internal/store/sqlstore"
)

// The tests of SQLite's batched transactions (group commit). Most of them
// make the batch they test: a transaction holds the write connection (and
// the writer, which runs it as a batch of one) while the calls under test
// queue one by one, in a known order; released, the writer takes them all
// as the next batch.

// openSQLite opens a fresh SQLite store with a table of test rows and
// records the size of every batch it takes in sizes.
func openSQLite(t *testing.T) (*sqlstore.Store, *batchSizes) {
	t.Helper()
	s := backends(t)["SQLite"](t)
	sizes := &batchSizes{}
	sqlstore.OnBatch(s, sizes.add)
	err := s.Transact(t.Context(), func(tx sqlstore.Tx) error {
		_, err := tx.ExecContext(t.Context(), `CREATE TABLE batch_rows (id INTEGER PRIMARY KEY, run INTEGER NOT NULL)`)
		if err == nil {
			_, err = tx.ExecContext(t.Context(), `CREATE TABLE batch_claims (name TEXT PRIMARY KEY, id INTEGER NOT NULL)`)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, sizes
}

type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) add(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, n)
}

func (b *batchSizes) get() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sizes)
}

// hold starts a transaction that holds the write connection and the writer
// until release is called; the transaction then rolls back (it does not
// commit, so it leaves the commit hook alone).
func hold(t *testing.T, s *sqlstore.Store) (release func()) {
	t.Helper()
	started, stop, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	errHold := errors.New("the holding transaction ends")
	go func() {
		done <- s.Transact(context.Background(), func(sqlstore.Tx) error {
			close(started)
			<-stop
			return errHold
		})
	}()
	<-started
	return func() {
		t.Helper()
		close(stop)
		if err := <-done; !errors.Is(err, errHold) {
			t.Errorf("holding transaction: %v", err)
		}
	}
}

// queue starts call(i) for i in [0, n) on goroutines of their own, each
// once the one before it waits in s's queue, so that they queue in that
// order; wait waits for them all.
func queue(t *testing.T, s *sqlstore.Store, n int, call func(i int)) (wait func()) {
	t.Helper()
	var wg sync.WaitGroup
	before := sqlstore.Queued(s)
	for i := range n {
		wg.Go(func() { call(i) })
		waitQueued(t, s, before+i+1)
	}
	return wg.Wait
}

// waitQueued waits until n calls wait in s's queue.
func waitQueued(t *testing.T, s *sqlstore.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sqlstore.Queued(s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued after 10s, want %d", sqlstore.Queued(s), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// rows returns the test rows: id → run.
func rows(t *testing.T, s *sqlstore.Store) map[int]int {
	t.Helper()
	out := map[int]int{}
	err := s.Transact(t.Context(), func(tx sqlstore.Tx) error {
		clear(out)
		rs, err := tx.QueryContext(t.Context(), `SELECT id, run FROM batch_rows`)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var id, run int
			if err := rs.Scan(&id, &run); err != nil {
				return err
			}
			out[id] = run
		}
		return rs.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// insertRow writes the test row id, marked with the run of its fn.
func insertRow(tx sqlstore.Tx, id, run int) error {
	_, err := tx.ExecContext(context.Background(), `INSERT INTO batch_rows (id, run) VALUES ($1, $2)`, id, run)
	return err
}

// What a call of the mixed tests does.
type kind int

const (
	succeeds     kind = iota // writes its row and returns nil
	fails                    // writes its row and returns its own error
	commits                  // writes its row and returns its own error made by Committed
	panics                   // writes its row and panics with its own value
	claims                   // writes its row and claims the one name that only one call gets
	busyOnce                 // first run: writes its row, returns a retryable error; then succeeds
	leavesTxOnce             // first run: writes its row, ends SQLite's transaction (ROLLBACK) and returns nil; then succeeds
	kinds
)

func (k kind) String() string {
	return [...]string{"succeeds", "fails", "commits", "panics", "claims", "busyOnce", "leavesTxOnce"}[k]
}

// errOwn is the error of call i.
type errOwn struct{ i int }

func (e errOwn) Error() string { return fmt.Sprintf("error of call %d", e.i) }

// panicOwn is the panic value of call i.
type panicOwn struct{ i int }

// busy is SQLite's "database is locked" as modernc reports it, which
// Transact retries.
type busy struct{}

func (busy) Error() string { return "database is locked (5) (fake)" }
func (busy) Code() int     { return 5 }

// call is one Transact call of a mixed test and what came of it.
type call struct {
	i    int
	kind kind
	runs atomic.Int32
	err  error
	pan  any // recovered in the caller's goroutine
	ret  bool
}

// run calls Transact with the fn of c's kind and records the outcome.
func (c *call) run(s *sqlstore.Store) {
	defer func() { c.pan = recover() }()
	c.err = s.Transact(context.Background(), func(tx sqlstore.Tx) error {
		run := int(c.runs.Add(1))
		if err := insertRow(tx, c.i, run); err != nil {
			return err
		}
		switch c.kind {
		case fails:
			return errOwn{c.i}
		case commits:
			return sqlstore.Committed(errOwn{c.i})
		case panics:
			panic(panicOwn{c.i})
		case claims:
			_, err := tx.ExecContext(context.Background(), `INSERT INTO batch_claims (name, id) VALUES ('the one', $1)`, c.i)
			return err
		case busyOnce:
			if run == 1 {
				return fmt.Errorf("some statement: %w", busy{})
			}
		case leavesTxOnce:
			if run == 1 {
				_, err := tx.ExecContext(context.Background(), `ROLLBACK`)
				return err
			}
		}
		return nil
	})
	c.ret = true
}

// check checks the outcomes of calls against the rows stored: every call
// got its own result, exactly the writes of the calls that succeeded or
// committed are stored, each once and from the last run, and exactly one
// call of kind claims got the name.
func check(t *testing.T, s *sqlstore.Store, calls []*call) {
	t.Helper()
	stored := rows(t, s)
	claimed := 0
	for _, c := range calls {
		run, ok := stored[c.i]
		runs := int(c.runs.Load())
		wantRow := true
		switch c.kind {
		case leavesTxOnce:
			// Its first run fails the batch, and its second, on its own,
			// succeeds; unless its first run is on its own already (its
			// batch failed before it ran): then SQLite refuses the commit.
			switch {
			case runs == 1 && c.ret && c.err != nil && c.pan == nil:
				wantRow = false
			case runs == 2 && c.ret && c.err == nil && c.pan == nil:
			default:
				t.Errorf("call %d (%v): %d runs, returned %v, err %v, panic %v; want 2 runs and nil or 1 run and an error", c.i, c.kind, runs, c.ret, c.err, c.pan)
			}
		case succeeds, busyOnce:
			if !c.ret || c.err != nil || c.pan != nil {
				t.Errorf("call %d (%v): returned %v, err %v, panic %v; want nil", c.i, c.kind, c.ret, c.err, c.pan)
			}
		case fails, commits:
			var own errOwn
			if !c.ret || !errors.As(c.err, &own) || own.i != c.i || c.pan != nil {
				t.Errorf("call %d (%v): returned %v, err %v, panic %v; want its own error", c.i, c.kind, c.ret, c.err, c.pan)
			}
			wantRow = c.kind == commits
		case panics:
			if c.ret || c.pan != (panicOwn{c.i}) {
				t.Errorf("call %d (%v): returned %v (err %v), panic %v; want its own panic", c.i, c.kind, c.ret, c.err, c.pan)
			}
			wantRow = false
		case claims:
			switch {
			case c.ret && c.err == nil && c.pan == nil:
				claimed++
			case c.ret && errors.Is(sqlstoreWrap(c.err), store.ErrAlreadyExists):
				wantRow = false
			default:
				t.Errorf("call %d (%v): returned %v, err %v, panic %v; want nil or a unique violation", c.i, c.kind, c.ret, c.err, c.pan)
			}
		}
		switch {
		case wantRow && !ok:
			t.Errorf("call %d (%v, %d runs): its row is missing", c.i, c.kind, runs)
		case !wantRow && ok:
			t.Errorf("call %d (%v, %d runs): its row was written (run %d)", c.i, c.kind, runs, run)
		case ok && run != runs:
			t.Errorf("call %d (%v): the row of run %d is stored, want the last run's, %d", c.i, c.kind, run, runs)
		}
		if c.kind == panics && runs != 1 {
			t.Errorf("call %d (%v): %d runs, want 1 (a panic is not tried again)", c.i, c.kind, runs)
		}
		if c.kind == busyOnce && runs != 2 {
			t.Errorf("call %d (%v): %d runs, want 2", c.i, c.kind, runs)
		}
	}
	for id := range stored {
		if id < 0 || id >= len(calls) {
			t.Errorf("row %d of no call", id)
		}
	}
	if claimed != 1 {
		t.Errorf("%d calls claimed the name, want exactly 1", claimed)
	}
	var claimer int
	err := s.Transact(t.Context(), func(tx sqlstore.Tx) error {
		return tx.QueryRowContext(t.Context(), `SELECT id FROM batch_claims WHERE name = 'the one'`).Scan(&claimer)
	})
	if err != nil {
		t.Fatalf("the claim: %v", err)
	}
	if c := calls[claimer]; c.kind != claims || c.err != nil {
		t.Errorf("the name is claimed by call %d (%v, err %v)", claimer, c.kind, c.err)
	}
}

// sqlstoreWrap classifies a driver error as the store's methods do.
func sqlstoreWrap(err error) error { return sqlstore.Wrap("test", err) }

// TestBatchEachCallGetsItsOwnOutcome queues calls of every kind in a
// known order, so that they run in batches (64 at most) that mix them:
// each caller gets its own result or its own panic, and exactly the
// writes of the calls that succeeded or committed are stored.
func TestBatchEachCallGetsItsOwnOutcome(t *testing.T) {
	// runs checks that call i ran want times.
	runs := func(i int, want int32) func(*testing.T, []*call) {
		return func(t *testing.T, calls []*call) {
			t.Helper()
			if got := calls[i].runs.Load(); got != want {
				t.Errorf("call %d (%v) ran %d times, want %d", i, calls[i].kind, got, want)
			}
		}
	}
	for _, order := range []struct {
		name  string
		kind  func(i int) kind
		check func(*testing.T, []*call)
	}{
		// Call 3 panics: calls 0 to 2 run again on their own, the
		// others of the batch run on their own only.
		{"RoundRobin", func(i int) kind { return kind(i % int(kinds)) }, func(t *testing.T, calls []*call) {
			runs(0, 2)(t, calls)
			runs(2, 2)(t, calls)
			runs(4, 1)(t, calls)
		}},
		// The first fn of the batch panics, fails or fails the batch.
		{"LeaderPanics", func(i int) kind { return []kind{panics, succeeds, claims, commits}[i%4] }, runs(1, 1)},
		{"LeaderFails", func(i int) kind { return []kind{fails, claims, succeeds}[i%3] }, runs(2, 1)},
		{"LeaderBusy", func(i int) kind { return []kind{busyOnce, claims, succeeds, fails, commits}[i%5] }, runs(0, 2)},
		{"LeaderLeavesTx", func(i int) kind { return []kind{leavesTxOnce, claims, commits}[i%3] }, runs(0, 2)},
		// Batches that commit: no call fails the batch, none runs twice.
		{"NoBatchFailure", func(i int) kind { return []kind{claims, succeeds, fails, commits, claims}[i%5] }, func(t *testing.T, calls []*call) {
			for i := range calls {
				runs(i, 1)(t, calls)
			}
		}},
	} {
		t.Run(order.name, func(t *testing.T) {
			s, sizes := openSQLite(t)
			const n = 100 // a batch of 64, and one of 36
			calls := make([]*call, n)
			for i := range calls {
				calls[i] = &call{i: i, kind: order.kind(i)}
			}
			release := hold(t, s)
			wait := queue(t, s, n, func(i int) { calls[i].run(s) })
			release()
			wait()
			check(t, s, calls)
			order.check(t, calls)
			if got := sizes.get(); !slices.Contains(got, 64) || !slices.Contains(got, 36) {
				t.Errorf("batch sizes %v, want one of 64 and one of 36", got)
			}
		})
	}
}

// TestBatchStress starts many calls of every kind at once, several
// times, with no control over the batches they form.
func TestBatchStress(t *testing.T) {
	s, sizes := openSQLite(t)
	const n, rounds = 300, 3
	var calls []*call
	for round := range rounds {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			c := &call{i: round*n + i, kind: kind(i % int(kinds))}
			if c.kind == claims && round > 0 || c.kind == leavesTxOnce {
				// One name, claimed in round 0. A call that leaves the
				// transaction fails on its own: check needs a batch.
				c.kind = succeeds
			}
			calls = append(calls, c)
			wg.Go(func() {
				<-start
				c.run(s)
			})
		}
		close(start)
		wg.Wait()
	}
	check(t, s, calls)
	got := sizes.get()
	if slices.Max(got) < 2 {
		t.Errorf("batch sizes %v: no batch of more than one call", got)
	}
	t.Logf("%d batches for %d calls, the largest of %d", len(got), n*rounds, slices.Max(got))
}

// TestBatchCallerGoesAway: callers of one batch hang up, before their fn
// starts or while it runs (one in a long write that the driver would
// interrupt if it ran under that caller's context). They fail with
// context.Canceled and their writes are gone; the other calls of the
// batch, before and after them, are committed.
func TestBatchCallerGoesAway(t *testing.T) {
	s, sizes := openSQLite(t)
	ctx := context.Background()
	goneBefore, cancelBefore := context.WithCancel(ctx)
	goneDuring, cancelDuring := context.WithCancel(ctx)
	goneInWrite, cancelInWrite := context.WithCancel(ctx)
	failsGone, cancelFailsGone := context.WithCancel(ctx)
	errFn := errors.New("fn's own error")
	var ranBefore atomic.Bool
	var errAfterGone, errLongWrite error
	fns := []struct {
		ctx  context.Context
		fn   func(sqlstore.Tx) error
		want error // nil, or an error the result must match
	}{
		{ctx, func(tx sqlstore.Tx) error { return insertRow(tx, 0, 1) }, nil},
		{goneDuring, func(tx sqlstore.Tx) error {
			if err := insertRow(tx, 1, 1); err != nil {
				return err
			}
			cancelDuring()
			time.Sleep(20 * time.Millisecond) // let database/sql and the driver see it
			// The caller's context is done, the batch's is not.
			_, errAfterGone = tx.ExecContext(goneDuring, `INSERT INTO batch_rows (id, run) VALUES (101, 1)`)
			return errAfterGone
		}, context.Canceled},
		{ctx, func(tx sqlstore.Tx) error { return insertRow(tx, 2, 1) }, nil},
		{goneBefore, func(tx sqlstore.Tx) error {
			ranBefore.Store(true)
			return insertRow(tx, 3, 1)
		}, context.Canceled},
		{ctx, func(tx sqlstore.Tx) error { return insertRow(tx, 4, 1) }, nil},
		{goneInWrite, func(tx sqlstore.Tx) error {
			if err := insertRow(tx, 5, 1); err != nil {
				return err
			}
			// A write long enough to be cancelled midway: SQLite
			// rolls back the whole transaction of an interrupted write.
			stop := time.AfterFunc(5*time.Millisecond, cancelInWrite)
			defer stop.Stop()
			res, err := tx.ExecContext(goneInWrite, `INSERT INTO batch_rows (id, run)
				WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000)
				SELECT 1000 + x, 1 FROM n`)
			if errLongWrite = err; err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 100000 {
				return fmt.Errorf("long write: %d rows, %v", n, err)
			}
			if goneInWrite.Err() == nil {
				return errors.New("the long write ended before the caller went away: make it longer")
			}
			return nil
		}, context.Canceled},
		{failsGone, func(tx sqlstore.Tx) error {
			if err := insertRow(tx, 6, 1); err != nil {
				return err
			}
			cancelFailsGone()
			return errFn
		}, context.Canceled},
		{ctx, func(tx sqlstore.Tx) error { return insertRow(tx, 7, 1) }, nil},
	}
	errs := make([]error, len(fns))
	runs := make([]atomic.Int32, len(fns))
	release := hold(t, s)
	cancelBefore()
	wait := queue(t, s, len(fns), func(i int) {
		errs[i] = s.Transact(fns[i].ctx, func(tx sqlstore.Tx) error {
			runs[i].Add(1)
			return fns[i].fn(tx)
		})
	})
	release()
	wait()
	// The batch was not disturbed: no call ran twice (as every call of a
	// batch that fails does), and the statements under a caller's context
	// that was done ran (under the batch's).
	for i := range fns {
		if n := runs[i].Load(); n > 1 {
			t.Errorf("call %d ran %d times, want once", i, n)
		}
	}
	if errAfterGone != nil || errLongWrite != nil {
		t.Errorf("statements under the context of a caller gone: %v, %v; want them run", errAfterGone, errLongWrite)
	}
	if got := sizes.get(); !slices.Contains(got, len(fns)) {
		t.Errorf("batch sizes %v, want one of %d", got, len(fns))
	}
	stored := rows(t, s)
	for i, f := range fns {
		_, ok := stored[i]
		switch {
		case f.want == nil && (errs[i] != nil || !ok):
			t.Errorf("call %d: %v, row stored %v; want success", i, errs[i], ok)
		case f.want != nil && (!errors.Is(errs[i], f.want) || errors.Is(errs[i], store.ErrUnavailable) || ok):
			t.Errorf("call %d: %v, row stored %v; want %v and no row", i, errs[i], ok, f.want)
		}
	}
	if ranBefore.Load() {
		t.Error("the fn of a caller gone before its batch ran")
	}
	if len(stored) != 4 {
		t.Errorf("%d rows stored, want the 4 of the calls that stayed", len(stored))
	}
}

// TestBatchCommitFails: when the commit of a batch fails, every call of
// the batch runs again in a transaction of its own; a commit that fails
// once is cured by that, a commit that keeps failing fails every call,
// and no write of a failed commit is stored.
func TestBatchCommitFails(t *testing.T) {
	errCommit := errors.New("the commit fails")
	for _, c := range []struct {
		name      string
		failures  int
		err       error
		wantRuns  int32
		wantError bool
	}{
		{"OnceRetryable", 1, serializationFailure{}, 2, false},
		{"OnceNotRetryable", 1, errCommit, 2, false},
		{"Always", 1000, errCommit, 2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, sizes := openSQLite(t)
			sqlstore.FailCommits(s, c.failures, c.err)
			const n = 10
			runs := make([]atomic.Int32, n)
			errs := make([]error, n)
			release := hold(t, s)
			wait := queue(t, s, n, func(i int) {
				errs[i] = s.Transact(t.Context(), func(tx sqlstore.Tx) error {
					return insertRow(tx, i, int(runs[i].Add(1)))
				})
			})
			release()
			wait()
			if got := sizes.get(); !slices.Contains(got, n) {
				t.Errorf("batch sizes %v, want one of %d", got, n)
			}
			sqlstore.FailCommits(s, 0, nil)
			stored := rows(t, s)
			for i := range n {
				run, ok := stored[i]
				if r := runs[i].Load(); r != c.wantRuns {
					t.Errorf("call %d: %d runs, want %d", i, r, c.wantRuns)
				}
				switch {
				case c.wantError && (!errors.Is(errs[i], errCommit) || ok):
					t.Errorf("call %d: %v, row stored %v; want the commit's error and no row", i, errs[i], ok)
				case !c.wantError && (errs[i] != nil || !ok || run != 2):
					t.Errorf("call %d: %v, row of run %d stored %v; want success and the second run's row", i, errs[i], run, ok)
				}
			}
		})
	}
}

// TestBatchRedeemsACodeOnce: calls redeeming one code in one batch see
// each other's writes: one gets tokens, all others find the code used
// (and revoke what it issued), and issue runs once.
func TestBatchRedeemsACodeOnce(t *testing.T) {
	s, sizes := openSQLite(t)
	ctx := t.Context()
	c, u, now := setUp(t, s)
	hash := mkCode(t, s, c, u, now)
	const n = 30
	var issued atomic.Int32
	issues := make([]store.Issue, n)
	errs := make([]error, n)
	release := hold(t, s)
	wait := queue(t, s, n, func(i int) {
		issues[i], errs[i] = s.RedeemAuthCode(ctx, store.Presented{Hash: hash, ClientID: c.ID}, now,
			func(store.AuthCode) (store.Issue, error) {
				issued.Add(1)
				return store.Issue{Tokens: []store.Token{token(store.RefreshToken, i, now)}}, nil
			})
	})
	release()
	wait()
	if got := sizes.get(); !slices.Contains(got, n) {
		t.Errorf("batch sizes %v, want one of %d", got, n)
	}
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("calls %d and %d both redeemed the code", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrCodeReused):
			t.Errorf("call %d: %v, want success or ErrCodeReused", i, err)
		}
	}
	if winner != 0 {
		t.Fatalf("call %d redeemed the code, want the first of the batch", winner)
	}
	if n := issued.Load(); n != 1 {
		t.Errorf("issue ran %d times, want 1", n)
	}
	_, fam := must2(s.GetToken(ctx, issues[winner].Tokens[0].Hash))(t)
	if !fam.Revoked() {
		t.Error("the family is not revoked although the code was presented again")
	}
}

// TestBatchPreparesItsStatements: the statements first seen in a batch
// are prepared on the write connection after it.
func TestBatchPreparesItsStatements(t *testing.T) {
	s, sizes := openSQLite(t)
	const n = 5
	query := func(i int) string { return fmt.Sprintf(`INSERT INTO batch_rows (id, run) VALUES ($1, %d)`, i) }
	release := hold(t, s)
	wait := queue(t, s, n, func(i int) {
		if err := s.Transact(t.Context(), func(tx sqlstore.Tx) error {
			_, err := tx.ExecContext(t.Context(), query(i), i)
			return err
		}); err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	})
	release()
	wait()
	if got := sizes.get(); !slices.Contains(got, n) {
		t.Errorf("batch sizes %v, want one of %d", got, n)
	}
	for i := range n {
		if !sqlstore.PreparedForWrites(s, query(i)) {
			t.Errorf("statement of call %d not prepared", i)
		}
	}
	if got := len(rows(t, s)); got != n {
		t.Errorf("%d rows, want %d", got, n)
	}
}

// TestBatchTimeout: a batch that outlasts the per-call timeout fails
// every call of it with unavailability, writes nothing and leaves the
// store working.
func TestBatchTimeout(t *testing.T) {
	s, _ := openSQLite(t)
	s.SetTimeout(300 * time.Millisecond)
	const n = 4
	errs := make([]error, n)
	release := hold(t, s)
	wait := queue(t, s, n, func(i int) {
		errs[i] = s.Transact(context.Background(), func(tx sqlstore.Tx) error {
			if err := insertRow(tx, i, 1); err != nil {
				return err
			}
			if i == 1 {
				time.Sleep(500 * time.Millisecond)
			}
			return nil
		})
	})
	release()
	wait()
	for i, err := range errs {
		if !errors.Is(sqlstoreWrap(err), store.ErrUnavailable) {
			t.Errorf("call %d: %v, want unavailability", i, err)
		}
	}
	if got := rows(t, s); len(got) != 0 {
		t.Errorf("rows %v stored, want none", got)
	}
	if err := s.Transact(context.Background(), func(tx sqlstore.Tx) error { return insertRow(tx, 9, 1) }); err != nil {
		t.Errorf("a later call: %v", err)
	}
}

// TestBatchCommitRefused: SQLite refuses the commit of a batch (a deferred
// foreign key of one call's write dangles): every call runs again on its
// own, the one with the dangling reference fails, the others succeed, and
// the write connection is usable afterwards.
func TestBatchCommitRefused(t *testing.T) {
	s, sizes := openSQLite(t)
	ctx := context.Background()
	if err := s.Transact(ctx, func(tx sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE batch_refs (id INTEGER PRIMARY KEY,
			row_id INTEGER NOT NULL REFERENCES batch_rows (id) DEFERRABLE INITIALLY DEFERRED)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const n, dangling = 6, 3
	runs := make([]atomic.Int32, n)
	errs := make([]error, n)
	release := hold(t, s)
	wait := queue(t, s, n, func(i int) {
		errs[i] = s.Transact(ctx, func(tx sqlstore.Tx) error {
			runs[i].Add(1)
			ref := i
			if i == dangling {
				ref = 1000 // no such row
			} else if err := insertRow(tx, i, 1); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO batch_refs (id, row_id) VALUES ($1, $2)`, i, ref)
			return err
		})
	})
	release()
	wait()
	if got := sizes.get(); !slices.Contains(got, n) {
		t.Errorf("batch sizes %v, want one of %d", got, n)
	}
	stored := rows(t, s)
	for i := range n {
		_, ok := stored[i]
		if r := runs[i].Load(); r != 2 {
			t.Errorf("call %d ran %d times, want 2", i, r)
		}
		switch {
		case i == dangling && (!errors.Is(sqlstoreWrap(errs[i]), store.ErrNotFound) || ok):
			t.Errorf("call %d (dangling): %v, row stored %v; want a foreign key violation", i, errs[i], ok)
		case i != dangling && (errs[i] != nil || !ok):
			t.Errorf("call %d: %v, row stored %v; want success", i, errs[i], ok)
		}
	}
	if err := s.Transact(ctx, func(tx sqlstore.Tx) error { return insertRow(tx, 99, 1) }); err != nil {
		t.Errorf("a later call: %v", err)
	}
	if _, ok := rows(t, s)[99]; !ok {
		t.Error("the later call's row is missing")
	}
}

// The writer goroutine runs only while transactions queue: after a burst
// of concurrent calls, none is left running.
func TestBatchWriterEndsWhenIdle(t *testing.T) {
	s, sizes := openSQLite(t)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if err := s.Transact(t.Context(), func(tx sqlstore.Tx) error { return insertRow(tx, i, 1) }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(rows(t, s)); got != 40 {
		t.Fatalf("%d rows, want 40", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sqlstore.Writing(s) {
		if time.Now().After(deadline) {
			t.Fatalf("a writer still runs 10 s after the last call returned (batches %v)", sizes.get())
		}
		time.Sleep(time.Millisecond)
	}
}

// A panic of the batch's own machinery (here the test hook that learns
// the batch's size), not of an fn, is raised again in the batch's first
// caller; the others run on their own and commit, and the writer goes on.
func TestBatchPanicOutsideAnFnReachesTheFirstCaller(t *testing.T) {
	s, _ := openSQLite(t)
	const n = 3
	sqlstore.OnBatch(s, func(size int) {
		if size == n {
			panic("the batch's machinery")
		}
	})
	release := hold(t, s)
	panics := make([]any, n)
	errs := make([]error, n)
	wait := queue(t, s, n, func(i int) {
		defer func() { panics[i] = recover() }()
		errs[i] = s.Transact(t.Context(), func(tx sqlstore.Tx) error { return insertRow(tx, i, 1) })
	})
	release()
	wait()
	if panics[0] != "the batch's machinery" {
		t.Errorf("first caller: panic %v, want the batch's", panics[0])
	}
	for i := 1; i < n; i++ {
		if panics[i] != nil || errs[i] != nil {
			t.Errorf("call %d: panic %v, error %v; want it to run on its own", i, panics[i], errs[i])
		}
	}
	got := rows(t, s)
	if _, ok := got[0]; ok || len(got) != n-1 {
		t.Errorf("rows %v, want those of calls 1 and 2", got)
	}
	if err := s.Transact(t.Context(), func(tx sqlstore.Tx) error { return insertRow(tx, 9, 1) }); err != nil {
		t.Errorf("a call after the panic: %v", err)
	}
}
