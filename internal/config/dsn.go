package config

import (
	"net/url"
	"slices"
	"strings"
)

// dsnMask replaces every credential of a DSN in logs and errors.
const dsnMask = "xxxxx"

// credentialKeys are the DSN parameters whose value is a credential, in
// either form pgx reads (URL query parameter or key=value): the password,
// the password of the client key, and the client key itself (pgx reads it
// inline with sslinline=true).
var credentialKeys = []string{"password", "sslpassword", "sslkey"}

func isCredentialKey(k string) bool {
	k = strings.ToLower(strings.TrimSpace(k))
	for _, c := range credentialKeys {
		if k == c {
			return true
		}
	}
	return strings.Contains(k, "password")
}

// RedactDSN returns dsn with every credential replaced by xxxxx: the
// password of a URL's userinfo, and the value of every credential
// parameter (password, sslpassword, sslkey, anything else named
// *password*) in a URL's query or a key=value string. It is the one
// function through which a DSN reaches a log or an error. Where the
// structure is ambiguous (a malformed key=value string) it masks more
// rather than less. A SQLite path without credentials comes back as it is.
func RedactDSN(dsn string) string {
	spans, ok := credentialSpans(dsn)
	if !ok {
		return dsnMask
	}
	var b strings.Builder
	last := 0
	for _, s := range spans {
		b.WriteString(dsn[last:s[0]])
		b.WriteString(dsnMask)
		last = s[1]
	}
	b.WriteString(dsn[last:])
	return b.String()
}

// RedactDSNIn returns text (an error message, say) with every credential
// of dsn, as written in dsn or percent-decoded, replaced by xxxxx, and dsn
// itself by RedactDSN(dsn).
func RedactDSNIn(text, dsn string) string {
	if dsn == "" {
		return text
	}
	text = strings.ReplaceAll(text, dsn, RedactDSN(dsn))
	spans, ok := credentialSpans(dsn)
	if !ok {
		return strings.ReplaceAll(text, dsn, dsnMask)
	}
	var forms []string
	for _, s := range spans {
		forms = append(forms, secretForms(dsn[s[0]:s[1]])...)
	}
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) }) // longest first
	for _, f := range forms {
		if f != "" {
			text = strings.ReplaceAll(text, f, dsnMask)
		}
	}
	return text
}

// secretForms returns the ways a credential written as raw in a DSN may
// be spelled elsewhere: as written, unquoted (key=value), percent-decoded,
// and each of those percent-encoded.
func secretForms(raw string) []string {
	plain := []string{raw, unquote(raw)}
	if dec, err := url.PathUnescape(raw); err == nil {
		plain = append(plain, dec)
	}
	if dec, err := url.QueryUnescape(raw); err == nil {
		plain = append(plain, dec)
	}
	forms := slices.Clone(plain)
	for _, p := range plain {
		forms = append(forms, url.QueryEscape(p), url.PathEscape(p))
	}
	return forms
}

// unquote reads a key=value value: quotes removed, backslash escapes undone.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		v = v[1 : len(v)-1]
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// credentialSpans returns the byte ranges of dsn that hold credentials,
// in order, or false if dsn cannot be read well enough to say.
func credentialSpans(dsn string) ([][2]int, bool) {
	if i := strings.Index(dsn, "://"); i >= 0 && isScheme(dsn[:i]) {
		return urlSpans(dsn, i+len("://")), true
	}
	if !strings.Contains(dsn, "=") {
		return nil, true // a file path: no parameters, no credentials
	}
	return keyValueSpans(dsn)
}

// isScheme reports whether s is a URI scheme (RFC 3986 §3.1: a letter,
// then letters, digits, '+', '-', '.'): a DSN is a URL only when it starts
// with one, so that a key=value DSN whose password holds "://" is still
// read as key=value (and its password masked).
func isScheme(s string) bool {
	if s == "" || !('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// urlSpans finds the userinfo password and the credential query values of
// a URL whose authority starts at start. The userinfo ends at the last
// '@' (a password may hold an unescaped '@' or '/'), so a query value
// with '@' may make it mask more than the password: never less.
func urlSpans(dsn string, start int) [][2]int {
	var spans [][2]int
	rest := start
	if at := strings.LastIndexByte(dsn[start:], '@'); at >= 0 {
		at += start
		if colon := strings.IndexByte(dsn[start:at], ':'); colon >= 0 {
			spans = append(spans, [2]int{start + colon + 1, at})
		}
		rest = at + 1
	}
	q := strings.IndexByte(dsn[rest:], '?')
	if q < 0 {
		return spans
	}
	pos := rest + q + 1
	for pos <= len(dsn) {
		end := strings.IndexAny(dsn[pos:], "&;#")
		if end < 0 {
			end = len(dsn) - pos
		}
		pair := dsn[pos : pos+end]
		if k, _, found := strings.Cut(pair, "="); found {
			if dk, err := url.QueryUnescape(k); err != nil || isCredentialKey(dk) {
				spans = append(spans, [2]int{pos + len(k) + 1, pos + end})
			}
		}
		pos += end + 1
	}
	return spans
}

// keyValueSpans reads a libpq key=value string (keys, optional spaces
// around '=', values bare or single-quoted with backslash escapes) and
// returns the spans of the credential values; false if it is malformed.
func keyValueSpans(dsn string) ([][2]int, bool) {
	var spans [][2]int
	i, n := 0, len(dsn)
	skip := func() {
		for i < n && strings.IndexByte(" \t\n\r\v\f", dsn[i]) >= 0 {
			i++
		}
	}
	for skip(); i < n; skip() {
		k := i
		for i < n && dsn[i] != '=' && strings.IndexByte(" \t\n\r\v\f", dsn[i]) < 0 {
			i++
		}
		key := dsn[k:i]
		skip()
		if key == "" || i >= n || dsn[i] != '=' {
			return nil, false
		}
		i++
		skip()
		v, end, ok := valueEnd(dsn, i)
		if !ok {
			return nil, false
		}
		if isCredentialKey(key) {
			spans = append(spans, [2]int{v, end})
		}
		i = end
	}
	return spans, true
}

// valueEnd returns where the value starting at i begins and ends: a quoted
// value spans its quotes.
func valueEnd(dsn string, i int) (start, end int, ok bool) {
	if i < len(dsn) && dsn[i] == '\'' {
		for j := i + 1; j < len(dsn); j++ {
			switch dsn[j] {
			case '\\':
				j++
			case '\'':
				return i, j + 1, true
			}
		}
		return 0, 0, false
	}
	j := i
	for j < len(dsn) && strings.IndexByte(" \t\n\r\v\f", dsn[j]) < 0 {
		if dsn[j] == '\\' {
			j++
		}
		j++
	}
	return i, min(j, len(dsn)), true
}
