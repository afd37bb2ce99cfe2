package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"latchkey/internal/audit"
	"latchkey/internal/oauth"
	"latchkey/internal/passkey"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// Security keys and passkeys (WebAuthn, package passkey).
//
// Each ceremony is a pair of JSON endpoints that the page's one script
// (static/webauthn.js) calls with same-origin fetches: begin answers the
// options for navigator.credentials.create or .get, and sets the
// ceremony's sealed state in an HttpOnly cookie of its own; finish takes
// the browser's PublicKeyCredential, opens the state, verifies, and
// answers where to go next. Both are ordinary POSTs of form fields
// (application/x-www-form-urlencoded) on the page router, so the CSRF
// token of the page travels as every form's does (csrf_token) and the
// router checks it before the handler runs; the browser's credential goes
// in the field "credential". An answer is {"redirect": path} or
// {"error": message}, the message in plain words for the person.
//
// The pages work without JavaScript except these buttons, which the
// script shows only where the browser has WebAuthn.

const (
	// webauthnRegisterPath enrols a key for the signed-in user (the
	// security page); webauthnSignInPath signs in with a passkey alone
	// (the sign-in page); webauthnFactorPath is the second step of a
	// pending sign-in (the factor page).
	webauthnRegisterPath = securityPath + "/webauthn"
	webauthnSignInPath   = "/login/passkey"
	webauthnFactorPath   = "/login/factor/webauthn"
	// webauthnEnrolPath enrols a key as the first factor of a pending
	// sign-in whose user the policy requires one of (the enrolment page).
	webauthnEnrolPath = "/login/enrol/webauthn"
	// webauthnCookie prefixes the cookie of a begun ceremony's state; the
	// purpose follows, so that ceremonies in two tabs do not meet.
	webauthnCookie = "latchkey_webauthn_"
	// credentialField is the form field of the browser's credential.
	credentialField = "credential"
)

// mountPasskeys registers the ceremonies' endpoints, when the base URL
// allows passkeys (it has a host name).
func (p *Pages) mountPasskeys(rt *Router) {
	if p.passkeys == nil {
		return
	}
	rt.HandleFunc("POST "+webauthnRegisterPath+"/begin", p.webauthnRegisterBegin)
	rt.HandleFunc("POST "+webauthnRegisterPath+"/finish", p.webauthnRegisterFinish)
	rt.HandleFunc("POST "+webauthnSignInPath+"/begin", p.webauthnSignInBegin)
	rt.HandleFunc("POST "+webauthnSignInPath+"/finish", p.webauthnSignInFinish)
	rt.HandleFunc("POST "+webauthnFactorPath+"/begin", p.webauthnFactorBegin)
	rt.HandleFunc("POST "+webauthnFactorPath+"/finish", p.webauthnFactorFinish)
	rt.HandleFunc("POST "+webauthnEnrolPath+"/begin", p.webauthnEnrolBegin)
	rt.HandleFunc("POST "+webauthnEnrolPath+"/finish", p.webauthnEnrolFinish)
}

// ceremonyAnswer is what a finish endpoint answers.
type ceremonyAnswer struct {
	Redirect string `json:"redirect,omitempty"`
	Error    string `json:"error,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// answerCeremony writes a begun ceremony: its state in the purpose's
// cookie, its options as the body.
func (p *Pages) answerCeremony(w http.ResponseWriter, c passkey.Ceremony, purpose passkey.Purpose) {
	http.SetCookie(w, p.cookie(webauthnCookie+string(purpose), c.State, passkey.StateTTL))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(c.Options)
}

// ceremonyState returns the state of the purpose's begun ceremony ("" if
// none) and clears its cookie: a state is used once by this browser.
func (p *Pages) ceremonyState(w http.ResponseWriter, r *http.Request, purpose passkey.Purpose) string {
	c, err := r.Cookie(p.cookieName(webauthnCookie + string(purpose)))
	if err != nil {
		return ""
	}
	http.SetCookie(w, p.cookie(webauthnCookie+string(purpose), "", -1))
	return c.Value
}

// refusal words a refused ceremony for the person, with the status to
// answer; ok is false for an error that is no refusal (a fault).
func refusal(err error, purpose passkey.Purpose) (int, string, bool) {
	switch {
	case errors.Is(err, passkey.ErrState):
		return http.StatusBadRequest, "This request expired or did not start on this page. Try again.", true
	case errors.Is(err, passkey.ErrUnknownCredential):
		if purpose == passkey.SignIn {
			return http.StatusUnauthorized, "That passkey is not registered for any account here. Sign in with your " +
				"password, then add the passkey on your security page.", true
		}
		return http.StatusUnauthorized, "That security key or passkey is not one of yours here. Use one you added to your account.", true
	case errors.Is(err, passkey.ErrCloned):
		return http.StatusUnauthorized, "Your security key answered with a count it had used before, so Latchkey refused " +
			"it: the key may have been copied. Use another way to sign in, and remove the key if you did not expect this.", true
	case errors.Is(err, passkey.ErrAlreadyRegistered):
		return http.StatusConflict, "That security key or passkey is already registered.", true
	case errors.Is(err, passkey.ErrNoCredentials):
		return http.StatusBadRequest, "You have no security key or passkey.", true
	case errors.Is(err, passkey.ErrResponse):
		if purpose == passkey.SignIn {
			return http.StatusUnauthorized, "The passkey's answer could not be verified. A passkey must check that it is " +
				"you (a PIN, fingerprint or face); try again.", true
		}
		return http.StatusUnauthorized, "The security key's answer could not be verified. Try again.", true
	}
	return 0, "", false
}

// refuseCeremony answers a refused finish, logging what it was; an error
// that is no refusal is returned for the renderer.
func (p *Pages) refuseCeremony(w http.ResponseWriter, r *http.Request, user *store.User, err error, purpose passkey.Purpose) error {
	status, msg, ok := refusal(err, purpose)
	if !ok {
		return err
	}
	p.log.Info("WebAuthn ceremony refused", "purpose", string(purpose), "user", username(user), "reason", err.Error())
	writeJSON(w, status, ceremonyAnswer{Error: msg})
	return nil
}

// refusalKind names a refusal for the audit trail in fixed words (the
// library's detail may quote what the browser sent).
func refusalKind(err error) string {
	switch {
	case errors.Is(err, passkey.ErrState):
		return "expired or foreign ceremony"
	case errors.Is(err, passkey.ErrUnknownCredential):
		return "unknown credential"
	case errors.Is(err, passkey.ErrCloned):
		return "signature counter went back"
	}
	return "the answer does not verify"
}

func username(u *store.User) string {
	if u == nil {
		return ""
	}
	return u.Username
}

// webauthnRegisterBegin starts enrolling a key for the signed-in user once
// they typed their password again (field password): a passkey signs in on
// its own and outlives a password change, so whoever took over a session
// must not be able to plant one. A wrong password is a guess, charged to
// the throttle as on the removal form.
func (p *Pages) webauthnRegisterBegin(w http.ResponseWriter, r *http.Request) error {
	user, session, err := p.signedIn(r)
	if err != nil {
		return err
	}
	if ok, err := p.passwordAgain(w, r, user, session); err != nil || !ok {
		return err
	}
	c, err := p.passkeys.BeginRegistration(r.Context(), *user)
	if err != nil {
		return err
	}
	p.answerCeremony(w, c, passkey.Register)
	return nil
}

// passwordAgain checks the password the form carries for the signed-in
// user, throttled; when it is wrong it answers and returns false.
func (p *Pages) passwordAgain(w http.ResponseWriter, r *http.Request, user *store.User, session *store.Session) (bool, error) {
	account := accountName(user.Username)
	keys := []throttleKey{pairKey(account, r), {name: "session:" + session.ID, kind: perRequester, gate: true},
		{name: account, kind: perAccount}}
	wait, err := p.throttle.Reserve(r.Context(), keys...)
	if err != nil {
		return false, err
	}
	if wait > 0 {
		writeJSON(w, http.StatusTooManyRequests, ceremonyAnswer{Error: tooManyAttempts(wait)})
		return false, nil
	}
	password := r.PostForm.Get("password")
	ok := false
	if user.PasswordHash != "" && password != "" {
		if ok, err = secret.CheckPassword(user.PasswordHash, password); err != nil {
			return false, errors.Join(err, p.throttle.Release(r.Context(), keys...))
		}
	}
	if !ok {
		writeJSON(w, http.StatusUnauthorized, ceremonyAnswer{Error: "That is not your password. Type your password to add a security key or passkey."})
		return false, nil
	}
	return true, p.throttle.Release(r.Context(), keys...)
}

// webauthnRegisterFinish stores the key the browser made and sends the
// person back to the security page.
func (p *Pages) webauthnRegisterFinish(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	state := p.ceremonyState(w, r, passkey.Register)
	name := trimName(r.PostForm.Get("name"), "") // empty: package passkey names it by its kind
	f, err := p.passkeys.FinishRegistration(r.Context(), *user, state, []byte(r.PostForm.Get(credentialField)), name)
	if err != nil {
		return p.refuseCeremony(w, r, user, err, passkey.Register)
	}
	p.audit(r, event(audit.FactorAdded, user, "", factorWords(f)))
	to, err := p.afterKeyAdded(r, user)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ceremonyAnswer{Redirect: to})
	return nil
}

// factorWords names a WebAuthn factor in the audit trail: its kind and
// name.
func factorWords(f store.Factor) string {
	kind := "security key"
	if passkey.IsPasskey(f) {
		kind = "passkey"
	}
	return kind + " " + quoted(f.Name)
}

// webauthnSignInBegin starts a password-less sign-in.
func (p *Pages) webauthnSignInBegin(w http.ResponseWriter, r *http.Request) error {
	c, err := p.passkeys.BeginSignIn(r.Context())
	if err != nil {
		return err
	}
	p.answerCeremony(w, c, passkey.SignIn)
	return nil
}

// webauthnSignInFinish signs the person in with the passkey they chose:
// the account is the one the passkey is registered to. The attempt is
// throttled per source like a password's; a disabled account does not
// sign in.
func (p *Pages) webauthnSignInFinish(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.PostForm.Get("next"))
	state := p.ceremonyState(w, r, passkey.SignIn)
	keys := []throttleKey{{name: "passkey|source:" + source(r), kind: perRequester, gate: true}}
	wait, err := p.throttle.Reserve(r.Context(), keys...)
	if err != nil {
		return err
	}
	if wait > 0 {
		writeJSON(w, http.StatusTooManyRequests, ceremonyAnswer{Error: tooManyAttempts(wait)})
		return nil
	}
	res, err := p.passkeys.FinishSignIn(r.Context(), state, []byte(r.PostForm.Get(credentialField)))
	if err != nil {
		if _, _, ok := refusal(err, passkey.SignIn); !ok {
			return errors.Join(err, p.throttle.Release(r.Context(), keys...))
		}
		if errors.Is(err, passkey.ErrState) { // no guess: a ceremony that expired or never began
			if err := p.throttle.Release(r.Context(), keys...); err != nil {
				return err
			}
		}
		p.audit(r, event(audit.LoginFailed, nil, "", "passkey refused: "+refusalKind(err)))
		return p.refuseCeremony(w, r, nil, err, passkey.SignIn)
	}
	user, err := p.store.GetUser(r.Context(), res.UserID)
	if err != nil {
		return errors.Join(err, p.throttle.Release(r.Context(), keys...))
	}
	if user.Disabled {
		p.audit(r, event(audit.LoginFailed, &user, "", "the account is disabled"))
		writeJSON(w, http.StatusUnauthorized, ceremonyAnswer{Error: "This account is disabled."})
		return nil
	}
	if err := p.throttle.Release(r.Context(), keys...); err != nil {
		return err
	}
	if err := p.throttle.Reset(r.Context(), keys[0].name); err != nil {
		return err
	}
	if _, err := p.startSession(w, r, &user, store.SignIn{AMR: res.AMR, ACR: oauth.ACRMultiFactor}, 0); err != nil {
		return err
	}
	attempt := p.loginAttempt(r, user.Username)
	p.rememberBrowser(w, attempt.account, attempt.browser)
	p.audit(r, event(audit.Login, &user, "", "passkey "+quoted(res.Factor.Name)))
	writeJSON(w, http.StatusOK, ceremonyAnswer{Redirect: next})
	return nil
}

// afterKeyAdded is where the person goes after adding a key: the security
// page, which asks them to make recovery codes when they have none.
func (p *Pages) afterKeyAdded(r *http.Request, user *store.User) (string, error) {
	left, err := p.store.CountRecoveryCodes(r.Context(), user.ID)
	if err != nil {
		return "", err
	}
	done := "key_added"
	if left == 0 {
		done = "key_added_no_codes"
	}
	return securityPath + "?" + url.Values{"done": {done}}.Encode(), nil
}

// amrHardwareKey is RFC 8176's method of a security key or passkey.
const amrHardwareKey = "hwk"

// pendingJSON returns the request's pending sign-in, or answers that it
// expired (user nil).
func (p *Pages) pendingJSON(w http.ResponseWriter, r *http.Request) (*store.User, *store.PendingLogin, error) {
	user, pl, err := p.currentPending(r)
	if err != nil || user != nil {
		return user, pl, err
	}
	writeJSON(w, http.StatusUnauthorized, ceremonyAnswer{Error: "Your sign-in has expired. Reload the page and sign in again."})
	return nil, nil, nil
}

// answerPageError answers a page error (of finishSignIn, say) as JSON;
// other errors are returned for the renderer.
func answerPageError(w http.ResponseWriter, err error) error {
	var pe *pageError
	if errors.As(err, &pe) {
		writeJSON(w, pe.status, ceremonyAnswer{Error: pe.message})
		return nil
	}
	return err
}

// webauthnFactorBegin starts the second step of a pending sign-in with
// one of the user's keys.
func (p *Pages) webauthnFactorBegin(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.pendingJSON(w, r)
	if err != nil || user == nil {
		return err
	}
	c, err := p.passkeys.BeginSecondFactor(r.Context(), *user)
	if err != nil {
		return p.refuseCeremony(w, r, user, err, passkey.SecondFactor)
	}
	p.answerCeremony(w, c, passkey.SecondFactor)
	return nil
}

// webauthnFactorFinish checks the key's answer and finishes the sign-in
// (password and security key: amr [pwd hwk mfa]). Attempts are throttled
// as the factor page's codes are.
func (p *Pages) webauthnFactorFinish(w http.ResponseWriter, r *http.Request) error {
	state := p.ceremonyState(w, r, passkey.SecondFactor)
	user, pl, err := p.pendingJSON(w, r)
	if err != nil || user == nil {
		return err
	}
	next := safeNext(r.PostForm.Get("next"))
	attempt := p.factorAttempt(r, user.Username)
	wait, err := p.throttle.Reserve(r.Context(), attempt.keys...)
	if err != nil {
		return err
	}
	if wait > 0 {
		writeJSON(w, http.StatusTooManyRequests, ceremonyAnswer{Error: tooManyAttempts(wait)})
		return nil
	}
	res, err := p.passkeys.FinishSecondFactor(r.Context(), *user, state, []byte(r.PostForm.Get(credentialField)))
	if err != nil {
		if _, _, ok := refusal(err, passkey.SecondFactor); !ok {
			return errors.Join(err, p.throttle.Release(r.Context(), attempt.keys...))
		}
		if errors.Is(err, passkey.ErrState) { // no guess: a ceremony that expired or never began
			if err := p.throttle.Release(r.Context(), attempt.keys...); err != nil {
				return err
			}
		}
		p.audit(r, event(audit.LoginFactorFailed, user, "", "security key refused: "+refusalKind(err)))
		return p.refuseCeremony(w, r, user, err, passkey.SecondFactor)
	}
	if err := p.throttle.Release(r.Context(), attempt.keys...); err != nil {
		return err
	}
	if err := p.throttle.Reset(r.Context(), attempt.clear...); err != nil {
		return err
	}
	if err := p.finishSignIn(w, r, user, pl, signInWith(pl.AMR, amrHardwareKey), "with "+factorWords(res.Factor)); err != nil {
		return answerPageError(w, err)
	}
	writeJSON(w, http.StatusOK, ceremonyAnswer{Redirect: next})
	return nil
}

// webauthnEnrolBegin starts enrolling a key as the first factor of a
// pending sign-in that the policy stopped for want of one.
func (p *Pages) webauthnEnrolBegin(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.pendingJSON(w, r)
	if err != nil || user == nil {
		return err
	}
	c, err := p.passkeys.BeginRegistration(r.Context(), *user)
	if err != nil {
		return err
	}
	p.answerCeremony(w, c, passkey.Register)
	return nil
}

// webauthnEnrolFinish stores the key and finishes the sign-in with it
// (the key was used to make the credential: [pwd hwk mfa]), then goes on
// where the sign-in was going; recovery codes are made on the security
// page, whose notice asks for them (key_added_no_codes). A user who has a
// factor by now (another tab) is refused, to reload and use it.
func (p *Pages) webauthnEnrolFinish(w http.ResponseWriter, r *http.Request) error {
	state := p.ceremonyState(w, r, passkey.Register)
	user, pl, err := p.pendingJSON(w, r)
	if err != nil || user == nil {
		return err
	}
	next := safeNext(r.PostForm.Get("next"))
	has, err := p.cfg.Factors.Has(r.Context(), user.ID)
	if err != nil {
		return err
	}
	if has {
		writeJSON(w, http.StatusConflict, ceremonyAnswer{Error: "Your account has a second factor now. Reload the page to use it."})
		return nil
	}
	f, err := p.passkeys.FinishRegistration(r.Context(), *user, state, []byte(r.PostForm.Get(credentialField)), trimName(r.PostForm.Get("name"), ""))
	if err != nil {
		return p.refuseCeremony(w, r, user, err, passkey.Register)
	}
	p.audit(r, event(audit.FactorAdded, user, "", factorWords(f)))
	if err := p.finishSignIn(w, r, user, pl, signInWith(pl.AMR, amrHardwareKey), "with "+factorWords(f)+", set up now"); err != nil {
		return answerPageError(w, err)
	}
	writeJSON(w, http.StatusOK, ceremonyAnswer{Redirect: next})
	return nil
}
