package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"math"

	"latchkey/internal/store"
)

// Lists are paged by keyset: each list query orders by its key, takes the
// key of the cursor as its lower (or, for a list newest first, upper)
// bound, and reads one row more than the page holds to learn whether
// another page follows. A cursor is the key of the last row of its page as
// a JSON array. Text keys are compared byte-wise (the "C" collation on
// PostgreSQL, as SQLite does by default).

// errBadCursor is returned for a cursor that no list of this store made.
var errBadCursor = errors.New("malformed page cursor")

// cursorOf encodes the ordering key of an item as a cursor.
func cursorOf(key ...any) store.Cursor {
	b, err := json.Marshal(key)
	if err != nil {
		panic(err) // strings and integers always marshal
	}
	return store.Cursor(b)
}

// readCursor decodes c into dest, one pointer per part of the key. The
// zero cursor leaves dest as it is: the caller sets dest to the key that
// comes before every row.
func readCursor(c store.Cursor, dest ...any) error {
	if c == "" {
		return nil
	}
	var parts []json.RawMessage
	if err := json.Unmarshal([]byte(c), &parts); err != nil || len(parts) != len(dest) {
		return errBadCursor
	}
	for i, part := range parts {
		if err := json.Unmarshal(part, dest[i]); err != nil {
			return errBadCursor
		}
	}
	return nil
}

// Keys that come before every row of a list newest first.
const (
	maxID     = math.MaxInt64
	maxMillis = math.MaxInt64
)

// extraScanner lets a scan function of an item read a row that has more
// columns after the item's: the ordering key of a list that the item does
// not hold.
type extraScanner struct {
	r     rowScanner
	extra []any
}

func (e extraScanner) Scan(dest ...any) error { return e.r.Scan(append(dest, e.extra...)...) }

// keyed is a scanned row with the ordering key of its list.
type keyed[T any] struct {
	item T
	key  store.Cursor
}

// listPage runs a list query on the read pool and cuts one page from its
// rows. The query's last argument must be the LIMIT, which listPage
// appends: one more than the page holds. scan reads a row and its key.
// Every LIMIT of the store is written LIMIT CAST($n AS INTEGER): SQLite
// plans a bare LIMIT $n with its bound value and so prepares the
// statement again whenever the parameter is bound, which on a listing
// cost more than the query itself (TestNoBareLimitParameter).
func listPage[T any](ctx context.Context, s *Store, op string, p store.Page, query string,
	scan func(rowScanner) (keyed[T], error), args ...any) ([]T, store.Cursor, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	size := p.Size()
	rows, err := s.readRows(ctx, query, append(args, size+1)...)
	if err != nil {
		return nil, "", wrap(op, err)
	}
	ks, err := collect(rows, scan)
	if err != nil {
		return nil, "", wrap(op, gone(ctx, err))
	}
	if len(ks) == 0 {
		return nil, "", nil
	}
	next := store.Cursor("")
	if len(ks) > size {
		ks, next = ks[:size], ks[size-1].key
	}
	items := make([]T, len(ks))
	for i, k := range ks {
		items[i] = k.item
	}
	return items, next, nil
}
