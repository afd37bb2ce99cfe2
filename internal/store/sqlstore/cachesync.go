package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// logBatch is how many rows of the SQLite invalidation log one query
// reads.
const logBatch = 1000

// pullLog applies the rows of SQLite's invalidation log that this process
// has not applied yet. It allows concurrent pulls (the syncer runs one at
// a time): each reads from the last row applied when it started, and
// applies, under logMu, the rows past the last one applied by then. The first pull starts at the
// log's end (the cache is empty then). The cache is emptied on a gap
// before the first new row (the log keeps its newest 10000 rows) and when
// the schema changed (another process migrated, or an administrator
// altered a table): the same query reads the schema's version.
//
// Before the log, a pull takes a reading of the database's version (see
// versionWatch): when no connection has committed since a pull that
// completed, the log has no new row and the pull ends there.
func (s *Store) pullLog(ctx context.Context) error {
	version, err := s.version.read(ctx, s.read)
	if err != nil {
		return err
	}
	if s.version.applied(version) {
		return nil
	}
	if err := s.readLogFrom(ctx); err != nil {
		return err
	}
	s.version.done(version)
	return nil
}

// readLogFrom applies the log rows past the last one applied.
func (s *Store) readLogFrom(ctx context.Context) error {
	s.logMu.Lock()
	from := s.logSeq
	if from < 0 {
		defer s.logMu.Unlock()
		var last int64
		if err := s.readRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM cache_invalidations`).Scan(&last); err != nil {
			return err
		}
		s.cache.flush()
		s.logSeq = last
		return nil
	}
	s.logMu.Unlock()
	for {
		version, got, err := s.readLog(ctx, from)
		if err != nil {
			return err
		}
		s.logMu.Lock()
		if version != s.logSchema {
			s.cache.flush()
			s.logSchema = version
		}
		for _, r := range got {
			if r.seq <= s.logSeq {
				continue // applied by a concurrent pull
			}
			t, ok := parseTag(r.tag)
			if r.seq != s.logSeq+1 || !ok {
				s.cache.flush() // rows this process never saw, or a tag it cannot read
			} else {
				s.cache.apply(t)
			}
			s.logSeq = r.seq
		}
		s.logMu.Unlock()
		if len(got) < logBatch {
			return nil
		}
		from = got[len(got)-1].seq
	}
}

// versionWatch tells a pull whether the SQLite database changed since an
// earlier pull. It holds a connection of its own, and reads either that
// connection's data_version or, when walIndex is set, the header of the
// database's WAL index (the -shm file: https://sqlite.org/walformat.html).
//
// Two data_version readings on one connection differ if and only if
// another connection (of any process, the write connection of this one
// included) committed in between. The WAL index header changes with every
// commit too: a commit appends frames to the log and then publishes the
// new end of the log in the header, which is what makes it visible to
// readers; a restart of the log changes the header's salt. The header is
// read with one pread (a PRAGMA costs a statement, which at tens of
// thousands of pulls a second was a sixth of a read's CPU); its two copies
// must agree (SQLite writes the second, then the first), or the reading is
// unknown and the pull reads the log. The file stays the one SQLite uses
// while the watch's connection is open: SQLite deletes or truncates it
// only for a connection that finds no other connection of any process on
// the database.
//
// A reading equal to the one a completed log read began after proves the
// log unchanged since that read began.
type versionWatch struct {
	mu       sync.Mutex
	walIndex string    // the -shm file's path; "": use data_version
	conn     *sql.Conn // nil until the first reading, and after a failed one
	stmt     *sql.Stmt // PRAGMA data_version, prepared on conn
	shm      *os.File  // walIndex, opened after conn's first reading
	conns    int       // connections taken so far: data_version counts per connection
	last     string    // the reading after which the newest completed log read began
}

// walHeader is the size of one copy of the WAL index header.
const walHeader = 48

// read takes a reading; "" is an unknown reading, which equals none.
func (w *versionWatch) read(ctx context.Context, pool *sql.DB) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		c, err := pool.Conn(ctx)
		if err != nil {
			return "", err
		}
		stmt, err := c.PrepareContext(ctx, `PRAGMA data_version`)
		if err != nil {
			c.Close()
			return "", err
		}
		w.conn, w.stmt = c, stmt
		w.conns++
		if w.walIndex != "" {
			// The connection opens the log (and maps the index) at its
			// first read, before the file is opened here.
			if _, err := w.pragma(ctx); err != nil {
				return "", err
			}
			if w.shm, err = os.Open(w.walIndex); err != nil {
				w.drop()
				return "", err
			}
		}
	}
	if w.shm == nil {
		return w.pragma(ctx)
	}
	var b [2 * walHeader]byte
	n, err := w.shm.ReadAt(b[:], 0)
	if n < len(b) || string(b[:walHeader]) != string(b[walHeader:]) || b[12] == 0 { // b[12]: isInit
		if err != nil && !errors.Is(err, io.EOF) {
			w.drop()
			return "", err
		}
		return "", nil
	}
	return "h" + string(b[:walHeader]), nil
}

// pragma reads data_version; w.mu is held.
func (w *versionWatch) pragma(ctx context.Context) (string, error) {
	var v int64
	if err := w.stmt.QueryRowContext(ctx).Scan(&v); err != nil {
		w.drop()
		return "", err
	}
	// Numbered by connection: each connection counts from its own start,
	// so readings of two connections never compare equal.
	return "v" + strconv.Itoa(w.conns) + ":" + strconv.FormatInt(v, 10), nil
}

// drop closes the watch's connection and file; w.mu is held.
func (w *versionWatch) drop() {
	if w.shm != nil {
		w.shm.Close()
	}
	w.stmt.Close()
	w.conn.Close()
	w.conn, w.stmt, w.shm = nil, nil, nil
}

// applied reports whether a log read that began after reading v completed.
func (w *versionWatch) applied(v string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return v != "" && w.last == v
}

// done records that a log read that began after reading v completed.
func (w *versionWatch) done(v string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v != "" {
		w.last = v
	}
}

// close releases the watch's connection.
func (w *versionWatch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn != nil {
		w.drop()
	}
}

type logRow struct {
	seq int64
	tag string
}

// readLog reads the schema's version and up to logBatch log rows after
// seq from, in order.
func (s *Store) readLog(ctx context.Context, from int64) (string, []logRow, error) {
	rows, err := s.readRows(ctx, `SELECT -1, CAST(schema_version AS TEXT) FROM pragma_schema_version()
		UNION ALL SELECT seq, tag FROM (SELECT seq, tag FROM cache_invalidations
			WHERE seq > $1 ORDER BY seq LIMIT CAST($2 AS INTEGER))`, from, logBatch)
	if err != nil {
		return "", nil, err
	}
	var version string
	var got []logRow
	for rows.Next() {
		var r logRow
		if err := rows.Scan(&r.seq, &r.tag); err != nil {
			rows.Close()
			return "", nil, err
		}
		if r.seq == -1 {
			version = r.tag
		} else {
			got = append(got, r)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return "", nil, err
	}
	slices.SortFunc(got, func(a, b logRow) int { return cmp.Compare(a.seq, b.seq) })
	return version, got, nil
}

// pullXids is pullLog on PostgreSQL, where transaction IDs are not taken
// in commit order: a transaction may begin before another and commit
// after it was read. Each pull takes the current snapshot (xmax: the
// first transaction ID not yet assigned; xip: the ones in progress) and
// reads the rows of two kinds of transaction: those at or after the
// previous pull's xmax (begun since), and those in progress at the
// previous pull. Every other transaction before the previous xmax had
// ended at the previous pull, whose snapshot saw its rows, or at the pull
// before it, and so on. A long transaction thus costs one index lookup per
// pull, not a read of every row since it began. A pull skips the rows it
// applied already (a transaction logs a tag once). The first pull, and the
// first after a pause of pgPullGap (the cleaner may have pruned rows
// since), start at the current snapshot with an empty cache.
func (s *Store) pullXids(ctx context.Context) error {
	s.logMu.Lock()
	if time.Since(s.pgPulled) > pgPullGap {
		s.pgSnap = pgSnapshot{}
	}
	prev := s.pgSnap
	s.logMu.Unlock()
	if prev.xmax == 0 {
		var text string
		if err := s.readRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&text); err != nil {
			return err
		}
		snap, err := parseSnapshot(text)
		if err != nil {
			return err
		}
		s.logMu.Lock()
		defer s.logMu.Unlock()
		s.cache.flush()
		s.pgApplied, s.pgSnap, s.pgPulled = map[string]uint64{}, snap, time.Now()
		return nil
	}
	// The rows from the previous xmax come in batches of pgBatch in the
	// index's order, each batch after the last row of the one before,
	// until a batch is short or more than maxUnsettled rows came. With a
	// small LIMIT over the index's order PostgreSQL reads the index
	// whatever it estimates; with one LIMIT of maxUnsettled it estimated a
	// quarter of the log and scanned all of it on every pull (2 ms over
	// 27 000 rows, which cut the reads after a write load to a fifth of
	// their rate).
	var got []xidRow
	text := ""
	for first := true; ; first = false {
		var batch []xidRow
		var err error
		if first {
			batch, err = s.readXidRows(ctx, &text, pgPullFirst, xidText(prev.xmax), pgBatch)
		} else {
			last := got[len(got)-1]
			batch, err = s.readXidRows(ctx, nil, pgPullNext, xidText(last.xid), last.tag, pgBatch)
		}
		if err != nil {
			return err
		}
		got = append(got, batch...)
		if len(batch) < pgBatch || len(got) > maxUnsettled {
			break
		}
	}
	if text == "" {
		return errors.New("sqlstore: the invalidation log query returned no snapshot")
	}
	snap, err := parseSnapshot(text)
	if err != nil {
		return err
	}
	if len(prev.xip) > 0 && len(got) <= maxUnsettled {
		ids := make([]string, len(prev.xip))
		for i, x := range prev.xip {
			ids[i] = xidText(x)
		}
		late, err := s.readXidRows(ctx, nil, pgPullLate, "{"+strings.Join(ids, ",")+"}")
		if err != nil {
			return err
		}
		got = append(got, late...)
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if len(got) > maxUnsettled {
		// More rows than a pull reads: start afresh from this snapshot.
		s.cache.flush()
		s.pgApplied = map[string]uint64{}
	}
	for _, r := range got {
		key := strconv.FormatUint(r.xid, 10) + " " + r.tag
		if _, ok := s.pgApplied[key]; ok {
			continue
		}
		if t, ok := parseTag(r.tag); ok {
			s.cache.apply(t)
		} else {
			s.cache.flush()
		}
		s.pgApplied[key] = r.xid
	}
	// Only the rows of transactions at or after the new xmax, or in
	// progress now, are read again.
	for key, x := range s.pgApplied {
		if x < snap.xmax && !slices.Contains(snap.xip, x) {
			delete(s.pgApplied, key)
		}
	}
	s.pgSnap, s.pgPulled = snap, time.Now()
	return nil
}

// pgSnapshot is what a pull keeps of its PostgreSQL snapshot: xmax, the
// first transaction ID not yet assigned (0: no pull yet), and xip, the
// IDs of the transactions then in progress.
type pgSnapshot struct {
	xmax uint64
	xip  []uint64
}

// xidText formats a transaction ID as the queries take it.
func xidText(x uint64) string { return strconv.FormatUint(x, 10) }

// xidRow is a row of PostgreSQL's invalidation log.
type xidRow struct {
	tag string
	xid uint64
}

// readXidRows runs query, whose rows are (tag, xid as text), and returns
// them. A row with the empty tag carries the snapshot (as text) instead of
// an xid; snap receives it, and such rows are not returned.
func (s *Store) readXidRows(ctx context.Context, snap *string, query string, args ...any) ([]xidRow, error) {
	rows, err := s.readRows(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var got []xidRow
	for rows.Next() {
		var tag, xid string
		if err := rows.Scan(&tag, &xid); err != nil {
			rows.Close()
			return nil, err
		}
		if tag == "" && snap != nil {
			*snap = xid
			continue
		}
		x, perr := strconv.ParseUint(xid, 10, 64)
		if perr != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: transaction ID %q: %w", xid, perr)
		}
		got = append(got, xidRow{tag, x})
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	return got, nil
}

// parseSnapshot reads a PostgreSQL snapshot as text,
// "xmin:xmax:xip,xip,...".
func parseSnapshot(text string) (pgSnapshot, error) {
	bad := func(err error) (pgSnapshot, error) {
		return pgSnapshot{}, fmt.Errorf("sqlstore: snapshot %q: %w", text, err)
	}
	parts := strings.Split(text, ":")
	if len(parts) != 3 {
		return bad(errors.New("not xmin:xmax:xip"))
	}
	var snap pgSnapshot
	var err error
	if snap.xmax, err = strconv.ParseUint(parts[1], 10, 64); err != nil {
		return bad(err)
	}
	if snap.xmax == 0 { // PostgreSQL assigns IDs from 3
		return bad(errors.New("xmax 0"))
	}
	if parts[2] != "" {
		for _, f := range strings.Split(parts[2], ",") {
			x, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return bad(err)
			}
			snap.xip = append(snap.xip, x)
		}
	}
	return snap, nil
}

// pgPullGap is the longest pause between two pulls after which a node
// starts afresh; the cleaner keeps every row for pgLogKeep after its
// commit, well beyond it.
const (
	pgPullGap = time.Minute
	pgLogKeep = 10 * time.Minute
)

// The queries of a pull on PostgreSQL: the current snapshot and the first
// batch of rows at or after the previous xmax ($1, a transaction ID as
// text; $2 rows at most); each further batch after the last row of the one
// before ($1 its xid, $2 its tag, $3 rows at most); the rows of the
// transactions in progress at the previous pull ($1, their IDs as a text
// array).
const (
	pgPullFirst = `(SELECT '' AS tag, pg_current_snapshot()::text AS xid)
		UNION ALL (SELECT c.tag, c.xid::text FROM cache_invalidations c
			WHERE c.xid >= $1::text::xid8 ORDER BY c.xid, c.tag LIMIT CAST($2 AS INTEGER))`
	pgPullNext = `SELECT c.tag, c.xid::text FROM cache_invalidations c
		WHERE (c.xid, c.tag) > ($1::text::xid8, $2) ORDER BY c.xid, c.tag LIMIT CAST($3 AS INTEGER)`
	pgPullLate = `SELECT c.tag, c.xid::text FROM cache_invalidations c
		WHERE c.xid = ANY($1::text::xid8[])`
)

// maxUnsettled bounds the unsettled rows one pull reads; beyond it the
// cache starts afresh. pgBatch is how many one query reads.
const (
	maxUnsettled = 10000
	pgBatch      = 256
)
