package oauth

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzBearerToken feeds arbitrary Authorization headers to the bearer
// parser of every protected endpoint: it never panics, returns ErrNoToken
// only for an absent header, a token only for a "Bearer <token>" header
// (any case) and otherwise invalid_request with 400.
func FuzzBearerToken(f *testing.F) {
	for _, seed := range []string{"", "Bearer lka_abc", "bearer  x ", "Basic Zm9vOmJhcg==", "Bearer", "Bearer ", "Bearer\tx", "BEARER a b"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := &http.Request{Header: http.Header{}}
		if header != "" {
			r.Header["Authorization"] = []string{header}
		}
		token, err := BearerToken(r)
		switch {
		case header == "":
			if err != ErrNoToken {
				t.Fatalf("no header: %v", err)
			}
		case err == nil:
			scheme, _, _ := strings.Cut(header, " ")
			if !strings.EqualFold(scheme, "Bearer") || token == "" || token != strings.TrimSpace(token) {
				t.Fatalf("header %q gave token %q", header, token)
			}
		default:
			fzWantError(t, err, http.StatusBadRequest, CodeInvalidRequest)
		}
	})
}

// FuzzUserCode checks that what a person types is normalized to at most
// the letters they typed, upper case, and that a normalized code formats
// and normalizes back to itself.
func FuzzUserCode(f *testing.F) {
	for _, seed := range []string{"BCDF-GHJK", "bcdf ghjk", "", "----", "ÄÖÜ-ß", "bcdfghjk\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		code := NormalizeUserCode(typed)
		if strings.ContainsAny(code, "- ") || len(code) > len(typed) {
			t.Fatalf("%q normalized to %q", typed, code)
		}
		if strings.ToUpper(code) != code && isASCII(code) {
			t.Fatalf("%q normalized to %q, not upper case", typed, code)
		}
		if NormalizeUserCode(FormatUserCode(code)) != code {
			t.Fatalf("%q does not survive formatting (%q)", code, FormatUserCode(code))
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
