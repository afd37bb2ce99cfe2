package web

import (
	"cmp"
	"errors"
	"net/http"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/store"
)

// Paths of the address change: the account page's form, and the page the
// mailed link leads to (admin.VerifyPath), which asks for a click before
// it changes anything, since mail scanners open links on their own.
const (
	emailPath  = accountPath + "/email"
	verifyPath = admin.VerifyPath
)

// mountEmail registers the address change pages.
func (p *Pages) mountEmail(rt *Router) {
	rt.HandleFunc("POST "+emailPath, p.changeEmail)
	rt.HandleFunc("GET "+verifyPath, p.verifyForm)
	rt.HandleFunc("POST "+verifyPath, p.verifyEmail)
}

// emailForm is the address part of the account page.
type emailForm struct {
	Enabled bool   // people can change their own address (mail can be sent)
	NoMail  string // why not, when not
	Pending *store.EmailVerification
	Value   string // as typed, after a refusal
	Error   string
}

// emailFormFor is the address form of user, with their pending change.
func (p *Pages) emailFormFor(r *http.Request, user *store.User) (emailForm, error) {
	f := emailForm{Enabled: p.cfg.Emails.Enabled()}
	if !f.Enabled {
		f.NoMail = admin.NoMailMessage
	}
	v, err := p.store.PendingEmailVerification(r.Context(), user.ID)
	switch {
	case err == nil && p.provider.Now().Before(v.ExpiresAt):
		f.Pending = &v
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return f, err
	}
	return f, nil
}

// changeEmail asks for a new address: a link goes to it, and the address
// is the user's only once they follow it. Without a mail server the
// change is refused on the page.
func (p *Pages) changeEmail(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	email := r.PostForm.Get("email")
	sent, err := p.cfg.Emails.Request(r.Context(), *user, email)
	if err == nil {
		done := "email_unchanged"
		switch {
		case sent:
			done = "email_sent"
			p.audit(r, event(audit.EmailChangeRequested, user, "", ""))
		case email == "" && user.Email != "":
			done = "email_removed"
			p.audit(r, event(audit.AccountUpdated, user, "", "email removed"))
		}
		redirectDone(w, r, accountPath, done)
		return nil
	}
	var ae *admin.Error
	if !errors.As(err, &ae) {
		return err
	}
	status := emailRefusalStatus(err)
	if status >= 500 {
		p.log.Error("send email confirmation", "error", err)
	}
	form, ferr := p.emailFormFor(r, user)
	if ferr != nil {
		return ferr
	}
	form.Value, form.Error = email, sentence(ae.Message)
	p.render(w, r, status, "account", "Account", user,
		accountData{MinLength: admin.MinPasswordLength, Email: form})
	return nil
}

// emailRefusalStatus is the status of a page that refuses an address
// change: admin.Status's, 400 for any other refusal.
func emailRefusalStatus(err error) int { return cmp.Or(admin.Status(err), http.StatusBadRequest) }

// verifyData is the page a confirmation link leads to.
type verifyData struct {
	Email string
	Token string
}

// verifyForm shows the address a link confirms, to the signed-in user it
// was sent for, with the button that confirms it. It changes nothing.
func (p *Pages) verifyForm(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	token := r.URL.Query().Get("token")
	v, err := p.cfg.Emails.Pending(r.Context(), user.ID, token)
	if err != nil {
		return p.linkRefused(err)
	}
	p.render(w, r, http.StatusOK, "verify_email", "Confirm your email address", user, verifyData{Email: v.Email, Token: token})
	return nil
}

// verifyEmail confirms the address: it becomes the user's, verified, and
// the link stops working. A link of another account, used, replaced or
// expired changes nothing.
func (p *Pages) verifyEmail(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	u, err := p.cfg.Emails.Confirm(r.Context(), user.ID, r.PostForm.Get("token"))
	if err != nil {
		return p.linkRefused(err)
	}
	p.audit(r, event(audit.EmailConfirmed, &u, "", ""))
	redirectDone(w, r, accountPath, "email_confirmed")
	return nil
}

// linkRefused turns a refused confirmation into its page.
func (p *Pages) linkRefused(err error) error {
	var ae *admin.Error
	if !errors.As(err, &ae) {
		return err
	}
	if errors.Is(err, store.ErrAlreadyExists) {
		return refuse(http.StatusConflict, ae.Message)
	}
	return refuse(http.StatusBadRequest, ae.Message)
}
