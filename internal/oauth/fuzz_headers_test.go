package oauth

import (
	"strings"
	"testing"
)

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
