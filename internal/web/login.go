package web

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"latchkey/internal/audit"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

type loginData struct {
	Next     string
	Username string
	Error    string
}

func (p *Pages) loginForm(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	p.render(w, r, http.StatusOK, "login", "Sign in", nil, loginData{Next: next})
	return nil
}

// login checks the password and starts a session. Unknown users and wrong
// passwords get the same answer after the same work, so the form does not
// tell which user names exist.
func (p *Pages) login(w http.ResponseWriter, r *http.Request) error {
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	next := safeNext(r.PostForm.Get("next"))
	accountKey, addressKey := "login:user:"+strings.ToLower(username), "login:addr:"+clientAddress(r)
	if wait := max(p.throttle.Blocked(accountKey), p.throttle.Blocked(addressKey)); wait > 0 {
		p.render(w, r, http.StatusTooManyRequests, "login", "Sign in", nil,
			loginData{Next: next, Username: username, Error: tooManyAttempts(wait)})
		return nil
	}
	user, ok, err := p.checkLogin(r, username, password)
	if err != nil {
		return err
	}
	if !ok {
		p.throttle.Fail(accountKey)
		p.throttle.Fail(addressKey)
		p.audit(r, store.AuditEvent{Event: audit.LoginFailed, Username: truncate(username, 64),
			Detail: "wrong user name or password"})
		p.render(w, r, http.StatusUnauthorized, "login", "Sign in", nil,
			loginData{Next: next, Username: username, Error: "The user name or password is not correct."})
		return nil
	}
	p.throttle.Reset(accountKey)
	if _, err := p.startSession(w, r, user.ID); err != nil {
		return err
	}
	p.audit(r, event(audit.Login, &user, "", ""))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (p *Pages) checkLogin(r *http.Request, username, password string) (store.User, bool, error) {
	user, err := p.store.GetUserByUsername(r.Context(), username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (user.Disabled || user.PasswordHash == "")) {
		secret.BurnPasswordCheck(password)
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, err
	}
	ok, err := secret.CheckPassword(user.PasswordHash, password)
	if err != nil {
		return store.User{}, false, err
	}
	return user, ok, nil
}

func (p *Pages) logout(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.currentUser(r)
	if err != nil {
		return err
	}
	if user != nil {
		p.audit(r, event(audit.Logout, user, "", ""))
	}
	if err := p.endSession(w, r); err != nil {
		return err
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// truncate shortens s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
