package web

import (
	"errors"
	"net/http"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/store"
)

// accountData is the account page with the address and password forms.
type accountData struct {
	Notice    string
	Error     string
	MinLength int
	Email     emailForm
}

// account shows the address and password change forms.
func (p *Pages) account(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	form, err := p.emailFormFor(r, user)
	if err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "account", "Account", user,
		accountData{Notice: notice(r), MinLength: admin.MinPasswordLength, Email: form})
	return nil
}

// changePassword sets a new password after checking the current one, then
// ends every other session of the user and gives this browser a fresh one.
// A wrong current password is a guess: it is charged, before the check, to
// the account seen from this source (the same counter failed sign-ins
// use) and to this session, and counts towards the account's ceiling
// without being stopped by it (the form needs a session already), so
// failures elsewhere never keep a signed-in user from changing it.
func (p *Pages) changePassword(w http.ResponseWriter, r *http.Request) error {
	user, session, err := p.signedIn(r)
	if err != nil {
		return err
	}
	again := func(status int, msg string) error {
		form, err := p.emailFormFor(r, user)
		if err != nil {
			return err
		}
		p.render(w, r, status, "account", "Account", user, accountData{Error: msg, MinLength: admin.MinPasswordLength, Email: form})
		return nil
	}
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	if next != r.PostForm.Get("confirm_password") {
		return again(http.StatusBadRequest, "The two new passwords do not match. Type the same new password twice.")
	}
	account := accountName(user.Username)
	keys := []throttleKey{pairKey(account, r), {name: "session:" + session.ID, kind: perRequester, gate: true},
		{name: account, kind: perAccount}}
	if wait := p.throttle.Reserve(keys...); wait > 0 {
		return again(http.StatusTooManyRequests, tooManyAttempts(wait))
	}
	err = admin.ChangePassword(r.Context(), p.store, user.ID, current, next)
	if errors.Is(err, admin.ErrWrongPassword) {
		p.audit(r, event(audit.PasswordChangeFailed, user, "", "wrong current password"))
		return again(http.StatusBadRequest, "The current password is not correct.")
	}
	p.throttle.Release(keys...)
	var refused *admin.PasswordError
	switch {
	case errors.As(err, &refused):
		return again(http.StatusBadRequest, refused.Message)
	case err != nil:
		return err
	}
	p.throttle.Reset(keys[0].name)
	return p.endOtherSessions(w, r, user)
}

// endOtherSessions gives this browser a new session and deletes every
// other session of the user, then confirms the change.
func (p *Pages) endOtherSessions(w http.ResponseWriter, r *http.Request, user *store.User) error {
	id, err := p.startSession(w, r, user.ID)
	if err != nil {
		return err
	}
	n, err := p.store.DeleteUserSessions(r.Context(), user.ID, id)
	if err != nil {
		return err
	}
	p.audit(r, event(audit.PasswordChanged, user, "", pluralize(n, "other session")+" ended"))
	redirectDone(w, r, accountPath, "password")
	return nil
}
