package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"latchkey/internal/oauth"
	"latchkey/internal/store"
)

// Authorize serves the authorization endpoint (RFC 6749 §3.1) for either
// dialect's path.
func (p *Pages) Authorize() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, ok := p.validateQuery(w, r)
		if !ok {
			return
		}
		user, session, err := p.currentUser(r)
		if err != nil {
			p.serverError(w, r, err)
			return
		}
		if user == nil || req.NeedsLogin(true, session.AuthTime, p.provider.Now()) {
			p.requireLogin(w, r, req)
			return
		}
		need, err := p.provider.NeedsConsent(r.Context(), req, user.ID)
		if err != nil {
			p.serverError(w, r, err)
			return
		}
		if need {
			if req.HasPrompt(oauth.PromptNone) {
				p.redirectError(w, r, req.Fail(&oauth.Error{Code: oauth.CodeConsentRequired, Description: "the user has not approved this application"}))
				return
			}
			http.Redirect(w, r, ConsentPath+"?"+r.URL.RawQuery, http.StatusFound)
			return
		}
		p.issueCode(w, r, req, user, session)
	})
}

// validateQuery validates the authorization request in the query string,
// answering the request itself when it is not valid.
func (p *Pages) validateQuery(w http.ResponseWriter, r *http.Request) (*oauth.AuthRequest, bool) {
	params, err := oauth.ParseQuery(r.URL.RawQuery)
	if err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "The authorization request is malformed: "+oauth.AsError(err).Description)
		return nil, false
	}
	return p.validate(w, r, params)
}

// validate runs the core's checks and answers the request itself when
// they fail: on a page while the redirect URI is untrusted, by redirect
// after that.
func (p *Pages) validate(w http.ResponseWriter, r *http.Request, params oauth.Params) (*oauth.AuthRequest, bool) {
	req, err := p.provider.ValidateAuthorize(r.Context(), params)
	var pageErr *oauth.PageError
	var redirErr *oauth.RedirectError
	switch {
	case errors.As(err, &pageErr):
		p.errorPage(w, r, pageErr.Status, pageErr.Message)
	case errors.As(err, &redirErr):
		p.redirectError(w, r, redirErr)
	case err != nil:
		p.serverError(w, r, err)
	default:
		return req, true
	}
	return nil, false
}

func (p *Pages) redirectError(w http.ResponseWriter, r *http.Request, e *oauth.RedirectError) {
	http.Redirect(w, r, p.provider.ErrorRedirectURL(e), http.StatusFound)
}

// requireLogin sends the person to the login page and back, or answers
// login_required for prompt=none. The way back drops prompt=login and
// max_age, which the fresh sign-in then satisfies.
func (p *Pages) requireLogin(w http.ResponseWriter, r *http.Request, req *oauth.AuthRequest) {
	if req.HasPrompt(oauth.PromptNone) {
		p.redirectError(w, r, req.Fail(&oauth.Error{Code: oauth.CodeLoginRequired, Description: "the user is not signed in"}))
		return
	}
	back := *r.URL
	q := back.Query()
	if prompts := strings.Fields(q.Get("prompt")); slices.Contains(prompts, oauth.PromptLogin) {
		prompts = slices.DeleteFunc(prompts, func(s string) bool { return s == oauth.PromptLogin })
		q.Del("prompt")
		if len(prompts) > 0 {
			q.Set("prompt", strings.Join(prompts, " "))
		}
	}
	q.Del("max_age")
	back.RawQuery = q.Encode()
	next := back.Path + "?" + back.RawQuery
	http.Redirect(w, r, "/login?"+url.Values{"next": {next}}.Encode(), http.StatusFound)
}

func (p *Pages) issueCode(w http.ResponseWriter, r *http.Request, req *oauth.AuthRequest, user *store.User, session *store.Session) {
	target, err := p.provider.IssueCode(r.Context(), req, user.ID, session.AuthTime)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

type consentScope struct{ Name, Description string }

type hiddenField struct{ Name, Value string }

type consentData struct {
	ClientName   string
	RedirectHost string
	Scopes       []consentScope
	Hidden       []hiddenField
	Action       string
}

// consentForm shows what the application asks for, with Approve and Deny.
func (p *Pages) consentForm(w http.ResponseWriter, r *http.Request) {
	req, ok := p.validateQuery(w, r)
	if !ok {
		return
	}
	user, _, err := p.currentUser(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if user == nil {
		p.requireLogin(w, r, req)
		return
	}
	p.render(w, r, http.StatusOK, "consent", "Authorize "+req.Client.Name, user, consentView(req))
}

func consentView(req *oauth.AuthRequest) consentData {
	d := consentData{ClientName: req.Client.Name, Action: ConsentPath}
	if u, err := url.Parse(req.RedirectURI); err == nil {
		d.RedirectHost = u.Scheme + "://" + u.Host
		if u.Host == "" {
			d.RedirectHost = u.Scheme + ":"
		}
	}
	d.Scopes = describedScopes(req.Scopes)
	names := make([]string, 0, len(req.Params))
	for name := range req.Params {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		d.Hidden = append(d.Hidden, hiddenField{Name: name, Value: req.Params[name]})
	}
	return d
}

// consent takes the person's decision. The request is validated again
// from the form: nothing from the first look is trusted.
func (p *Pages) consent(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	params := oauth.Params{}
	for name, values := range r.PostForm {
		if name == csrfField || name == "decision" {
			continue
		}
		if len(values) != 1 {
			p.errorPage(w, r, http.StatusBadRequest, "The consent form is malformed.")
			return
		}
		if values[0] != "" {
			params[name] = values[0]
		}
	}
	req, ok := p.validate(w, r, params)
	if !ok {
		return
	}
	user, session, err := p.currentUser(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if user == nil {
		p.errorPage(w, r, http.StatusUnauthorized, "Your sign-in has expired. Go back to the application and start again.")
		return
	}
	switch r.PostForm.Get("decision") {
	case "approve":
		if err := p.provider.RememberConsent(r.Context(), req, user.ID); err != nil {
			p.serverError(w, r, err)
			return
		}
		p.audit(r, event("consent.granted", user, req.Client.ID, "scopes: "+req.Scopes.String()))
		p.issueCode(w, r, req, user, session)
	case "deny":
		p.audit(r, event("consent.denied", user, req.Client.ID, "scopes: "+req.Scopes.String()))
		p.redirectError(w, r, req.Fail(&oauth.Error{Code: oauth.CodeAccessDenied, Description: "the user denied the request"}))
	default:
		p.errorPage(w, r, http.StatusBadRequest, "Choose Approve or Deny.")
	}
}
