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
