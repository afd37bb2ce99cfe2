// Package routes owns the table of routes a node serves: every pattern
// registered on a mux is recorded as it is registered, so that the server
// can refuse a path that two muxes both claim and tests can walk every
// route without anyone keeping a list by hand.
package routes

import (
	"net/http"
	"strings"
)

// Mux is where a package registers its routes: a Table, or a plain
// *http.ServeMux where nothing needs to be recorded (a test of one package).
type Mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Route is one registered pattern, in the syntax of http.ServeMux.
type Route struct {
	// Method is the pattern's method, or "" when it matches every method.
	Method string
	// Path is the pattern's path with its wildcards ({id}, {rest...},
	// {$}), and its host in front when the pattern names one.
	Path string
}

// Parse splits a ServeMux pattern ("[METHOD ][HOST]/[PATH]") into a Route.
func Parse(pattern string) Route {
	method, path, found := strings.Cut(strings.TrimSpace(pattern), " ")
	if !found {
		return Route{Path: method}
	}
	return Route{Method: method, Path: strings.TrimLeft(path, " \t")}
}

// String is the route as a ServeMux pattern.
func (r Route) String() string {
	if r.Method == "" {
		return r.Path
	}
	return r.Method + " " + r.Path
}

// Fill returns every concrete path of the route: each wildcard segment
// ({name} or {name...}) is replaced by each value that value(name)
// returns, in every combination; {$} is dropped. A wildcard without values
// yields no path. The host part, if any, is left out.
func (r Route) Fill(value func(name string) []string) []string {
	path := r.Path
	if i := strings.IndexByte(path, '/'); i > 0 {
		path = path[i:]
	}
	paths := []string{""}
	for i, segment := range strings.Split(path, "/") {
		if i == 0 {
			continue
		}
		choices := []string{segment}
		if name, ok := wildcard(segment); ok {
			choices = value(name)
		} else if segment == "{$}" {
			choices = []string{""}
		}
		next := make([]string, 0, len(paths)*len(choices))
		for _, p := range paths {
			for _, c := range choices {
				next = append(next, p+"/"+c)
			}
		}
		paths = next
	}
	return paths
}

// wildcard returns the name of a wildcard segment ({name} or {name...}).
func wildcard(segment string) (string, bool) {
	if segment == "{$}" || !strings.HasPrefix(segment, "{") || !strings.HasSuffix(segment, "}") {
		return "", false
	}
	return strings.TrimSuffix(segment[1:len(segment)-1], "..."), true
}

// Table is an http.ServeMux that records every pattern registered on it,
// in the order of registration. Like the ServeMux, it panics on a pattern
// that is invalid or conflicts with one registered before.
type Table struct {
	mux    *http.ServeMux
	routes []Route
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{mux: http.NewServeMux()} }

// Handle registers handler for pattern and records the pattern.
func (t *Table) Handle(pattern string, handler http.Handler) {
	t.mux.Handle(pattern, handler)
	t.routes = append(t.routes, Parse(pattern))
}

// HandleFunc registers handler for pattern and records the pattern.
func (t *Table) HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request)) {
	t.Handle(pattern, http.HandlerFunc(handler))
}

// Handler is http.ServeMux.Handler: the handler for r and the pattern it
// matched, "" when none did.
func (t *Table) Handler(r *http.Request) (http.Handler, string) { return t.mux.Handler(r) }

// ServeHTTP serves r with the handler whose pattern matches it best.
func (t *Table) ServeHTTP(w http.ResponseWriter, r *http.Request) { t.mux.ServeHTTP(w, r) }

// Routes returns a copy of the recorded routes.
func (t *Table) Routes() []Route { return append([]Route(nil), t.routes...) }

// Matcher is what Overlap asks: the pattern a request would reach, ""
// for none (http.ServeMux.Handler, Table.Handler).
type Matcher interface {
	Handler(r *http.Request) (http.Handler, string)
}

// Overlap returns the first route of list whose path other serves too,
// under any method, with the pattern of other's that answers it. Each
// wildcard is tried with a placeholder value.
func Overlap(list []Route, other Matcher) (Route, string, bool) {
	placeholder := func(string) []string { return []string{"x"} }
	for _, rt := range list {
		for _, path := range rt.Fill(placeholder) {
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
				req, err := http.NewRequest(method, path, nil)
				if err != nil {
					continue
				}
				if _, pattern := other.Handler(req); pattern != "" {
					return rt, pattern, true
				}
			}
		}
	}
	return Route{}, "", false
}
