package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"latchkey/internal/audit"
	"latchkey/internal/oauth"
	"latchkey/internal/resource"
	"latchkey/internal/store"
)

// Authorize serves the authorization endpoint (RFC 6749 §3.1) for either
// dialect's path.
func (p *Pages) Authorize() http.Handler { return p.serve(p.authorize) }

func (p *Pages) authorize(w http.ResponseWriter, r *http.Request) error {
	req, err := p.validateQuery(r)
	if err != nil {
		return err
	}
	user, session, err := p.currentUser(r)
	if err != nil {
		return err
	}
	if user == nil || req.NeedsLogin(true, session.AuthTime, p.provider.Now()) {
		return requireLogin(r, req)
	}
	if req.NeedsStepUp(session.ACR) {
		return p.stepUp(w, r, req, user, session, r.URL.RequestURI())
	}
	need, err := p.provider.NeedsConsent(r.Context(), req, user.ID)
	if err != nil {
		return err
	}
	if need {
		if req.HasPrompt(oauth.PromptNone) {
			return req.Fail(&oauth.Error{Code: oauth.CodeConsentRequired, Description: "the user has not approved this application"})
		}
		http.Redirect(w, r, ConsentPath+"?"+r.URL.RawQuery, http.StatusFound)
		return nil
	}
	return p.issueCode(w, r, req, user, session)
}

// validateQuery validates the authorization request in the query string.
// Its errors are the core's: shown on a page while the redirect URI is
// untrusted, sent back to the client by redirect after that.
func (p *Pages) validateQuery(r *http.Request) (*oauth.AuthRequest, error) {
	params, err := oauth.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "The authorization request is malformed: "+oauth.AsError(err).Description)
	}
	return p.provider.ValidateAuthorize(r.Context(), params)
}

// requireLogin is the answer to a request that needs a (fresh) sign-in:
// login_required for prompt=none, else the login page and back. The way
// back drops prompt=login and max_age, which the fresh sign-in then
// satisfies.
func requireLogin(r *http.Request, req *oauth.AuthRequest) error {
	if req.HasPrompt(oauth.PromptNone) {
		return req.Fail(&oauth.Error{Code: oauth.CodeLoginRequired, Description: "the user is not signed in"})
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
	return &signInFirst{back: back.Path + "?" + back.RawQuery}
}

func (p *Pages) issueCode(w http.ResponseWriter, r *http.Request, req *oauth.AuthRequest, user *store.User, session *store.Session) error {
	target, err := p.provider.IssueCode(r.Context(), req, user.ID, session.AuthTime, signInOf(session))
	if err != nil {
		return err
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

type consentScope struct{ Name, Description string }

type hiddenField struct{ Name, Value string }

type consentData struct {
	ClientName   string
	RedirectHost string
	// Origin is the client's store.ClientOrigin: "metadata" (client ID
	// metadata document) and "registered" (dynamic registration) are
	// shown as not verified by the administrator.
	Origin string
	// ClientID and ClientHost name a metadata document client by its URL.
	ClientID, ClientHost string
	// Device is set on the device confirmation page (RFC 8628 §5.4).
	Device *deviceOrigin
	Scopes []consentScope
	// Resources are where the tokens may be used, when the request named
	// resources (RFC 8707); empty for Latchkey's code-hosting resource,
	// which needs no words.
	Resources []consentResource
	Hidden    []hiddenField
	Action    string
}

// consentResource is a resource a consent page names: its identifier,
// what it is, and whether it is a service outside this server.
type consentResource struct {
	URI, What string
	External  bool
}

// consentForm shows what the application asks for, with Approve and Deny.
func (p *Pages) consentForm(w http.ResponseWriter, r *http.Request) error {
	req, err := p.validateQuery(r)
	if err != nil {
		return err
	}
	user, session, err := p.currentUser(r)
	if err != nil {
		return err
	}
	if user == nil {
		return requireLogin(r, req)
	}
	if req.NeedsStepUp(session.ACR) {
		return p.stepUp(w, r, req, user, session, r.URL.RequestURI())
	}
	p.render(w, r, http.StatusOK, "consent", "Authorize "+req.Client.Name, user, consentView(p.provider.Issuer(), req))
	return nil
}

func consentView(issuer string, req *oauth.AuthRequest) consentData {
	d := consentData{ClientName: req.Client.Name, Action: ConsentPath, Origin: string(req.Client.Origin), ClientID: req.Client.ID}
	if req.Client.Origin == store.OriginMetadata {
		if u, err := url.Parse(req.Client.ID); err == nil {
			d.ClientHost = u.Host
		}
	}
	if u, err := url.Parse(req.RedirectURI); err == nil {
		d.RedirectHost = u.Scheme + "://" + u.Host
		if u.Host == "" {
			d.RedirectHost = u.Scheme + ":"
		}
	}
	d.Scopes = describedScopes(req.Scopes, req.Servers)
	d.Resources = consentResources(issuer, req.Resources, req.Servers)
	names := make([]string, 0, len(req.Params))
	for name := range req.Params {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name == oauth.ParamResource { // repeatable: one field per value
			for _, v := range req.Params.Resources() {
				d.Hidden = append(d.Hidden, hiddenField{Name: name, Value: v})
			}
			continue
		}
		d.Hidden = append(d.Hidden, hiddenField{Name: name, Value: req.Params[name]})
	}
	return d
}

// consentResources names the resources of a request that named any: the
// MCP endpoint, the REST API and git, and external resource servers by
// their registered names.
func consentResources(issuer string, ids []string, servers []store.ResourceServer) []consentResource {
	var out []consentResource
	for _, id := range ids {
		switch i := slices.IndexFunc(servers, func(rs store.ResourceServer) bool { return rs.URI == id }); {
		case i >= 0:
			out = append(out, consentResource{URI: id, What: servers[i].Name + ", a service outside this server", External: true})
		case id == resource.MCP(issuer):
			out = append(out, consentResource{URI: id, What: "this server's MCP endpoint, which AI agents use"})
		default:
			out = append(out, consentResource{URI: id, What: "this server's REST API and git"})
		}
	}
	return out
}

// consent takes the person's decision. The request is validated again
// from the form: nothing from the first look is trusted.
func (p *Pages) consent(w http.ResponseWriter, r *http.Request) error {
	form := url.Values{}
	for name, values := range r.PostForm {
		if name != csrfField && name != "decision" {
			form[name] = values
		}
	}
	// Parsed as the authorization request was: each parameter once, but
	// resource (RFC 8707) as often as the request named it.
	params, err := oauth.ParseQuery(form.Encode())
	if err != nil {
		return refuse(http.StatusBadRequest, "The consent form is malformed.")
	}
	req, err := p.provider.ValidateAuthorize(r.Context(), params)
	if err != nil {
		return err
	}
	user, session, err := p.currentUser(r)
	if err != nil {
		return err
	}
	if user == nil {
		return refuse(http.StatusUnauthorized, "Your sign-in has expired. Go back to the application and start again.")
	}
	if req.NeedsStepUp(session.ACR) {
		return p.stepUp(w, r, req, user, session, ConsentPath+"?"+form.Encode())
	}
	switch r.PostForm.Get("decision") {
	case "approve":
		if err := p.provider.RememberConsent(r.Context(), req, user.ID); err != nil {
			return err
		}
		p.audit(r, event(audit.ConsentGranted, user, req.Client.ID, "scopes: "+req.Scopes.String()))
		return p.issueCode(w, r, req, user, session)
	case "deny":
		p.audit(r, event(audit.ConsentDenied, user, req.Client.ID, "scopes: "+req.Scopes.String()))
		return req.Fail(&oauth.Error{Code: oauth.CodeAccessDenied, Description: "the user denied the request"})
	}
	return refuse(http.StatusBadRequest, "Choose Approve or Deny.")
}
