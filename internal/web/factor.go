package web

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"latchkey/internal/audit"
	"latchkey/internal/mfa"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// The second step of the sign-in.
//
// A correct password starts a session only for a user who has no second
// factor and whom the policy (--require-second-factor) does not cover.
// Anyone else gets a pending sign-in instead (store.PendingLogin): its own
// short-lived cookie, which is no session, so every page that needs a
// signed-in user (the authorization endpoint and consent above all) still
// sees nobody signed in; askSignIn then sends the person to the factor
// page rather than to the password again. The factor page takes a TOTP
// code or a recovery code (and, from package passkey, a security key or
// passkey); a user the policy covers who has no factor enrols one there
// (enrolPath). Only then does startSession start a session.
//
// Step-up: a signed-in user whose session is of a lower class than an
// authorization request asks for (acr_values) gets a pending sign-in
// carrying what the session already proved, goes through the same factor
// page, and comes back to the request with a new session.

const (
	// pendingCookie carries a pending sign-in (see cookieName).
	pendingCookie = "latchkey_pending"
	// pendingTTL is how long a pending sign-in waits for its factor.
	pendingTTL = 5 * time.Minute
	// factorPath asks for the second factor; enrolPath enrols one when
	// the policy requires it of a user who has none.
	factorPath = "/login/factor"
	enrolPath  = "/login/enrol"
)

// Authentication method references (RFC 8176) that the pages record.
const (
	amrPassword = "pwd"
	amrOTP      = "otp"
	amrMFA      = "mfa"
)

// Second-factor policies (--require-second-factor).
const (
	PolicyOff      = "off"
	PolicyAdmins   = "admins"
	PolicyEveryone = "everyone"
)

// signInWith is the sign-in of a first step that proved first (its AMR)
// and a second step by method: an AMR value (TOTP's "otp"; "" for a
// recovery code, which RFC 8176 has no name for). Two steps add up to
// "mfa" and the multi-factor class. Package passkey's ceremony passes
// "hwk" (and adds "user" when the authenticator verified the user).
func signInWith(first []string, method string) store.SignIn {
	amr := slices.Clone(first)
	if method != "" && !slices.Contains(amr, method) {
		amr = append(amr, method)
	}
	if !slices.Contains(amr, amrMFA) {
		amr = append(amr, amrMFA)
	}
	return store.SignIn{AMR: amr, ACR: oauth.ACRMultiFactor}
}

// passwordOnly is the sign-in of a password alone.
func passwordOnly() store.SignIn {
	return store.SignIn{AMR: []string{amrPassword}, ACR: oauth.ACRPassword}
}

// policyCovers reports whether the second-factor policy requires a factor
// of user.
func (p *Pages) policyCovers(ctx context.Context, user *store.User) bool {
	switch p.cfg.RequireSecondFactor {
	case PolicyEveryone:
		return true
	case PolicyAdmins:
		level, err := p.globalLevel(ctx, user.ID)
		// An error counts as covered: asking for a factor is the safe side.
		return err != nil || level >= scope.GlobalAdmin
	}
	return false
}

// needsSecondStep reports whether a sign-in of user that passed its
// password must pass a second step before a session starts.
func (p *Pages) needsSecondStep(ctx context.Context, user *store.User) (bool, error) {
	has, err := p.cfg.Factors.Has(ctx, user.ID)
	if err != nil {
		return false, err
	}
	return has || p.policyCovers(ctx, user), nil
}

// beginPending starts a pending sign-in of user whose first step proved
// amr through the identity source sourceID (0: local), sets its cookie and sends the browser to the factor page, to come
// back to next.
func (p *Pages) beginPending(w http.ResponseWriter, r *http.Request, user *store.User, amr []string, sourceID int64, next string) error {
	value := secret.New(secret.SessionPrefix)
	now := p.provider.Now()
	err := p.store.CreatePendingLogin(r.Context(), store.PendingLogin{Hash: secret.Hash(value), UserID: user.ID,
		AMR: amr, CreatedAt: now, ExpiresAt: now.Add(pendingTTL), SourceID: sourceID})
	if err != nil {
		return fmt.Errorf("create pending sign-in: %w", err)
	}
	http.SetCookie(w, p.cookie(pendingCookie, value, pendingTTL))
	http.Redirect(w, r, factorPath+"?"+url.Values{"next": {next}}.Encode(), http.StatusSeeOther)
	return nil
}

// currentPending returns the request's live pending sign-in and its user,
// or nils.
func (p *Pages) currentPending(r *http.Request) (*store.User, *store.PendingLogin, error) {
	c, err := r.Cookie(p.cookieName(pendingCookie))
	if err != nil || c.Value == "" {
		return nil, nil, nil
	}
	pl, err := p.store.GetPendingLogin(r.Context(), secret.Hash(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load pending sign-in: %w", err)
	}
	if !p.provider.Now().Before(pl.ExpiresAt) {
		return nil, nil, nil
	}
	u, err := p.store.GetUser(r.Context(), pl.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load pending sign-in user: %w", err)
	}
	if u.Disabled {
		return nil, nil, nil
	}
	return &u, &pl, nil
}

// pendingOrLogin returns the pending sign-in, or asks for the password
// again when there is none (it expired, or was finished elsewhere).
func (p *Pages) pendingOrLogin(r *http.Request) (*store.User, *store.PendingLogin, error) {
	user, pl, err := p.currentPending(r)
	if err != nil {
		return nil, nil, err
	}
	if user == nil {
		if r.Method != http.MethodGet {
			return nil, nil, refuse(http.StatusUnauthorized, "Your sign-in has expired. Sign in again.")
		}
		return nil, nil, &signInFirst{back: safeNext(r.URL.Query().Get("next"))}
	}
	return user, pl, nil
}

// finishSignIn ends a pending sign-in whose second step passed: it
// deletes the pending sign-in (once: a second request finishing the same
// one is refused), starts the session with what the two steps proved
// (signInWith) and remembers the browser. It writes no answer: the caller
// redirects or shows a page. Package passkey's ceremony calls it too.
func (p *Pages) finishSignIn(w http.ResponseWriter, r *http.Request, user *store.User, pl *store.PendingLogin, in store.SignIn, how string) error {
	err := p.store.DeletePendingLogin(r.Context(), pl.Hash)
	if errors.Is(err, store.ErrNotFound) {
		return refuse(http.StatusUnauthorized, "This sign-in was already finished or has expired. Sign in again.")
	}
	if err != nil {
		return fmt.Errorf("delete pending sign-in: %w", err)
	}
	http.SetCookie(w, p.cookie(pendingCookie, "", -1))
	if _, err := p.startSession(w, r, user, in, pl.SourceID); err != nil {
		return err
	}
	attempt := p.loginAttempt(r, user.Username)
	p.rememberBrowser(w, attempt.account, attempt.browser)
	p.audit(r, event(audit.Login, user, "", how))
	return nil
}

// factorAttempt lists the throttle keys of a second-factor attempt for
// username: the keys of a password attempt (loginAttempt), counted apart
// from them under the same rules.
func (p *Pages) factorAttempt(r *http.Request, username string) loginAttempt {
	a := p.loginAttempt(r, username)
	for i := range a.keys {
		a.keys[i].name = "factor|" + a.keys[i].name
	}
	for i := range a.clear {
		a.clear[i] = "factor|" + a.clear[i]
	}
	return a
}

// factorData is the factor page.
type factorData struct {
	Next    string
	Error   string
	HasTOTP bool
	// HasWebAuthn: the user has a security key or passkey (package
	// passkey puts its button on the page).
	HasWebAuthn bool
	Recovery    int // unused recovery codes
}

// factorForm shows the factor page of the pending sign-in.
func (p *Pages) factorForm(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.pendingOrLogin(r)
	if err != nil {
		return err
	}
	next := safeNext(r.URL.Query().Get("next"))
	d, err := p.factorView(r.Context(), user, next)
	if err != nil {
		return err
	}
	if !d.HasTOTP && !d.HasWebAuthn {
		http.Redirect(w, r, enrolPath+"?"+url.Values{"next": {next}}.Encode(), http.StatusSeeOther)
		return nil
	}
	p.render(w, r, http.StatusOK, "factor", "Second step of the sign-in", nil, d)
	return nil
}

func (p *Pages) factorView(ctx context.Context, user *store.User, next string) (factorData, error) {
	d := factorData{Next: next}
	factors, err := p.store.ListFactors(ctx, user.ID)
	if err != nil {
		return d, err
	}
	for _, f := range factors {
		d.HasTOTP = d.HasTOTP || f.Kind == store.FactorTOTP
		d.HasWebAuthn = d.HasWebAuthn || f.Kind == store.FactorWebAuthn
	}
	d.Recovery, err = p.store.CountRecoveryCodes(ctx, user.ID)
	return d, err
}

// factorSubmit checks a TOTP code (field code) or a recovery code (field
// recovery_code) and, if it is good, finishes the sign-in. Every attempt
// is charged to the throttle before the check, as passwords are.
func (p *Pages) factorSubmit(w http.ResponseWriter, r *http.Request) error {
	user, pl, err := p.pendingOrLogin(r)
	if err != nil {
		return err
	}
	next := safeNext(r.PostForm.Get("next"))
	again := func(status int, msg string) error {
		d, err := p.factorView(r.Context(), user, next)
		if err != nil {
			return err
		}
		d.Error = msg
		p.render(w, r, status, "factor", "Second step of the sign-in", nil, d)
		return nil
	}
	code, recovery := r.PostForm.Get("code"), r.PostForm.Get("recovery_code")
	if code == "" && recovery == "" {
		return again(http.StatusBadRequest, "Enter the code from your authenticator app, or a recovery code.")
	}
	attempt := p.factorAttempt(r, user.Username)
	wait, err := p.throttle.Reserve(r.Context(), attempt.keys...)
	if err != nil {
		return err
	}
	if wait > 0 {
		return again(http.StatusTooManyRequests, tooManyAttempts(wait))
	}
	var in store.SignIn
	var how string
	if code != "" {
		_, err = p.cfg.Factors.CheckTOTP(r.Context(), user.ID, code)
		in, how = signInWith(pl.AMR, amrOTP), "with an authenticator app code"
	} else {
		err = p.cfg.Factors.UseRecoveryCode(r.Context(), user.ID, recovery)
		in, how = signInWith(pl.AMR, ""), "with a recovery code"
	}
	if errors.Is(err, mfa.ErrWrongCode) {
		what := "wrong authenticator app code"
		if code == "" {
			what = "wrong or used recovery code"
		}
		p.audit(r, event(audit.LoginFactorFailed, user, "", what))
		msg := "The code is not correct, or was used already. Wait for the next code and try again."
		if code == "" {
			msg = "The recovery code is not correct, or was used already."
		}
		return again(http.StatusUnauthorized, msg)
	}
	if err != nil {
		return errors.Join(err, p.throttle.Release(r.Context(), attempt.keys...))
	}
	if err := p.throttle.Release(r.Context(), attempt.keys...); err != nil {
		return err
	}
	if err := p.throttle.Reset(r.Context(), attempt.clear...); err != nil {
		return err
	}
	if code == "" {
		left, err := p.store.CountRecoveryCodes(r.Context(), user.ID)
		if err != nil {
			return err
		}
		p.audit(r, event(audit.RecoveryUsed, user, "", pluralize(left, "recovery code")+" left"))
	}
	if err := p.finishSignIn(w, r, user, pl, in, how); err != nil {
		return err
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// enrolData is the page that adds an authenticator app: at sign-in when
// the policy requires a factor, and on the security page.
type enrolData struct {
	Action string
	Next   string
	Secret string
	QR     template.URL // data: URI of the otpauth:// URI's QR code, a PNG
	Name   string
	Error  string
	// SignIn: the page is the sign-in's (the policy requires a factor).
	SignIn bool
}

// newEnrolData draws a TOTP key for user and builds its page.
func (p *Pages) newEnrolData(user *store.User, action, next string) (enrolData, error) {
	e, err := mfa.NewEnrolment(p.issuerName(), user.Username)
	if err != nil {
		return enrolData{}, err
	}
	return p.enrolDataFor(e.Secret, user, action, next)
}

// enrolDataFor builds the enrolment page of a TOTP key already drawn.
func (p *Pages) enrolDataFor(secretB32 string, user *store.User, action, next string) (enrolData, error) {
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + p.issuerName() + ":" + user.Username,
		RawQuery: url.Values{"secret": {secretB32}, "issuer": {p.issuerName()}, "algorithm": {"SHA1"},
			"digits": {"6"}, "period": {"30"}}.Encode()}
	png, err := qrcode.Encode(u.String(), qrcode.Medium, 240)
	if err != nil {
		return enrolData{}, fmt.Errorf("QR code: %w", err)
	}
	return enrolData{Action: action, Next: next, Secret: secretB32, Name: "Authenticator app",
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))}, nil
}

// issuerName is the name authenticator apps show for this server: the
// host name of the base URL (without a port: the otpauth label separates
// issuer and account with a colon).
func (p *Pages) issuerName() string {
	if u, err := url.Parse(p.provider.Issuer()); err == nil && u.Hostname() != "" {
		return "Latchkey " + u.Hostname()
	}
	return "Latchkey"
}

// enrolForm shows the sign-in's enrolment page to a pending sign-in of a
// user who has no factor.
func (p *Pages) enrolForm(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.pendingOrLogin(r)
	if err != nil {
		return err
	}
	next := safeNext(r.URL.Query().Get("next"))
	has, err := p.cfg.Factors.Has(r.Context(), user.ID)
	if err != nil {
		return err
	}
	if has {
		http.Redirect(w, r, factorPath+"?"+url.Values{"next": {next}}.Encode(), http.StatusSeeOther)
		return nil
	}
	d, err := p.newEnrolData(user, enrolPath, next)
	if err != nil {
		return err
	}
	d.SignIn = true
	p.render(w, r, http.StatusOK, "enrol", "Set up a second factor", nil, d)
	return nil
}

// enrolSubmit saves the authenticator app once its code confirms it,
// gives the user recovery codes (shown once, on the page that follows),
// and finishes the sign-in.
func (p *Pages) enrolSubmit(w http.ResponseWriter, r *http.Request) error {
	user, pl, err := p.pendingOrLogin(r)
	if err != nil {
		return err
	}
	next := safeNext(r.PostForm.Get("next"))
	has, err := p.cfg.Factors.Has(r.Context(), user.ID)
	if err != nil {
		return err
	}
	if has { // enrolled meanwhile (another tab): the factor page it is
		http.Redirect(w, r, factorPath+"?"+url.Values{"next": {next}}.Encode(), http.StatusSeeOther)
		return nil
	}
	codes, ok, err := p.addTOTP(w, r, user, enrolPath, next, true)
	if err != nil || !ok {
		return err
	}
	if err := p.finishSignIn(w, r, user, pl, signInWith(pl.AMR, amrOTP), "with an authenticator app code, set up now"); err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "recovery_codes", "Your recovery codes", user, recoveryData{Codes: codes, Continue: next})
	return nil
}

// addTOTP saves the TOTP key of the enrolment form if its code confirms
// it, with an audit event, and gives the user new recovery codes when
// they have none left (returned, to show once). When the code is wrong it
// shows the form again and returns ok false.
func (p *Pages) addTOTP(w http.ResponseWriter, r *http.Request, user *store.User, action, next string, signIn bool) ([]string, bool, error) {
	secretB32, valid := mfa.ParseSecret(r.PostForm.Get("secret"))
	if !valid {
		return nil, false, refuse(http.StatusBadRequest, "The form is malformed. Start the set-up again.")
	}
	name := trimName(r.PostForm.Get("name"), "Authenticator app")
	_, err := p.cfg.Factors.AddTOTP(r.Context(), user.ID, name, secretB32, r.PostForm.Get("code"))
	if errors.Is(err, mfa.ErrWrongCode) {
		d, err := p.enrolDataFor(secretB32, user, action, next)
		if err != nil {
			return nil, false, err
		}
		d.SignIn, d.Name = signIn, name
		d.Error = "The code is not correct. Check that the app shows a code for this account, and enter the current one."
		var shown *store.User
		if !signIn {
			shown = user
		}
		p.render(w, r, http.StatusBadRequest, "enrol", "Set up a second factor", shown, d)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	p.audit(r, event(audit.FactorAdded, user, "", "authenticator app "+quoted(name)))
	left, err := p.store.CountRecoveryCodes(r.Context(), user.ID)
	if err != nil || left > 0 {
		return nil, err == nil, err
	}
	codes, err := p.cfg.Factors.GenerateRecoveryCodes(r.Context(), user.ID)
	if err != nil {
		return nil, false, err
	}
	p.audit(r, event(audit.RecoveryGenerated, user, "", pluralize(len(codes), "recovery code")))
	return codes, true, nil
}

// recoveryData is the page that shows new recovery codes, once.
type recoveryData struct {
	Codes []string
	// Continue is where the person goes next.
	Continue string
}

// stepUp sends a signed-in user whose session is of a lower class than
// the request asks for through the factor page (or, without a factor, to
// enrolment), to come back to back. prompt=none cannot show a page: the
// client gets login_required (a sign-in the user must do).
func (p *Pages) stepUp(w http.ResponseWriter, r *http.Request, req *oauth.AuthRequest, user *store.User, session *store.Session, back string) error {
	if req != nil && req.HasPrompt(oauth.PromptNone) {
		return req.Fail(&oauth.Error{Code: oauth.CodeLoginRequired, Description: "the request needs a second factor"})
	}
	amr := session.AMR
	if len(amr) == 0 {
		amr = []string{amrPassword}
	}
	return p.beginPending(w, r, user, amr, session.SourceID, back)
}

// trimName is a name typed for a factor: trimmed, at most 64 characters,
// def when empty.
func trimName(s, def string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return def
	}
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64])
	}
	return s
}

// quoted puts a name typed by a person in quotes for an audit detail.
func quoted(s string) string { return fmt.Sprintf("%q", s) }
