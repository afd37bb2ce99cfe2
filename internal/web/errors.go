package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"latchkey/internal/fault"
	"latchkey/internal/oauth"
)

// pageError is an answer to show the person: a status and a message in
// plain words, never internal detail.
type pageError struct {
	status  int
	message string
}

func (e *pageError) Error() string { return http.StatusText(e.status) + ": " + e.message }

// refuse returns the page error with status and message.
func refuse(status int, message string) error { return &pageError{status: status, message: message} }

// signInFirst asks the person to sign in and come back. The renderer sends
// a GET to /login?next=..., next being back or, when back is empty, the
// request's own address; any other method gets a page saying the sign-in
// has expired, since a form cannot be replayed through a redirect. A
// non-empty back redirects whatever the method (the authorization
// endpoint's way back, which drops what the fresh sign-in satisfies).
type signInFirst struct{ back string }

func (e *signInFirst) Error() string { return "web: the page needs a signed-in user" }

// HandlerFunc serves a page. It returns nil once it has answered, or an
// error for the pages' one renderer to answer; it must not do both. An
// error the handler means for the person is a page error (a status and a
// message), a request to sign in first, or one of the protocol core's
// *oauth.PageError and *oauth.RedirectError; any other error is shown as
// package fault classifies it (400, 503 or 500), with a generic message.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// serve adapts a page handler to http.Handler: its error goes to serveError.
func (p *Pages) serve(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			p.serveError(w, r, err)
		}
	})
}

// serveError answers a request whose handler returned err.
func (p *Pages) serveError(w http.ResponseWriter, r *http.Request, err error) {
	var page *pageError
	var signIn *signInFirst
	var corePage *oauth.PageError
	var redirect *oauth.RedirectError
	switch {
	case errors.As(err, &page):
		p.errorPage(w, r, page.status, page.message)
	case errors.As(err, &signIn):
		p.askSignIn(w, r, signIn.back)
	case errors.As(err, &corePage):
		p.errorPage(w, r, corePage.Status, corePage.Message)
	case errors.As(err, &redirect):
		http.Redirect(w, r, p.provider.ErrorRedirectURL(redirect), http.StatusFound)
	default:
		p.serverError(w, r, err)
	}
}

// askSignIn answers a signInFirst (see there).
func (p *Pages) askSignIn(w http.ResponseWriter, r *http.Request, back string) {
	if back == "" && r.Method != http.MethodGet {
		p.errorPage(w, r, http.StatusUnauthorized, "Your sign-in has expired. Sign in again and repeat what you were doing.")
		return
	}
	if back == "" {
		back = r.URL.RequestURI()
	}
	// Past the password, the way on is the factor step, not the password
	// again: a pending sign-in is no session, but it leads back to its
	// second step.
	if user, _, err := p.currentPending(r); err == nil && user != nil {
		http.Redirect(w, r, factorPath+"?"+url.Values{"next": {back}}.Encode(), http.StatusFound)
		return
	}
	http.Redirect(w, r, "/login?"+url.Values{"next": {back}}.Encode(), http.StatusFound)
}

// serverError shows the page for an error that carries no answer of its
// own, with the status package fault gives it: 499 (no page) when the
// client went away, 400 for input the database cannot store, 503 while the database is unavailable (the person may
// simply try again), else 500. Failures of the server are logged.
func (p *Pages) serverError(w http.ResponseWriter, r *http.Request, err error) {
	status := fault.Status(err)
	if fault.ServerSide(err) {
		p.log.Error("page request failed", "path", r.URL.Path, "error", err)
	}
	switch status {
	case fault.StatusClientClosed: // nobody is left to read a page
		w.WriteHeader(status)
	case http.StatusBadRequest:
		p.errorPage(w, r, status, "The form or address holds characters that cannot be stored (a NUL byte or invalid UTF-8).")
	case http.StatusServiceUnavailable:
		p.errorPage(w, r, status, "The service is temporarily unavailable. Please try again in a moment.")
	default:
		p.errorPage(w, r, http.StatusInternalServerError, "The server could not complete your request. Please try again.")
	}
}

// errorPage shows a message to the person. It never contains internal detail.
func (p *Pages) errorPage(w http.ResponseWriter, r *http.Request, status int, message string) {
	title := "Something went wrong"
	switch {
	case status == http.StatusForbidden:
		title = "Not allowed"
	case status < 500:
		title = "This request cannot be completed"
	}
	p.render(w, r, status, "error", title, nil, struct{ Message string }{message})
}

// RateLimited answers, with a page for the person, a request to the
// authorization endpoint that a rate limit refused: 429 Too Many Requests
// (the caller has set Retry-After).
func (p *Pages) RateLimited(w http.ResponseWriter, r *http.Request, retryAfter time.Duration) {
	wait := int64(math.Ceil(max(retryAfter.Seconds(), 1)))
	p.errorPage(w, r, http.StatusTooManyRequests, fmt.Sprintf(
		"Too many sign-in requests came from your network or for this application. Wait %d seconds, then try again.", wait))
}
