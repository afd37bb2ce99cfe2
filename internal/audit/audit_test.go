package audit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// TestEventsListsEveryDeclaredEventOnce reads this package's source: every
// Event constant is in Events(), once, with a unique dotted lower-case name.
func TestEventsListsEveryDeclaredEventOnce(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "audit.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []Event
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Event" {
				continue
			}
			value, err := strconv.Unquote(vs.Values[0].(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			declared = append(declared, Event(value))
		}
	}
	if !slices.Equal(declared, Events()) {
		t.Errorf("Events() = %v\nwant the declared constants %v", Events(), declared)
	}
	name := regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)?$`)
	seen := map[Event]bool{}
	for _, e := range declared {
		if seen[e] || !name.MatchString(string(e)) {
			t.Errorf("event %q is repeated or not a dotted lower-case name", e)
		}
		seen[e] = true
	}
}
