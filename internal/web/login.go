package web

import (
	"errors"
	"net/http"

	"latchkey/internal/audit"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

type loginData struct {
	Next     string
	Username string
	Error    string
	Notice   string
}

func (p *Pages) loginForm(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	p.render(w, r, http.StatusOK, "login", "Sign in", nil, loginData{Next: next, Notice: notice(r)})
	return nil
}

// login checks the password and starts a session, or, for a user who has
// a second factor or whom the policy requires to have one, a pending
// sign-in that leads to the factor page (factor.go). Unknown users and
// wrong passwords get the same answer after the same work, so the form
// does not tell which user names exist. The attempt is charged to the
// throttle before the password is checked (loginAttempt says to which
// keys).
func (p *Pages) login(w http.ResponseWriter, r *http.Request) error {
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	next := safeNext(r.PostForm.Get("next"))
	attempt := p.loginAttempt(r, username)
	wait, err := p.throttle.Reserve(r.Context(), attempt.keys...)
	if err != nil {
		return err
	}
	if wait > 0 {
		p.render(w, r, http.StatusTooManyRequests, "login", "Sign in", nil,
			loginData{Next: next, Username: username, Error: tooManyAttempts(wait)})
		return nil
	}
	user, ok, err := p.checkLogin(r, username, password)
	if err != nil {
		return errors.Join(err, p.throttle.Release(r.Context(), attempt.keys...))
	}
	if !ok {
		p.audit(r, failedLogin(user))
		p.render(w, r, http.StatusUnauthorized, "login", "Sign in", nil,
			loginData{Next: next, Username: username, Error: "The user name or password is not correct."})
		return nil
	}
	if err := p.throttle.Release(r.Context(), attempt.keys...); err != nil {
		return err
	}
	if err := p.throttle.Reset(r.Context(), attempt.clear...); err != nil {
		return err
	}
	second, err := p.needsSecondStep(r.Context(), user)
	if err != nil {
		return err
	}
	if second {
		return p.beginPending(w, r, user, []string{amrPassword}, next)
	}
	if _, err := p.startSession(w, r, user, passwordOnly()); err != nil {
		return err
	}
	p.rememberBrowser(w, attempt.account, attempt.browser)
	p.audit(r, event(audit.Login, user, "", ""))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// failedLogin is the audit event of a failed sign-in: it names the account
// when the typed name is one, and never the typed text itself (which is
// often a password typed into the wrong field).
func failedLogin(user *store.User) store.AuditEvent {
	switch {
	case user == nil:
		return event(audit.LoginFailed, nil, "", "the user name is no account")
	case user.Disabled:
		return event(audit.LoginFailed, user, "", "the account is disabled")
	case user.PasswordHash == "":
		return event(audit.LoginFailed, user, "", "the account has no password")
	}
	return event(audit.LoginFailed, user, "", "wrong password")
}

// checkLogin reports whether password signs in as username. It returns the
// account the name belongs to (nil if none), also when the answer is no.
// An account that is disabled or has no password never signs in.
func (p *Pages) checkLogin(r *http.Request, username, password string) (*store.User, bool, error) {
	user, err := p.store.GetUserByUsername(r.Context(), username)
	if errors.Is(err, store.ErrNotFound) {
		secret.BurnPasswordCheck(password)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if user.Disabled || user.PasswordHash == "" {
		secret.BurnPasswordCheck(password)
		return &user, false, nil
	}
	ok, err := secret.CheckPassword(user.PasswordHash, password)
	if err != nil {
		return nil, false, err
	}
	return &user, ok, nil
}

func (p *Pages) logout(w http.ResponseWriter, r *http.Request) error {
	user, sess, err := p.currentUser(r)
	if err != nil {
		return err
	}
	if err := p.SignOut(w, r, user, sess, ""); err != nil { // back-channel logout of its clients too
		return err
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
