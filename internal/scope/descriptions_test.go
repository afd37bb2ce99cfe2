package scope

import (
	"strings"
	"testing"
)

// TestEveryScopeHasADescription: the consent page and the registration
// form show each scope in plain words, so no known scope may lack them.
func TestEveryScopeHasADescription(t *testing.T) {
	for _, s := range Known() {
		d := Descriptions[s]
		if d == "" {
			t.Errorf("scope %q has no description", s)
			continue
		}
		if !strings.HasSuffix(d, ".") || strings.ToUpper(d[:1]) != d[:1] {
			t.Errorf("description of %q is not a sentence: %q", s, d)
		}
	}
	for s := range Descriptions {
		if _, err := Parse(s); err != nil {
			t.Errorf("description for unknown scope %q", s)
		}
	}
}
