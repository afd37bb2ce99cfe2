package web

import (
	"errors"
	"net/http"

	"latchkey/internal/audit"
	"latchkey/internal/identity"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

type loginData struct {
	Next     string
	Username string
	Error    string
	Notice   string
	// Sources are the "Sign in with ..." buttons of the enabled upstream
	// providers.
	Sources []signInButton
}

func (p *Pages) loginForm(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	p.render(w, r, http.StatusOK, "login", "Sign in", nil, loginData{Next: next, Notice: notice(r), Sources: p.signInButtons(r, next)})
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
			loginData{Next: next, Username: username, Error: tooManyAttempts(wait), Sources: p.signInButtons(r, next)})
		return nil
	}
	user, sourceID, err := p.checkLogin(r, username, password)
	if err != nil {
		var refused *loginRefused
		if !errors.As(err, &refused) {
			return errors.Join(err, p.throttle.Release(r.Context(), attempt.keys...))
		}
		if refused.unavailable {
			// The directory did not answer: the attempt proved nothing,
			// so it is not counted against the account.
			if err := p.throttle.Release(r.Context(), attempt.keys...); err != nil {
				return err
			}
		}
		p.audit(r, failedLogin(refused.user, refused.why))
		p.render(w, r, refused.status, "login", "Sign in", nil,
			loginData{Next: next, Username: username, Error: refused.message, Sources: p.signInButtons(r, next)})
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
		return p.beginPending(w, r, user, []string{amrPassword}, sourceID, next)
	}
	if _, err := p.startSession(w, r, user, passwordOnly(), sourceID); err != nil {
		return err
	}
	p.rememberBrowser(w, attempt.account, attempt.browser)
	p.audit(r, event(audit.Login, user, "", ""))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// loginRefused is a sign-in that did not pass: the page's status and
// message, the account the typed name belongs to (nil if none) and, for
// the audit trail, why.
type loginRefused struct {
	status      int
	message     string
	user        *store.User
	why         string
	unavailable bool // a directory did not answer
}

func (e *loginRefused) Error() string { return e.message }

// wrongPassword is the one answer to an unknown name and a wrong
// password, so that the form does not tell which names exist.
func wrongPassword(user *store.User, why string) *loginRefused {
	return &loginRefused{status: http.StatusUnauthorized, message: "The user name or password is not correct.",
		user: user, why: why}
}

// failedLogin is the audit event of a failed sign-in: it names the account
// when the typed name is one, and never the typed text itself (which is
// often a password typed into the wrong field).
func failedLogin(user *store.User, why string) store.AuditEvent {
	return event(audit.LoginFailed, user, "", why)
}

// checkLogin checks that password signs in as username and returns the
// account and the identity source that vouched for it (0: the local
// password), or a *loginRefused. A local account is checked against its
// own password; an account of a directory, and a name that is no account
// yet, against the enabled directories (package identity), which may
// create the account. An account that is disabled or has no password
// never signs in; unknown names cost the same work as known ones.
func (p *Pages) checkLogin(r *http.Request, username, password string) (*store.User, int64, error) {
	user, err := p.store.GetUserByUsername(r.Context(), username)
	var existing *store.User
	switch {
	case err == nil:
		existing = &user
	case !errors.Is(err, store.ErrNotFound):
		return nil, 0, err
	}
	if existing != nil && existing.SourceID == 0 {
		if existing.Disabled || existing.PasswordHash == "" {
			secret.BurnPasswordCheck(password)
			why := "the account has no password"
			if existing.Disabled {
				why = "the account is disabled"
			}
			return nil, 0, wrongPassword(existing, why)
		}
		ok, err := secret.CheckPassword(existing.PasswordHash, password)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			return nil, 0, wrongPassword(existing, "wrong password")
		}
		return existing, 0, nil
	}
	if p.cfg.Identity == nil {
		secret.BurnPasswordCheck(password)
		return nil, 0, wrongPassword(existing, "the user name is no account")
	}
	u, src, err := p.cfg.Identity.PasswordSignIn(r.Context(), existing, username, password)
	if err == nil {
		return &u, src.ID, nil
	}
	var down *identity.UnavailableError
	switch {
	case errors.As(err, &down):
		return nil, 0, &loginRefused{status: http.StatusServiceUnavailable, user: existing, unavailable: true,
			why: "the directory did not answer", message: down.Source + " cannot be reached right now, so your password " +
				"cannot be checked. Try again in a few minutes, or ask an administrator."}
	case errors.Is(err, identity.ErrWrongPassword):
		if existing == nil {
			// The same work as a local account's wrong password, so
			// that the answer's time does not tell whether the name
			// is a local account (with no directory, nothing else ran).
			secret.BurnPasswordCheck(password)
			return nil, 0, wrongPassword(nil, "no directory knows the name and password")
		}
		return nil, 0, wrongPassword(existing, "wrong password (directory)")
	case errors.Is(err, identity.ErrSourceDisabled):
		// Said like a wrong password (no password was checked): the
		// answer must not tell which names belong to a disabled source.
		secret.BurnPasswordCheck(password)
		return nil, 0, wrongPassword(existing, "the account's source "+src.Name+" is disabled")
	case errors.Is(err, identity.ErrAccountDisabled):
		return nil, 0, wrongPassword(existing, "the account is disabled")
	case errors.Is(err, identity.ErrEmailTaken), errors.Is(err, identity.ErrUsernameTaken),
		errors.Is(err, identity.ErrNoUsername), errors.Is(err, identity.ErrLinkedElsewhere):
		return nil, 0, &loginRefused{status: http.StatusConflict, user: existing, why: err.Error(),
			message: "Your directory account cannot be used here: " + err.Error() + ". Ask an administrator."}
	}
	return nil, 0, err
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
