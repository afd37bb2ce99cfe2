package rp

import (
	"os"
	"strings"
	"testing"
)

// TestDocsApacheSnippetIsTheTestedOne: the mod_auth_openidc set-up that
// docs/gitea.md gives is the one TestApacheModAuthOpenIDC runs. Every
// directive of the snippet is in the tested configuration, and a
// directive whose value is not a placeholder (upper-case words such as
// CLIENT_ID, or a URL on example.com) has the same value there.
func TestDocsApacheSnippetIsTheTestedOne(t *testing.T) {
	doc, err := os.ReadFile("../../docs/gitea.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```apache\n")
	snippet, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/gitea.md has no apache snippet")
	}
	tested := apacheConf.Root.String()
	directives := 0
	for line := range strings.Lines(snippet) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "OIDC") {
			continue
		}
		directives++
		name, value, _ := strings.Cut(line, " ")
		if !strings.Contains(tested, "\n"+name+" ") {
			t.Errorf("docs/gitea.md sets %s, which the tested configuration does not", name)
			continue
		}
		placeholder := strings.Contains(value, "example.com") || strings.ToUpper(value) == value
		if !placeholder && !strings.Contains(tested, "\n"+line+"\n") {
			t.Errorf("docs/gitea.md sets %q; the tested configuration sets %s otherwise", line, name)
		}
	}
	for _, must := range []string{"OIDCRemoteUserClaim", "OIDCPKCEMethod"} {
		if !strings.Contains(snippet, must) {
			t.Errorf("docs/gitea.md's snippet lacks %s, which the tested set-up needs", must)
		}
	}
	if directives < 6 {
		t.Fatalf("found only %d directives in the snippet", directives)
	}
}
