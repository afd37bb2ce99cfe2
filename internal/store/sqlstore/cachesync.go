package sqlstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// logBatch is how many rows of the SQLite invalidation log one query
// reads.
const logBatch = 1000

// pullLog applies the rows of SQLite's invalidation log that this process
// has not applied yet. Pulls may run concurrently (see syncer): each reads
// from the last row applied when it started, and applies, under logMu,
// the rows past the last one applied by then. The first pull starts at the
// log's end (the cache is empty then). The cache is emptied on a gap
// before the first new row (the log keeps its newest 10000 rows) and when
// the schema changed (another process migrated, or an administrator
// altered a table): the same query reads the schema's version.
func (s *Store) pullLog(ctx context.Context) error {
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

// NotifyConn is one dedicated database connection that receives
// PostgreSQL notifications (the postgres package makes it from pgx).
type NotifyConn interface {
	// Listen subscribes to channel.
	Listen(ctx context.Context, channel string) error
	// Wait blocks until a notification arrives on a subscribed channel.
	Wait(ctx context.Context) (channel, payload string, err error)
	Close() error
}

// cacheChannel is the channel of the PostgreSQL triggers (migration 0018).
const cacheChannel = "latchkey_cache"

// listener keeps one node's PostgreSQL notification stream: it applies
// the triggers' invalidations to the cache and echoes the node's own
// pings, by which readCache.fresh learns that every notification committed
// before the ping has arrived.
type listener struct {
	s       *Store
	connect func(context.Context) (NotifyConn, error)
	channel string // this node's own ping channel

	mu     sync.Mutex
	up     bool
	stale  bool // a ping went unanswered: no reads from the cache until one is answered
	sent   uint64
	echoed uint64
	echo   chan struct{} // closed and replaced at each echo

	stop context.CancelFunc
	done chan struct{}
}

// errStreamDown fails a pull while the notification stream is down.
var errStreamDown = errors.New("sqlstore: the invalidation stream is down")

// Listen turns the read cache on for a PostgreSQL store: connect opens a
// dedicated connection (not through a transaction pooler: LISTEN needs a
// session), and entries counts the cache's size (0 leaves it off). The
// stream reconnects by itself; while it is down every read goes to the
// database. Close stops it.
func (s *Store) Listen(entries int, connect func(context.Context) (NotifyConn, error)) {
	if s.dialect != Postgres || entries <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{s: s, connect: connect, channel: "latchkey_ping_" + randomHex(8),
		echo: make(chan struct{}), stop: cancel, done: make(chan struct{})}
	s.cache = newReadCache(entries, l.ping)
	s.listener = l
	go l.run(ctx)
}

// ping sends a notification on the node's own channel and waits until
// the stream delivers it.
func (l *listener) ping(ctx context.Context) error {
	l.mu.Lock()
	if !l.up || l.stale {
		l.mu.Unlock()
		return errStreamDown
	}
	l.mu.Unlock()
	err := l.roundTrip(ctx)
	if err != nil {
		l.mu.Lock()
		l.stale = true
		l.mu.Unlock()
	}
	return err
}

// roundTrip sends one ping and waits for it.
func (l *listener) roundTrip(ctx context.Context) error {
	l.mu.Lock()
	l.sent++
	n := l.sent
	l.mu.Unlock()
	if _, err := l.s.write.ExecContext(ctx, `SELECT pg_notify($1, $2)`, l.channel, strconv.FormatUint(n, 10)); err != nil {
		return fmt.Errorf("sqlstore: ping the invalidation stream: %w", err)
	}
	for {
		l.mu.Lock()
		if l.echoed >= n {
			l.mu.Unlock()
			return nil
		}
		ch := l.echo
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sqlstore: wait for the invalidation stream: %w", ctx.Err())
		}
	}
}

func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	pause := 50 * time.Millisecond
	for ctx.Err() == nil {
		if err := l.session(ctx); err != nil && ctx.Err() == nil {
			if sleep(ctx, pause) != nil {
				return
			}
			pause = min(2*pause, 2*time.Second)
			continue
		}
		pause = 50 * time.Millisecond
	}
}

// session listens on one connection until it fails. The cache is emptied
// once both channels are subscribed (whatever was sent while no session
// listened is lost) and again when the session ends.
func (l *listener) session(ctx context.Context) error {
	conn, err := l.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, ch := range []string{cacheChannel, l.channel} {
		if err := conn.Listen(ctx, ch); err != nil {
			return err
		}
	}
	l.s.cache.flush()
	l.setUp(true)
	defer func() {
		l.setUp(false)
		l.s.cache.flush()
	}()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go l.revive(sctx)
	for {
		channel, payload, err := conn.Wait(ctx)
		if err != nil {
			return err
		}
		if channel == l.channel {
			n, perr := strconv.ParseUint(payload, 10, 64)
			if perr == nil {
				l.echoTo(n)
			}
			continue
		}
		if t, ok := parseTag(payload); ok {
			l.s.cache.apply(t)
		} else {
			l.s.cache.flush()
		}
	}
}

// revive pings once a second while the stream is stale (say a pooler in
// transaction mode that never delivers), so that the cache comes back
// when the stream does without making readers wait for pings in vain.
func (l *listener) revive(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		stale := l.stale
		l.mu.Unlock()
		if !stale {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		if l.roundTrip(pctx) == nil {
			l.mu.Lock()
			l.stale = false
			l.mu.Unlock()
		}
		cancel()
	}
}

func (l *listener) setUp(up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up, l.stale = up, false
}

func (l *listener) echoTo(n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n > l.echoed {
		l.echoed = n
		close(l.echo)
		l.echo = make(chan struct{})
	}
}

func (l *listener) close() {
	l.stop()
	<-l.done
}

// randomHex returns n random bytes in lower-case hex (a channel name must
// stay as it is when PostgreSQL folds an unquoted identifier).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
