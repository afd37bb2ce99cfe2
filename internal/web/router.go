package web

import (
	"net/http"

	"latchkey/internal/routes"
)

// Router is the page mux, and the only way to it: every route registered
// on it, by Pages or by a dialect, is protected against cross-site request
// forgery by construction. A request with an unsafe method (anything but
// GET, HEAD and OPTIONS) has its form read, bounded, and its CSRF token
// checked before the route's handler runs; a failed check is answered
// with the same 403 page every form gives and the handler never runs.
// The router records every pattern, for the server's start-up checks and
// for tests that walk every route.
type Router struct {
	pages *Pages
	table *routes.Table
}

// NewRouter returns an empty page router whose checks and error pages are p's.
func (p *Pages) NewRouter() *Router { return &Router{pages: p, table: routes.NewTable()} }

// Handle registers h for pattern (http.ServeMux syntax) behind the CSRF check.
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.table.Handle(pattern, rt.protect(h))
}

// HandleFunc registers a page handler for pattern behind the CSRF check;
// the error it returns is answered by the pages' one renderer. This is the
// ordinary way to add a page.
func (rt *Router) HandleFunc(pattern string, h HandlerFunc) {
	rt.Handle(pattern, rt.pages.serve(h))
}

// HandleCrossSite registers a page handler for pattern WITHOUT the form
// check: for the one kind of route that other sites' pages post to by
// design (the OpenID Connect end-session endpoint). Its handler reads the
// form itself, bounded, and must change nothing a forged request could
// abuse: a cross-site post carries no session cookie (SameSite=Lax), and
// the handler must ask before acting on anything else. The server lets
// such posts through its cross-origin protection too (package server).
func (rt *Router) HandleCrossSite(pattern string, h HandlerFunc) {
	rt.table.Handle(pattern, rt.pages.serve(h))
}

// Handler returns the handler for r and the pattern it matched, "" when
// no page route matches (http.ServeMux.Handler).
func (rt *Router) Handler(r *http.Request) (http.Handler, string) { return rt.table.Handler(r) }

// ServeHTTP serves a page request.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.table.ServeHTTP(w, r) }

// Routes returns every registered page route, in the order of registration.
func (rt *Router) Routes() []routes.Route { return rt.table.Routes() }

// protect runs the form check of unsafe methods before h.
func (rt *Router) protect(h http.Handler) http.Handler {
	return rt.pages.serve(func(w http.ResponseWriter, r *http.Request) error {
		if !safeMethod(r.Method) {
			if err := rt.pages.readForm(w, r); err != nil {
				return err
			}
		}
		h.ServeHTTP(w, r)
		return nil
	})
}

// safeMethod reports whether a request with method changes nothing and so
// carries no form to check: the methods http.CrossOriginProtection lets
// through too.
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}
