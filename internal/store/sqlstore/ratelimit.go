package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// takeRate is TakeRate's statement: $1 the bucket, $2 now, $3 the
// interval, $4 the latest TAT allowed (now + burst), $5 the TAT of a new
// bucket (now + interval), all in Unix microseconds. The conflict branch
// updates only when the moved TAT stays within $4; otherwise the row is
// left alone and nothing is returned.
const takeRate = `INSERT INTO rate_limits (bucket, tat_us) VALUES ($1, $5)
	ON CONFLICT (bucket) DO UPDATE
	SET tat_us = (CASE WHEN rate_limits.tat_us > $2 THEN rate_limits.tat_us ELSE $2 END) + $3
	WHERE (CASE WHEN rate_limits.tat_us > $2 THEN rate_limits.tat_us ELSE $2 END) + $3 <= $4
	RETURNING tat_us`

// TakeRate implements store.Store in one statement (an UPSERT whose update
// is conditional), so concurrent calls on any number of nodes serialize on
// the bucket's row. A refused call reads the TAT afterwards for the
// caller's Retry-After; that read is advisory and may see a later TAT.
func (s *Store) TakeRate(ctx context.Context, bucket string, now time.Time, interval, burst time.Duration) (bool, time.Time, error) {
	if interval <= 0 || interval > burst {
		return false, time.Time{}, fmt.Errorf("sqlstore: take rate: interval %v must be positive and at most burst %v", interval, burst)
	}
	if badText([]any{bucket}) {
		return false, time.Time{}, errBadText
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	nowUS, step := now.UnixMicro(), interval.Microseconds()
	var tat int64
	err := retry(ctx, func() error {
		return s.write.QueryRowContext(ctx, takeRate, bucket, nowUS, step, nowUS+burst.Microseconds(), nowUS+step).Scan(&tat)
	})
	if err == nil {
		return true, time.UnixMicro(tat), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, time.Time{}, wrap("take rate", gone(ctx, err))
	}
	err = s.readRow(ctx, `SELECT tat_us FROM rate_limits WHERE bucket = $1`, bucket).Scan(&tat)
	if errors.Is(err, sql.ErrNoRows) { // deleted meanwhile: refused, retry at once
		return false, now, nil
	}
	if err != nil {
		return false, time.Time{}, wrap("take rate", err)
	}
	return false, time.UnixMicro(tat), nil
}
