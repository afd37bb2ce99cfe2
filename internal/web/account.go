package web

import (
	"errors"
	"net/http"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/store"
)

// signOutEverywherePath is the account page's "sign out everywhere" form.
const signOutEverywherePath = accountPath + "/sign-out-everywhere"

// accountData is the account page with the address and password forms.
type accountData struct {
	Notice    string
	Error     string
	MinLength int
	Email     emailForm
	// RevokeAll is the password form's box "also sign out everywhere and
	// revoke every application": ticked when the page is first shown.
	RevokeAll bool
	// ManagedBy names the identity source of an account that has no
	// Latchkey password (a directory's or a provider's): its password is
	// changed there.
	ManagedBy string
}

// managedBy is the display name of the source an account of a directory
// or provider belongs to ("" for a local account).
func (p *Pages) managedBy(r *http.Request, user *store.User) string {
	if user.SourceID == 0 {
		return ""
	}
	src, err := p.store.GetIdentitySource(r.Context(), user.SourceID)
	if err != nil {
		return "your organisation's sign-in"
	}
	return src.DisplayName
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
		accountData{Notice: notice(r), MinLength: admin.MinPasswordLength, Email: form, RevokeAll: true,
			ManagedBy: p.managedBy(r, user)})
	return nil
}

// changePassword sets a new password after checking the current one, then
// ends every other session of the user and gives this browser a fresh one.
// With the box revoke_all ticked it also revokes every application's
// tokens of the user (admin.SignOutEverywhere).
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
	if by := p.managedBy(r, user); by != "" {
		return refuse(http.StatusConflict, "Your password is kept by "+by+": change it there.")
	}
	revokeAll := r.PostForm.Get("revoke_all") == "on"
	again := func(status int, msg string) error {
		form, err := p.emailFormFor(r, user)
		if err != nil {
			return err
		}
		p.render(w, r, status, "account", "Account", user,
			accountData{Error: msg, MinLength: admin.MinPasswordLength, Email: form, RevokeAll: revokeAll})
		return nil
	}
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	if next != r.PostForm.Get("confirm_password") {
		return again(http.StatusBadRequest, "The two new passwords do not match. Type the same new password twice.")
	}
	account := accountName(user.Username)
	keys := []throttleKey{pairKey(account, r), {name: "session:" + session.ID, kind: perRequester, gate: true},
		{name: account, kind: perAccount}}
	wait, err := p.throttle.Reserve(r.Context(), keys...)
	if err != nil {
		return err
	}
	if wait > 0 {
		return again(http.StatusTooManyRequests, tooManyAttempts(wait))
	}
	err = admin.ChangePassword(r.Context(), p.store, user.ID, current, next)
	if errors.Is(err, admin.ErrWrongPassword) {
		p.audit(r, event(audit.PasswordChangeFailed, user, "", "wrong current password"))
		return again(http.StatusBadRequest, "The current password is not correct.")
	}
	// Not a wrong guess. The password may have changed already, so a store
	// error giving the reservation back is logged and the change goes on:
	// it leaves the counters higher than they should be, never lower.
	if err := p.throttle.Release(r.Context(), keys...); err != nil {
		p.log.Warn("release throttle", "error", err)
	}
	var refused *admin.PasswordError
	switch {
	case errors.As(err, &refused):
		return again(http.StatusBadRequest, refused.Message)
	case err != nil:
		return err
	}
	if err := p.throttle.Reset(r.Context(), keys[0].name); err != nil {
		p.log.Warn("reset throttle", "error", err)
	}
	return p.endOtherSessions(w, r, user, session, revokeAll)
}

// endOtherSessions gives this browser a new session and deletes every
// other session of the user, with revokeAll every grant of theirs too,
// then confirms the change.
func (p *Pages) endOtherSessions(w http.ResponseWriter, r *http.Request, user *store.User, session *store.Session, revokeAll bool) error {
	// The new session proved what the old one did.
	id, err := p.startSession(w, r, user, store.SignIn{AMR: session.AMR, ACR: session.ACR}, session.SourceID)
	if err != nil {
		return err
	}
	if !revokeAll {
		p.userSignedOut(r.Context(), user.ID, session.SID)
		n, err := p.store.DeleteUserSessions(r.Context(), user.ID, id)
		if err != nil {
			return err
		}
		p.audit(r, event(audit.PasswordChanged, user, "", pluralize(n, "other session")+" ended"))
		redirectDone(w, r, accountPath, "password")
		return nil
	}
	p.userSignedOut(r.Context(), user.ID, session.SID)
	out, err := admin.SignOutEverywhere(r.Context(), p.store, user.ID, id, p.provider.Now())
	if err != nil {
		return err
	}
	p.audit(r, event(audit.PasswordChanged, user, "", pluralize(out.Sessions, "other session")+" ended"))
	p.audit(r, event(audit.SignedOutEverywhere, user, "", signedOutDetail(out)+"; with the password change"))
	redirectDone(w, r, accountPath, "password_revoked")
	return nil
}

// signOutEverywhere ends every session of the user, this one included,
// and revokes every application's tokens of theirs, after asking; then
// it sends the browser to the login page.
func (p *Pages) signOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	if !confirmed(r) {
		return p.askConfirmation(w, r, user, "Sign out everywhere?", confirmData{
			Message: "This signs you out on every browser and device, this one included, and revokes the access " +
				"of every application you authorized: their tokens stop working at once and each must ask you again. " +
				"If you think someone else knows your password, change it as well.",
			Button: "Sign out everywhere", Cancel: accountPath,
		})
	}
	p.userSignedOut(r.Context(), user.ID, "")
	out, err := admin.SignOutEverywhere(r.Context(), p.store, user.ID, "", p.provider.Now())
	if err != nil {
		return err
	}
	p.audit(r, event(audit.SignedOutEverywhere, user, "", signedOutDetail(out)))
	http.SetCookie(w, p.cookie(sessionCookie, "", -1))
	redirectDone(w, r, "/login", "signed_out")
	return nil
}

// signedOutDetail is the audit detail of a sign-out everywhere.
func signedOutDetail(out admin.SignedOut) string {
	return pluralize(out.Sessions, "session") + " ended, " + pluralize(out.Families, "token grant") + " revoked"
}
