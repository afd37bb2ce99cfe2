package config

import (
	"net/url"
	"strings"
	"testing"
)

// marker is a password recognizable in any output.
const marker = "S3cr3t-marker"

// credentialForms writes a DSN with password pw in every form pgx reads a
// credential in.
func credentialForms(pw string) map[string]string {
	kvQuoted := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
	return map[string]string{
		"URL userinfo":            "postgres://" + url.UserPassword("app", pw).String() + "@db.example.com:5432/latchkey?sslmode=require",
		"URL password parameter":  "postgres://app@db.example.com/latchkey?sslmode=require&password=" + url.QueryEscape(pw),
		"URL sslpassword":         "postgresql://app@db.example.com/latchkey?sslpassword=" + url.QueryEscape(pw) + "&sslmode=verify-full",
		"URL sslkey inline":       "postgres://app@db.example.com/latchkey?sslinline=true&sslkey=" + url.QueryEscape(pw),
		"upper-case URL":          "POSTGRES://app:" + url.QueryEscape(pw) + "@db.example.com/latchkey",
		"key=value":               "host=db.example.com user=app password=" + kvQuoted + " dbname=latchkey",
		"key = value with spaces": "host=db.example.com password = " + kvQuoted + " sslmode=require",
		"key=value sslpassword":   "host=db.example.com sslpassword=" + kvQuoted,
		"key=value last":          "dbname=latchkey password=" + kvQuoted,
	}
}

// TestRedactDSNHidesEveryCredentialForm states that no form of a DSN
// credential survives RedactDSN or RedactDSNIn, and that what is not a
// credential stays readable.
func TestRedactDSNHidesEveryCredentialForm(t *testing.T) {
	for _, pw := range []string{marker, marker + " with 'quotes' and \\ @/?&#:="} {
		for form, dsn := range credentialForms(pw) {
			got := RedactDSN(dsn)
			if leaks(got, pw) || !strings.Contains(got, dsnMask) || !strings.Contains(got, "db.example.com") && !strings.Contains(got, "latchkey") {
				t.Errorf("%s: RedactDSN(%q) = %q", form, dsn, got)
			}
			msg := "cannot parse `" + dsn + "`: the password " + pw + " (encoded " + url.QueryEscape(pw) + ") is wrong"
			if got := RedactDSNIn(msg, dsn); leaks(got, pw) {
				t.Errorf("%s: RedactDSNIn left the password in %q", form, got)
			}
		}
	}
	for _, plain := range []string{"/var/lib/latchkey/latchkey.db", "data/latchkey.db", "postgres://app@db/latchkey?sslmode=disable"} {
		if got := RedactDSN(plain); got != plain {
			t.Errorf("RedactDSN(%q) = %q, want it unchanged", plain, got)
		}
	}
}

// leaks reports whether s holds pw as written or percent-encoded.
func leaks(s, pw string) bool {
	return strings.Contains(s, pw) || strings.Contains(s, url.QueryEscape(pw)) || strings.Contains(s, url.PathEscape(pw))
}

// leaksBetweenMasks is leaks for each stretch of s between two masks.
func leaksBetweenMasks(s, pw string) bool {
	for _, piece := range strings.Split(s, dsnMask) {
		if leaks(piece, pw) {
			return true
		}
	}
	return false
}

// FuzzRedactDSN: whatever the password, no form of the DSN shows it after
// redaction, as long as the password is not also spelled out elsewhere in
// the DSN (then nothing could tell it apart). The output is read between
// its masks, so that a mask next to other text cannot spell the password.
func FuzzRedactDSN(f *testing.F) {
	f.Add(marker)
	f.Add("p@ss/w:rd?x=1&y")
	f.Add("a b'c\\d")
	f.Fuzz(func(t *testing.T, pw string) {
		if len(pw) < 4 {
			return
		}
		for form, dsn := range credentialForms(pw) {
			rest := strings.Join(strings.Split(dsn, pw), "")
			for _, other := range credentialForms("") {
				rest += other
			}
			if strings.Contains(rest, pw) || strings.Contains(rest, url.QueryEscape(pw)) || strings.Contains(rest, url.PathEscape(pw)) {
				return
			}
			if got := RedactDSN(dsn); leaksBetweenMasks(got, pw) {
				t.Fatalf("%s: RedactDSN(%q) = %q", form, dsn, got)
			}
			if got := RedactDSNIn("connect "+dsn+": "+pw, dsn); leaksBetweenMasks(got, pw) {
				t.Fatalf("%s: RedactDSNIn = %q", form, got)
			}
		}
	})
}
