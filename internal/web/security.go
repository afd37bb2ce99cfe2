package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/mfa"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// securityPath is the page where a user manages their second factors and
// recovery codes.
const securityPath = "/user/settings/security"

// mountSecurity registers the security page and its forms.
func (p *Pages) mountSecurity(rt *Router) {
	rt.HandleFunc("GET "+securityPath, p.security)
	rt.HandleFunc("GET "+securityPath+"/totp", p.securityTOTPForm)
	rt.HandleFunc("POST "+securityPath+"/totp", p.securityTOTP)
	rt.HandleFunc("POST "+securityPath+"/factors/{factor}/remove", p.securityRemove)
	rt.HandleFunc("POST "+securityPath+"/recovery", p.securityRecovery)
}

// factorRow is a factor on the security page.
type factorRow struct {
	ID       int64
	Kind     string // "Authenticator app", "Security key or passkey"
	Name     string
	Added    string
	LastUsed string
}

// securityData is the security page.
type securityData struct {
	Notice   string
	Factors  []factorRow
	Recovery int
	// Required: the policy requires a factor of this user, so the last
	// one cannot be removed.
	Required bool
	// Identities are the upstream providers the user can sign in with or
	// link: linked ones first.
	Identities []identityRow
}

// identityRow is an upstream provider on the security page.
type identityRow struct {
	Source  string // its name, in the link and unlink paths
	Name    string // its display name
	Linked  bool
	Owned   bool // the account belongs to it: the link stays
	Enabled bool
}

func (p *Pages) security(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	factors, err := p.store.ListFactors(r.Context(), user.ID)
	if err != nil {
		return err
	}
	d := securityData{Notice: notice(r), Required: p.policyCovers(r.Context(), user)}
	for _, f := range factors {
		row := factorRow{ID: f.ID, Kind: "Authenticator app", Name: f.Name, Added: day(f.CreatedAt), LastUsed: "never"}
		if f.Kind == store.FactorWebAuthn {
			row.Kind = "Security key or passkey"
		}
		if !f.LastUsedAt.IsZero() {
			row.LastUsed = day(f.LastUsedAt)
		}
		d.Factors = append(d.Factors, row)
	}
	if d.Recovery, err = p.store.CountRecoveryCodes(r.Context(), user.ID); err != nil {
		return err
	}
	if d.Identities, err = p.identityRows(r.Context(), user); err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "security", "Sign-in security", user, d)
	return nil
}

// identityRows lists the user's linked identities and the enabled
// upstream providers they could link.
func (p *Pages) identityRows(ctx context.Context, user *store.User) ([]identityRow, error) {
	if p.cfg.Identity == nil {
		return nil, nil
	}
	sources, err := p.cfg.Identity.List(ctx)
	if err != nil {
		return nil, err
	}
	links, err := p.store.ListUserIdentities(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	linked := map[int64]bool{}
	for _, l := range links {
		linked[l.SourceID] = true
	}
	var rows, open []identityRow
	for _, src := range sources {
		if src.Kind != store.SourceOIDC {
			continue
		}
		row := identityRow{Source: src.Name, Name: src.DisplayName, Linked: linked[src.ID], Owned: user.SourceID == src.ID,
			Enabled: src.Enabled}
		switch {
		case row.Linked:
			rows = append(rows, row)
		case src.Enabled:
			open = append(open, row)
		}
	}
	return append(rows, open...), nil
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// securityTOTPForm shows a new TOTP key to add, as text and as a QR code.
func (p *Pages) securityTOTPForm(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	d, err := p.newEnrolData(user, securityPath+"/totp", securityPath)
	if err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "enrol", "Add an authenticator app", user, d)
	return nil
}

// securityTOTP saves the key once a code confirms it; new recovery codes
// are shown once if the user had none left.
func (p *Pages) securityTOTP(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	codes, ok, err := p.addTOTP(w, r, user, securityPath+"/totp", securityPath, false)
	if err != nil || !ok {
		return err
	}
	if len(codes) > 0 {
		p.render(w, r, http.StatusOK, "recovery_codes", "Your recovery codes", user,
			recoveryData{Codes: codes, Continue: securityPath + "?done=factor_added"})
		return nil
	}
	redirectDone(w, r, securityPath, "factor_added")
	return nil
}

// securityRemove removes a factor after the person proves it is them
// again: with their password or a current code of an authenticator app.
// A wrong answer is a guess, charged to the throttle as a wrong current
// password is on the account page. The last factor of a user the policy
// covers cannot be removed; removing the last factor also removes the
// recovery codes, which would be of no use.
func (p *Pages) securityRemove(w http.ResponseWriter, r *http.Request) error {
	user, session, err := p.signedIn(r)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("factor"), 10, 64)
	if err != nil {
		return refuse(http.StatusNotFound, "There is no such factor.")
	}
	factors, err := p.store.ListFactors(r.Context(), user.ID)
	if err != nil {
		return err
	}
	var factor *store.Factor
	for i := range factors {
		if factors[i].ID == id {
			factor = &factors[i]
		}
	}
	if factor == nil {
		return refuse(http.StatusNotFound, "There is no such factor.")
	}
	if len(factors) == 1 && p.policyCovers(r.Context(), user) {
		return refuse(http.StatusForbidden, "Your account must have a second factor. Add another one before you remove this one.")
	}
	password, code := r.PostForm.Get("password"), r.PostForm.Get("code")
	ask := func(status int, msg string) error {
		p.render(w, r, status, "security_remove", "Remove "+factor.Name+"?", user, struct {
			Action, Name, Error string
		}{r.URL.Path, factor.Name, msg})
		return nil
	}
	if password == "" && code == "" {
		return ask(http.StatusOK, "")
	}
	account := accountName(user.Username)
	keys := []throttleKey{pairKey(account, r), {name: "session:" + session.ID, kind: perRequester, gate: true},
		{name: account, kind: perAccount}}
	wait, err := p.throttle.Reserve(r.Context(), keys...)
	if err != nil {
		return err
	}
	if wait > 0 {
		return ask(http.StatusTooManyRequests, tooManyAttempts(wait))
	}
	proven := false
	if password != "" {
		if user.PasswordHash != "" {
			proven, err = secret.CheckPassword(user.PasswordHash, password)
		}
	} else {
		_, err = p.cfg.Factors.CheckTOTP(r.Context(), user.ID, code)
		proven = err == nil
		if errors.Is(err, mfa.ErrWrongCode) {
			err = nil
		}
	}
	if err != nil {
		return errors.Join(err, p.throttle.Release(r.Context(), keys...))
	}
	if !proven {
		return ask(http.StatusUnauthorized, "That is not your password or a current code of your authenticator app.")
	}
	if err := p.throttle.Release(r.Context(), keys...); err != nil {
		return err
	}
	if err := p.store.DeleteFactor(r.Context(), user.ID, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	detail := fmt.Sprintf("%s %s", map[store.FactorKind]string{store.FactorTOTP: "authenticator app",
		store.FactorWebAuthn: "security key or passkey"}[factor.Kind], quoted(factor.Name))
	if len(factors) == 1 {
		if err := p.store.ReplaceRecoveryCodes(r.Context(), user.ID, nil, p.provider.Now()); err != nil {
			return err
		}
		detail += "; the last factor, so the recovery codes went too"
	}
	p.audit(r, event(audit.FactorRemoved, user, "", detail))
	redirectDone(w, r, securityPath, "factor_removed")
	return nil
}

// securityRecovery replaces the user's recovery codes by new ones and
// shows them once. Only a user with a factor has recovery codes.
func (p *Pages) securityRecovery(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	has, err := p.cfg.Factors.Has(r.Context(), user.ID)
	if err != nil {
		return err
	}
	if !has {
		return refuse(http.StatusBadRequest, "Add a second factor first: recovery codes stand in for a lost one.")
	}
	codes, err := p.cfg.Factors.GenerateRecoveryCodes(r.Context(), user.ID)
	if err != nil {
		return err
	}
	p.audit(r, event(audit.RecoveryGenerated, user, "", pluralize(len(codes), "recovery code")+"; the old ones no longer work"))
	p.render(w, r, http.StatusOK, "recovery_codes", "Your recovery codes", user,
		recoveryData{Codes: codes, Continue: securityPath})
	return nil
}
