package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"

	"latchkey/internal/secret"
)

// CSRF protection is a signed double submit: the browser holds a random
// cookie, and every form carries HMAC(key, cookie). A forged cross-site
// post cannot read the cookie and so cannot compute the token. The key
// lives in the database, so every node accepts every other node's forms.
// The server also refuses cross-origin form posts outright
// (http.CrossOriginProtection, in package server).
const csrfCookie = "latchkey_csrf" // named as cookieName says

// csrfField is the name of the hidden form field.
const csrfField = "csrf_token"

// csrfToken returns the token for the request's CSRF cookie, setting a new
// cookie first if the browser has none.
func (p *Pages) csrfToken(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(p.cookieName(csrfCookie))
	value := ""
	if err == nil && len(c.Value) >= 20 {
		value = c.Value
	} else {
		value = secret.New("")
		http.SetCookie(w, p.cookie(csrfCookie, value, 0))
		// Later reads in this request must see the new value.
		r.AddCookie(&http.Cookie{Name: p.cookieName(csrfCookie), Value: value})
	}
	return p.sign(value)
}

func (p *Pages) sign(value string) string {
	mac := hmac.New(sha256.New, p.csrfKey)
	mac.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkCSRF verifies the form's token against the cookie in constant time.
// The form must already be parsed.
func (p *Pages) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(p.cookieName(csrfCookie))
	if err != nil || len(c.Value) < 20 {
		return false
	}
	got := r.PostForm.Get(csrfField)
	return hmac.Equal([]byte(got), []byte(p.sign(c.Value)))
}

// readForm reads a bounded form body and checks its CSRF token. The
// router runs it before the handler of every unsafe-method page route.
func (p *Pages) readForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return refuse(http.StatusBadRequest, "The form could not be read.")
	}
	if !p.checkCSRF(r) {
		return refuse(http.StatusForbidden, "This form has expired or did not come from this site. Go back, reload the page and try again.")
	}
	return nil
}

// CrossOriginDenied answers a post that http.CrossOriginProtection
// refused (it came from another origin): the same page, in plain words, as
// a post with a bad CSRF token gets.
func (p *Pages) CrossOriginDenied() http.Handler {
	return p.serve(func(http.ResponseWriter, *http.Request) error {
		return refuse(http.StatusForbidden, "This form did not come from this site, so it was refused. Go back, reload the page and try again.")
	})
}
