package testkit

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
)

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// CSRF loads a page of the server and returns the CSRF token of its forms
// (one per browser, so any page's token fits every form).
func (b *Browser) CSRF(path string) (string, error) {
	status, body, err := b.Get(path)
	if err != nil {
		return "", err
	}
	m := csrfPattern.FindStringSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("GET %s: status %d and no form with a CSRF token", path, status)
	}
	return html.UnescapeString(m[1]), nil
}

// Submit posts a form the way the browser would from a page of the
// server: with the CSRF token of the login page and the server's Origin.
// It returns the status, the Location header and the body.
func (b *Browser) Submit(path string, form url.Values) (int, string, string, error) {
	token, err := b.CSRF("/login")
	if err != nil {
		return 0, "", "", err
	}
	form = cloneForm(form)
	form.Set("csrf_token", token)
	resp, body, err := b.Post(path, form)
	if err != nil {
		return 0, "", "", err
	}
	return resp.StatusCode, resp.Header.Get("Location"), body, nil
}

// SignIn signs the browser in with its user name and password through the
// login form.
func (b *Browser) SignIn() error {
	status, _, body, err := b.Submit("/login", url.Values{"username": {b.Username}, "password": {b.Password}, "next": {"/"}})
	if err != nil {
		return err
	}
	if status != http.StatusSeeOther {
		return fmt.Errorf("sign in as %s: status %d: %s", b.Username, status, textOf(body))
	}
	return nil
}

func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
