package web

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"

	"latchkey/internal/audit"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// devicePaths: the form where the person types the user code, and the
// confirmation (consent) step.
const deviceConfirmPath = oauth.DevicePath + "/confirm"

// deviceOrigin is what the device confirmation page says about where a
// request comes from, against device-code phishing (RFC 8628 §5.4): an
// attacker starts the flow with a trusted-looking application and sends
// the code to the victim, so the page names the application by name and
// client ID, and the address that asked for the code next to the
// person's own.
type deviceOrigin struct {
	ClientID  string
	Source    string // address of the device authorization request
	Browser   string // address of the person's browser
	Requested string // time of the request, UTC
}

type deviceData struct {
	UserCode string
	Error    string
}

// deviceForm shows the user-code form, prefilled from verification_uri_complete.
func (p *Pages) deviceForm(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.currentUser(r)
	if err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "device", "Connect a device", user, deviceData{UserCode: r.URL.Query().Get("user_code")})
	return nil
}

// deviceSubmit checks the typed code and moves on to sign-in and consent.
// Wrong codes count against the client address, like failed logins.
func (p *Pages) deviceSubmit(w http.ResponseWriter, r *http.Request) error {
	code := r.PostForm.Get("user_code")
	user, _, err := p.currentUser(r)
	if err != nil {
		return err
	}
	if _, err := p.lookupDevice(r, code); err != nil {
		return p.deviceFormAgain(w, r, user, code, err)
	}
	next := deviceConfirmPath + "?" + url.Values{"user_code": {oauth.FormatUserCode(oauth.NormalizeUserCode(code))}}.Encode()
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// codeRefused is a user code that is wrong or expired, or typed while
// guessing is throttled: the code form is shown again with the complaint.
type codeRefused struct{ complaint string }

func (e *codeRefused) Error() string { return "web: user code refused: " + e.complaint }

// lookupDevice finds a pending device request. A wrong code, or any code
// while guessing is throttled, is a *codeRefused. Every lookup is counted
// against the requester before it runs (so a burst cannot outrun the
// throttle); only a wrong code stays counted.
func (p *Pages) lookupDevice(r *http.Request, code string) (*oauth.DeviceRequest, error) {
	key := throttleKey{name: "device:" + source(r), kind: perRequester, gate: true}
	wait, err := p.throttle.Reserve(r.Context(), key)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, &codeRefused{tooManyAttempts(wait)}
	}
	req, err := p.provider.LookupDevice(r.Context(), code)
	if errors.Is(err, oauth.ErrUnknownUserCode) {
		p.audit(r, store.AuditEvent{Event: audit.DeviceCodeRejected, Detail: "a wrong or expired user code was entered"})
		return nil, &codeRefused{"That code is not valid or has expired. Check the code on your device and try again."}
	}
	// Found, or the lookup failed: not a wrong guess.
	return req, errors.Join(err, p.throttle.Release(r.Context(), key))
}

// deviceFormAgain answers a failed lookupDevice: a refused code with the
// code form again (400), the code as typed; any other error as it is.
func (p *Pages) deviceFormAgain(w http.ResponseWriter, r *http.Request, user *store.User, code string, err error) error {
	var refused *codeRefused
	if !errors.As(err, &refused) {
		return err
	}
	p.render(w, r, http.StatusBadRequest, "device", "Connect a device", user, deviceData{UserCode: code, Error: refused.complaint})
	return nil
}

// deviceConfirm shows the consent page for a device request, after sign-in.
func (p *Pages) deviceConfirm(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.currentUser(r)
	if err != nil {
		return err
	}
	if user == nil {
		return &signInFirst{back: r.URL.RequestURI()}
	}
	code := r.URL.Query().Get("user_code")
	req, err := p.lookupDevice(r, code)
	if err != nil {
		return p.deviceFormAgain(w, r, user, code, err)
	}
	d := consentData{ClientName: req.Client.Name, Action: deviceConfirmPath, Scopes: describedScopes(req.Code.Scopes, req.Servers),
		Resources: consentResources(p.provider.Issuer(), req.Code.Resources, req.Servers),
		Hidden:    []hiddenField{{Name: "user_code", Value: code}},
		Device: &deviceOrigin{ClientID: req.Client.ID, Source: cmp.Or(req.Code.SourceAddress, "an unknown address"),
			Browser: clientAddress(r), Requested: req.Code.CreatedAt.UTC().Format("15:04 MST")}}
	p.render(w, r, http.StatusOK, "consent", "Authorize "+req.Client.Name, user, d)
	return nil
}

// deviceDecide records Approve or Deny for the device request.
func (p *Pages) deviceDecide(w http.ResponseWriter, r *http.Request) error {
	user, session, err := p.currentUser(r)
	if err != nil {
		return err
	}
	if user == nil {
		return refuse(http.StatusUnauthorized, "Your sign-in has expired. Enter the code again.")
	}
	code := r.PostForm.Get("user_code")
	req, err := p.lookupDevice(r, code)
	if err != nil {
		return p.deviceFormAgain(w, r, user, code, err)
	}
	decision := r.PostForm.Get("decision")
	if decision != "approve" && decision != "deny" {
		return refuse(http.StatusBadRequest, "Choose Approve or Deny.")
	}
	if err := p.provider.DecideDevice(r.Context(), req, user.ID, session.AuthTime, signInOf(session), decision == "approve"); err != nil {
		return err
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
	return nil
}
