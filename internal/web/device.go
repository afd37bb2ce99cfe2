package web

import (
	"errors"
	"latchkey/internal/audit"
	"net/http"
	"net/url"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// devicePaths: the form where the person types the user code, and the
// confirmation (consent) step.
const deviceConfirmPath = oauth.DevicePath + "/confirm"

type deviceData struct {
	UserCode string
	Error    string
}

// deviceForm shows the user-code form, prefilled from verification_uri_complete.
func (p *Pages) deviceForm(w http.ResponseWriter, r *http.Request) {
	user, _, err := p.currentUser(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "device", "Connect a device", user, deviceData{UserCode: r.URL.Query().Get("user_code")})
}

// deviceSubmit checks the typed code and moves on to sign-in and consent.
// Wrong codes count against the client address, like failed logins.
func (p *Pages) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	code := r.PostForm.Get("user_code")
	user, _, err := p.currentUser(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if _, ok := p.lookupDevice(w, r, code, func(msg string) {
		p.render(w, r, http.StatusBadRequest, "device", "Connect a device", user, deviceData{UserCode: code, Error: msg})
	}); !ok {
		return
	}
	next := deviceConfirmPath + "?" + url.Values{"user_code": {oauth.FormatUserCode(oauth.NormalizeUserCode(code))}}.Encode()
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// lookupDevice finds a pending device request, answering through fail
// (and counting the failure) when the code is wrong or guessing is throttled.
func (p *Pages) lookupDevice(w http.ResponseWriter, r *http.Request, code string, fail func(string)) (*oauth.DeviceRequest, bool) {
	key := "device:" + clientAddress(r)
	if wait := p.throttle.Blocked(key); wait > 0 {
		fail(tooManyAttempts(wait))
		return nil, false
	}
	req, err := p.provider.LookupDevice(r.Context(), code)
	if errors.Is(err, oauth.ErrUnknownUserCode) {
		p.throttle.Fail(key)
		p.audit(r, store.AuditEvent{Event: "device.code_rejected", Detail: "a wrong or expired user code was entered"})
		fail("That code is not valid or has expired. Check the code on your device and try again.")
		return nil, false
	}
	if err != nil {
		p.serverError(w, r, err)
		return nil, false
	}
	return req, true
}

// deviceConfirm shows the consent page for a device request, after sign-in.
func (p *Pages) deviceConfirm(w http.ResponseWriter, r *http.Request) {
	user, _, err := p.currentUser(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if user == nil {
		http.Redirect(w, r, "/login?"+url.Values{"next": {r.URL.RequestURI()}}.Encode(), http.StatusFound)
		return
	}
	code := r.URL.Query().Get("user_code")
	req, ok := p.lookupDevice(w, r, code, func(msg string) {
		p.render(w, r, http.StatusBadRequest, "device", "Connect a device", user, deviceData{UserCode: code, Error: msg})
	})
	if !ok {
		return
	}
	d := consentData{ClientName: req.Client.Name, Action: deviceConfirmPath, Scopes: describedScopes(req.Code.Scopes),
		Hidden: []hiddenField{{Name: "user_code", Value: code}}}
	p.render(w, r, http.StatusOK, "consent", "Authorize "+req.Client.Name, user, d)
}

// deviceDecide records Approve or Deny for the device request.
func (p *Pages) deviceDecide(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	user, session, err := p.currentUser(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if user == nil {
		p.errorPage(w, r, http.StatusUnauthorized, "Your sign-in has expired. Enter the code again.")
		return
	}
	code := r.PostForm.Get("user_code")
	req, ok := p.lookupDevice(w, r, code, func(msg string) {
		p.render(w, r, http.StatusBadRequest, "device", "Connect a device", user, deviceData{UserCode: code, Error: msg})
	})
	if !ok {
		return
	}
	decision := r.PostForm.Get("decision")
	if decision != "approve" && decision != "deny" {
		p.errorPage(w, r, http.StatusBadRequest, "Choose Approve or Deny.")
		return
	}
	if err := p.provider.DecideDevice(r.Context(), req, user.ID, session.AuthTime, decision == "approve"); err != nil {
		p.serverError(w, r, err)
		return
	}
	name := audit.DeviceApprove
	if decision == "deny" {
		name = audit.DeviceDeny
	}
	p.audit(r, event(name, user, req.Client.ID, "scopes: "+scope.Set(req.Code.Scopes).String()))
	title, msg := "Device connected", req.Client.Name+" can now act for you with the access you approved. Return to your device."
	if decision == "deny" {
		title, msg = "Request denied", "You denied "+req.Client.Name+" access. Your device will be told."
	}
	p.render(w, r, http.StatusOK, "device_done", title, user, struct{ Message string }{msg})
}
