package scope_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"latchkey/internal/scope"
)

// inScopeTokenCharset restates RFC 6749 §3.3:
// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func inScopeTokenCharset(b byte) bool {
	return b == 0x21 || (b >= 0x23 && b <= 0x5B) || (b >= 0x5D && b <= 0x7E)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", " ", "REPO_READ", "repo_read REPO_WRITE", "REPO_READ  REPO_READ",
		"openid profile email groups", "OPENID", "read:repository write:user all",
		"public-only REPO_ADMIN", "ACCOUNT_WRITE SYSTEM_ADMIN", "NO_SUCH_SCOPE",
		"REPO_READ\tREPO_WRITE", `REPO_READ"`, `REPO_READ\`, "REPO_RÉAD", "rEpO_aDmIn",
		"REPO_READ\x00", "\xff", "REPO_READ,REPO_WRITE",
	} {
		f.Add(s)
	}
	known := scope.Known()
	f.Fuzz(func(t *testing.T, s string) {
		set, err := scope.Parse(s)
		if err != nil {
			var ue *scope.UnknownError
			if !errors.As(err, &ue) || set != nil {
				t.Fatalf("Parse(%q) = %q, %v; want an *UnknownError and no set", s, set, err)
			}
			if !slices.Contains(strings.Split(s, " "), ue.Scope) {
				t.Fatalf("Parse(%q) reports %q, not one of its tokens", s, ue.Scope)
			}
			return
		}
		for i := 0; i < len(s); i++ {
			if s[i] != ' ' && !inScopeTokenCharset(s[i]) {
				t.Fatalf("Parse(%q) accepted byte %#x outside the scope-token charset", s, s[i])
			}
		}
		if !slices.IsSorted(set) || len(slices.Compact(slices.Clone(set))) != len(set) {
			t.Fatalf("Parse(%q) = %q is not sorted and de-duplicated", s, set)
		}
		for _, sc := range set {
			if !slices.Contains(known, sc) {
				t.Fatalf("Parse(%q) yields %q, which is no known scope", s, sc)
			}
			// A set implies each of its own scopes, under its own
			// restriction: {public-only REPO_ADMIN} grants REPO_ADMIN on
			// public resources only, so it covers {public-only REPO_ADMIN}
			// but not {REPO_ADMIN}.
			own := scope.Set{sc}
			if set.PublicOnly() {
				own = own.Union(scope.Set{scope.GiteaPublicOnly})
			}
			if !set.Covers(own) {
				t.Fatalf("Parse(%q): the set does not cover its own %q", s, own)
			}
		}
		if len(set) > len(strings.Fields(s)) {
			t.Fatalf("Parse(%q) = %q holds more scopes than the input", s, set)
		}
		again, err := scope.Parse(set.String())
		if err != nil || !slices.Equal(again, set) {
			t.Fatalf("round trip: Parse(%q) = %q, %v; want %q", set.String(), again, err, set)
		}
		if !set.Covers(set) {
			t.Fatalf("%q does not cover itself", set)
		}
	})
}
