package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzDecodeJSON feeds arbitrary bodies and content types to the API's
// JSON reader with each input shape: it never panics, and a refusal is a
// 400 or 415 whose message names no Go type.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{`{"name":"x","public":true}`, `{"public":"yes"}`, `[1,2]`, `{`, ``, `null`, `{"project":{"key":7}}`, `"s"`} {
		f.Add([]byte(seed), "application/json")
	}
	f.Add([]byte(`name=x`), "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		for _, target := range []func() any{
			func() any { return &projectInput{} }, func() any { return &repoInput{} }, func() any { return &userInput{} },
		} {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.Header.Set("Content-Type", contentType)
			err := decodeJSON(r, target())
			if err == nil {
				continue
			}
			var ae *apiError
			if !errors.As(err, &ae) || (ae.status != http.StatusBadRequest && ae.status != http.StatusUnsupportedMediaType) {
				t.Fatalf("error %v is not a 400 or 415", err)
			}
			if strings.Contains(ae.message, "Go ") || strings.Contains(ae.message, "Input") {
				t.Fatalf("message leaks Go types: %q", ae.message)
			}
		}
	})
}

// FuzzPaging feeds arbitrary paging parameters to both dialects' paging:
// it never panics and never returns items outside the list.
func FuzzPaging(f *testing.F) {
	f.Add("0", "25", "1")
	f.Add("-1", "0", "0")
	f.Add("99999999999999999999", "1000000", "-5")
	f.Add("3", "x", "2")
	f.Add("0", "50", "9223372036854775807")
	f.Add("9223372036854775807", "1000", "4611686018427387904")
	items := []int{1, 2, 3, 4, 5, 6, 7}
	f.Fuzz(func(t *testing.T, start, limit, page string) {
		q := url.Values{"start": {start}, "limit": {limit}, "page": {page}}
		r := httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil)
		if p, err := paginateSeq(r, seqOf(items)); err == nil {
			if p.Size != len(p.Values) || p.Start < 0 || p.Start+p.Size > len(items) {
				t.Fatalf("page %+v", p)
			}
		}
		_, _, _ = giteaPagedSeq(r, seqOf(items))
	})
}
