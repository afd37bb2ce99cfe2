package mfa_test

import (
	"testing"
	"time"

	"latchkey/internal/mfa"
)

// FuzzParseCode: any text parses to six ASCII digits or not at all, and
// a parsed code parses to itself.
func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "", "12345a", "１２３４５６", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := mfa.ParseCode(s)
		if !ok {
			return
		}
		if len(c) != mfa.Digits {
			t.Fatalf("%q parsed to %q", s, c)
		}
		if again, ok := mfa.ParseCode(c); !ok || again != c {
			t.Fatalf("%q does not parse to itself", c)
		}
		_ = mfa.CheckEnrolment("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", s, time.Unix(59, 0))
	})
}

// FuzzParseRecoveryCode: a parsed code is 10 characters of the code
// alphabet and parses to itself.
func FuzzParseRecoveryCode(f *testing.F) {
	for _, s := range []string{"abcde-fghij", "ABCDE FGHIJ", "", "abcde-fgh1j", "--------------------a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := mfa.ParseRecoveryCode(s)
		if !ok {
			return
		}
		if len(c) != 10 {
			t.Fatalf("%q parsed to %q", s, c)
		}
		if again, ok := mfa.ParseRecoveryCode(c); !ok || again != c {
			t.Fatalf("%q does not parse to itself", c)
		}
	})
}

// FuzzParseSecret: a parsed secret gives codes.
func FuzzParseSecret(f *testing.F) {
	f.Add("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
	f.Add("gezdgnbvgy3tqojqgezdgnbvgy3tqojq====")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := mfa.ParseSecret(s)
		if !ok {
			return
		}
		if _, err := mfa.Code(c, 1); err != nil {
			t.Fatalf("%q parsed but gives no code: %v", s, err)
		}
	})
}
