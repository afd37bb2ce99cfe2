package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// millis encodes t as unix milliseconds; the zero time is 0.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis decodes unix milliseconds; 0 is the zero time.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// truncate returns t as it reads back from the database.
func truncate(t time.Time) time.Time { return fromMillis(millis(t)) }

// orTime returns t truncated, or now truncated if t is zero: the time the
// store writes for a row whose caller left it zero.
func orTime(t, now time.Time) time.Time {
	if t.IsZero() {
		return truncate(now)
	}
	return truncate(t)
}

// flag encodes a boolean as INTEGER 0 or 1.
func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// joinList encodes a list of space-free words (scopes, grant types).
func joinList(l []string) string { return strings.Join(l, " ") }

// splitList decodes joinList; the empty list is nil.
func splitList(s string) []string {
	l := strings.Fields(s)
	if len(l) == 0 {
		return nil
	}
	return l
}

// upperKey upper-cases a key as it is stored. Text the guard must refuse
// is returned as it is: strings.ToUpper would turn invalid UTF-8 into
// U+FFFD and so hide it from checkText.
func upperKey(s string) string {
	if isBadText(s) {
		return s
	}
	return strings.ToUpper(s)
}

// jsonList encodes a list whose items may hold any character (redirect
// URIs). An item the text guard must refuse is returned instead of the
// list: JSON would escape a NUL byte and replace invalid UTF-8, hiding
// them from checkText.
func jsonList(l []string) string {
	for _, item := range l {
		if isBadText(item) {
			return item
		}
	}
	if l == nil {
		l = []string{}
	}
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // a []string always marshals
	}
	return string(b)
}

// fromJSONList decodes jsonList; the empty list is nil.
func fromJSONList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode list %q: %w", s, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// oneRow turns the result of a statement that should have changed a row
// into sql.ErrNoRows when it changed none.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// jsonMap encodes a map of strings (a delivery's headers) as a JSON
// object. A key or value the text guard must refuse is returned instead
// of the object, as jsonList does.
func jsonMap(m map[string]string) string {
	for k, v := range m {
		if isBadText(k) {
			return k
		}
		if isBadText(v) {
			return v
		}
	}
	if m == nil {
		m = map[string]string{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // a map[string]string always marshals
	}
	return string(b)
}

// fromJSONMap decodes jsonMap; the empty map is nil.
func fromJSONMap(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode map %q: %w", s, err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// printable returns s with every NUL byte and every invalid UTF-8
// sequence replaced by U+FFFD: text that came from elsewhere (a remote
// server's answer), kept for display rather than refused.
func printable(s string) string {
	if !isBadText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
