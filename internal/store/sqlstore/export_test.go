package sqlstore

// FailCommits makes the next n commits of s fail with err, as a commit that
// met a serialization failure would. It is for the tests of package
// sqlstore_test, which open real stores through the sqlite and postgres
// packages.
func FailCommits(s *Store, n int, err error) {
	s.beforeCommit = func() error {
		if n == 0 {
			return nil
		}
		n--
		return err
	}
}

// Committed is committed for the tests of package sqlstore_test: a
// transaction function that returns it commits and Transact returns err.
func Committed(err error) error { return committed(err) }

// Queued reports how many transactions wait in s's queue for a batch.
func Queued(s *Store) int {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return len(s.batch.queue)
}

// Writing reports whether a writer goroutine serves s's queue.
func Writing(s *Store) bool {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return s.batch.writing
}

// OnBatch makes s call f with the size of every batch it takes. Set it
// before s is used.
func OnBatch(s *Store, f func(size int)) { s.batchTaken = f }

// PreparedForWrites reports whether query has a prepared statement on the
// write connection.
func PreparedForWrites(s *Store, query string) bool {
	s.wstmts.mu.Lock()
	defer s.wstmts.mu.Unlock()
	_, ok := s.wstmts.stmts[query]
	return ok
}

// Wrap is wrap, which classifies driver errors as the store's methods do.
func Wrap(op string, err error) error { return wrap(op, err) }

// The queries of a pull on PostgreSQL and the rows one of them reads, for
// the tests of package sqlstore_test that check their plans.
const (
	PGPullFirst = pgPullFirst
	PGPullNext  = pgPullNext
	PGPullLate  = pgPullLate
	PGBatch     = pgBatch
)

// GrantsAtOnce reports how many grants s wrote by one statement.
func GrantsAtOnce(s *Store) uint64 { return s.atOnce.Load() }

// CleanupQueries returns the statements of DeleteExpired's steps in d,
// by what each deletes, for the tests that check their plans.
func CleanupQueries(d Dialect) map[string]string {
	qs := map[string]string{}
	for _, step := range cleanupSteps {
		qs[step.what] = step.query(d)
	}
	return qs
}
