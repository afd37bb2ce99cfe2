package webhook

import (
	"errors"
	"strings"
)

// Gitea's branch filter: a glob over the branch's short name, where *
// matches any text (slashes too), ? one character, [abc] and [a-z] one of
// a set ([!...] one not in it), {a,b} either alternative, and \ takes the
// next character as it is. An empty filter, or "*", matches every branch.

// MaxBranchFilter bounds a filter's length; maxAlternatives bounds how
// many patterns its braces may expand to.
const (
	MaxBranchFilter = 1024
	maxAlternatives = 256
)

// glob is a compiled branch filter: one of its patterns must match. No
// patterns: everything matches.
type glob struct{ patterns []string }

// CheckBranchFilter says whether s is a branch filter Gitea's syntax
// accepts; the error's text is fit to show.
func CheckBranchFilter(s string) error {
	_, err := compileGlob(s)
	return err
}

func compileGlob(s string) (glob, error) {
	if s == "" || s == "*" {
		return glob{}, nil
	}
	if len(s) > MaxBranchFilter {
		return glob{}, errors.New("The branch filter is too long.")
	}
	patterns, err := expandBraces(s)
	if err != nil {
		return glob{}, err
	}
	for _, p := range patterns {
		if err := checkPattern(p); err != nil {
			return glob{}, err
		}
	}
	return glob{patterns: patterns}, nil
}

// expandBraces turns {a,b} alternatives (possibly nested) into separate
// patterns.
func expandBraces(s string) ([]string, error) {
	open := -1
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				return nil, errors.New("The branch filter has a } without its {.")
			}
			depth--
			if depth > 0 {
				continue
			}
			var out []string
			for _, alt := range splitTop(s[open+1 : i]) {
				rest, err := expandBraces(s[:open] + alt + s[i+1:])
				if err != nil {
					return nil, err
				}
				out = append(out, rest...)
				if len(out) > maxAlternatives {
					return nil, errors.New("The branch filter has too many alternatives.")
				}
			}
			return out, nil
		}
	}
	if depth != 0 {
		return nil, errors.New("The branch filter has a { without its }.")
	}
	return []string{s}, nil
}

// splitTop splits s at the commas outside nested braces.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func checkPattern(p string) error {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			if i+1 >= len(p) {
				return errors.New("The branch filter ends with a lone \\.")
			}
			i++
		case '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				return errors.New("The branch filter has a [ without its ].")
			}
			i += end + 1
		}
	}
	return nil
}

func (g glob) match(name string) bool {
	if len(g.patterns) == 0 {
		return true
	}
	for _, p := range g.patterns {
		if matchPattern(p, name) {
			return true
		}
	}
	return false
}

// matchPattern matches one brace-free pattern against name, iteratively
// (backtracking to the last * only), so that it runs in O(len*len).
func matchPattern(p, name string) bool {
	pi, ni := 0, 0
	starP, starN := -1, 0
	for ni < len(name) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starN = pi, ni
				pi++
				continue
			case '?':
				pi++
				ni++
				continue
			case '[':
				end := pi + 1 + strings.IndexByte(p[pi+1:], ']')
				if inSet(p[pi+1:end], name[ni]) {
					pi, ni = end+1, ni+1
					continue
				}
			case '\\':
				if pi+1 < len(p) && p[pi+1] == name[ni] {
					pi, ni = pi+2, ni+1
					continue
				}
			default:
				if p[pi] == name[ni] {
					pi++
					ni++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starN++
		pi, ni = starP+1, starN
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// inSet matches c against a bracket expression's inside: ranges a-z and
// a leading ! that negates.
func inSet(set string, c byte) bool {
	negate := strings.HasPrefix(set, "!")
	if negate {
		set = set[1:]
	}
	found := false
	for i := 0; i < len(set); i++ {
		if i+2 < len(set) && set[i+1] == '-' {
			if set[i] <= c && c <= set[i+2] {
				found = true
			}
			i += 2
			continue
		}
		if set[i] == c {
			found = true
		}
	}
	return found != negate
}
