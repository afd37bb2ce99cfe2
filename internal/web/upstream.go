package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/identity"
	"latchkey/internal/oauth"
	"latchkey/internal/store"
	"latchkey/internal/upstream"
)

// Sign-in through an upstream OpenID Connect provider ("Sign in with
// ..."), and linking one to an account.
//
// The browser goes to /login/upstream/{source}, which sends it to the
// provider with a fresh state, nonce and PKCE verifier; those, where the
// browser is to go afterwards and, for a link, whose account it is, are
// sealed into a short-lived cookie. The provider sends the browser back
// to /login/upstream/{source}/callback, which opens the cookie, checks
// the state (and that this state is used once, on any node), lets package
// upstream exchange the code and verify the ID token (signature, issuer,
// audience, expiry, nonce), and lets package identity decide who the
// person is. An identity becomes an existing account's only by a link
// its signed-in owner started from the security page: never by an
// address or a name.

const (
	upstreamPrefix  = "/login/upstream/"
	upstreamCookie  = "latchkey_upstream"
	upstreamFlowTTL = 10 * time.Minute
)

// upstreamFlow is what the cookie carries between the two legs.
type upstreamFlow struct {
	Source   string        `json:"s"`
	Flow     upstream.Flow `json:"f"`
	Next     string        `json:"n"`
	LinkUser int64         `json:"u,omitempty"` // a link of this signed-in user's account; 0: a sign-in
	Expires  int64         `json:"e"`           // unix milliseconds
}

// signInButton is a "Sign in with ..." button of the login page.
type signInButton struct {
	Name string
	URL  string
}

func (p *Pages) mountUpstream(rt *Router) {
	rt.HandleFunc("GET "+upstreamPrefix+"{source}", p.upstreamStart)
	rt.HandleFunc("GET "+upstreamPrefix+"{source}/callback", p.upstreamCallback)
	rt.HandleFunc("POST "+securityPath+"/identities/{source}/link", p.upstreamLink)
	rt.HandleFunc("POST "+securityPath+"/identities/{source}/unlink", p.upstreamUnlink)
}

// signInButtons lists the enabled upstream providers, in their order.
func (p *Pages) signInButtons(r *http.Request, next string) []signInButton {
	if p.cfg.Identity == nil || p.cfg.Identity.Upstream() == nil {
		return nil
	}
	srcs, err := p.cfg.Identity.Enabled(r.Context(), store.SourceOIDC)
	if err != nil {
		p.log.Warn("list upstream providers", "error", err)
		return nil
	}
	out := make([]signInButton, 0, len(srcs))
	for _, src := range srcs {
		u := upstreamPrefix + src.Name
		if next != "/" {
			u += "?" + url.Values{"next": {next}}.Encode()
		}
		out = append(out, signInButton{Name: src.DisplayName, URL: u})
	}
	return out
}

// upstreamSource returns the enabled upstream source the path names, its
// settings and its client secret, or a 404 page.
func (p *Pages) upstreamSource(r *http.Request) (store.IdentitySource, identity.Settings, upstream.Settings, error) {
	fail := refuse(http.StatusNotFound, "There is no such sign-in provider.")
	if p.cfg.Identity == nil || p.cfg.Identity.Upstream() == nil {
		return store.IdentitySource{}, identity.Settings{}, upstream.Settings{}, fail
	}
	src, err := p.store.GetIdentitySourceByName(r.Context(), r.PathValue("source"))
	if errors.Is(err, store.ErrNotFound) || err == nil && (src.Kind != store.SourceOIDC || !src.Enabled) {
		return store.IdentitySource{}, identity.Settings{}, upstream.Settings{}, fail
	}
	if err != nil {
		return store.IdentitySource{}, identity.Settings{}, upstream.Settings{}, err
	}
	settings, err := identity.DecodeSettings(src)
	if err != nil {
		return store.IdentitySource{}, identity.Settings{}, upstream.Settings{}, err
	}
	us, err := identity.OIDCSettings(settings)
	if err != nil {
		return store.IdentitySource{}, identity.Settings{}, upstream.Settings{}, err
	}
	if us.ClientSecret, err = p.cfg.Identity.Secret(src); err != nil {
		return store.IdentitySource{}, identity.Settings{}, upstream.Settings{}, err
	}
	return src, settings, us, nil
}

// callbackURL is the redirect URI registered at the provider for src.
func (p *Pages) callbackURL(src store.IdentitySource) string {
	return p.provider.Issuer() + upstreamPrefix + src.Name + "/callback"
}

// upstreamStart sends the browser to the provider to sign in.
func (p *Pages) upstreamStart(w http.ResponseWriter, r *http.Request) error {
	return p.beginUpstream(w, r, safeNext(r.URL.Query().Get("next")), 0)
}

// upstreamLink starts linking the provider's identity to the signed-in
// user's account: an explicit action of theirs (a form with its CSRF
// token), bound to their account.
func (p *Pages) upstreamLink(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	return p.beginUpstream(w, r, securityPath, user.ID)
}

// beginUpstream starts a sign-in (linkUser 0) or a link at the provider.
func (p *Pages) beginUpstream(w http.ResponseWriter, r *http.Request, next string, linkUser int64) error {
	src, _, us, err := p.upstreamSource(r)
	if err != nil {
		return err
	}
	authURL, flow, err := p.cfg.Identity.Upstream().Start(r.Context(), us, p.callbackURL(src))
	if err != nil {
		p.log.Warn("upstream provider cannot be reached", "source", src.Name, "error", err)
		return refuse(http.StatusServiceUnavailable, src.DisplayName+" cannot be reached right now. Try again in a few minutes, or sign in with your password.")
	}
	sealed, err := p.cfg.Identity.SealFlow(upstreamFlow{Source: src.Name, Flow: flow, Next: next, LinkUser: linkUser,
		Expires: p.provider.Now().Add(upstreamFlowTTL).UnixMilli()})
	if err != nil {
		return err
	}
	http.SetCookie(w, p.cookie(upstreamCookie, sealed, upstreamFlowTTL))
	http.Redirect(w, r, authURL, http.StatusSeeOther)
	return nil
}

// upstreamCallback finishes a sign-in or a link the provider answered.
func (p *Pages) upstreamCallback(w http.ResponseWriter, r *http.Request) error {
	src, settings, us, err := p.upstreamSource(r)
	if err != nil {
		return err
	}
	flow, err := p.openFlow(w, r, src)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if code := q.Get("error"); code != "" {
		p.audit(r, event(audit.LoginFailed, nil, "", "upstream "+src.Name+" answered "+clip(code, 64)))
		return refuse(http.StatusForbidden, src.DisplayName+" did not sign you in ("+clip(code, 64)+"). Start again.")
	}
	// RFC 9207: a provider that names itself in the answer must be the
	// one the flow went to (a mix-up of providers is refused).
	if iss := q.Get("iss"); iss != "" && strings.TrimRight(iss, "/") != strings.TrimRight(us.Issuer, "/") {
		p.audit(r, event(audit.LoginFailed, nil, "", "upstream "+src.Name+": the answer names another issuer"))
		return refuse(http.StatusBadRequest, "The answer came from another identity provider than "+src.DisplayName+". Start again.")
	}
	if err := flow.Flow.CheckState(q.Get("state")); err != nil {
		p.audit(r, event(audit.LoginFailed, nil, "", "upstream "+src.Name+": the state does not match"))
		return refuse(http.StatusBadRequest, "This sign-in did not start here, or it was already finished. Start again.")
	}
	// A state answers once, on whichever node: a replayed answer is refused.
	if err := p.store.UseOnce(r.Context(), "upstream-state:"+flow.Flow.State, time.UnixMilli(flow.Expires)); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return refuse(http.StatusBadRequest, "This sign-in was already finished. Start again.")
		}
		return err
	}
	id, err := p.cfg.Identity.Upstream().Finish(r.Context(), us, p.callbackURL(src), flow.Flow, q.Get("code"))
	if err != nil {
		p.log.Warn("upstream sign-in failed", "source", src.Name, "error", err)
		p.audit(r, event(audit.LoginFailed, nil, "", "upstream "+src.Name+": "+clip(err.Error(), 200)))
		if errors.Is(err, upstream.ErrUnavailable) {
			return refuse(http.StatusServiceUnavailable, src.DisplayName+" cannot be reached right now. Try again in a few minutes.")
		}
		return refuse(http.StatusBadGateway, "The answer of "+src.DisplayName+" could not be verified, so you are not signed in. Start again.")
	}
	person := identity.PersonOfUpstream(id)
	if flow.LinkUser != 0 {
		return p.finishLink(w, r, src, flow, person)
	}
	return p.finishUpstreamSignIn(w, r, src, settings, flow, person)
}

// openFlow reads and clears the flow cookie; it must be src's and unexpired.
func (p *Pages) openFlow(w http.ResponseWriter, r *http.Request, src store.IdentitySource) (upstreamFlow, error) {
	var flow upstreamFlow
	c, err := r.Cookie(p.cookieName(upstreamCookie))
	http.SetCookie(w, p.cookie(upstreamCookie, "", -1))
	if err != nil || c.Value == "" || p.cfg.Identity.OpenFlow(c.Value, &flow) != nil ||
		flow.Source != src.Name || !p.provider.Now().Before(time.UnixMilli(flow.Expires)) {
		p.audit(r, event(audit.LoginFailed, nil, "", "upstream "+src.Name+": no sign-in of this browser was waiting"))
		return upstreamFlow{}, refuse(http.StatusBadRequest, "This sign-in did not start in this browser, or it took too long. Start again.")
	}
	return flow, nil
}

// finishUpstreamSignIn signs the person in as the account the provider's
// identity is, through the second-factor step unless the provider's word
// that they used more than one factor is trusted.
func (p *Pages) finishUpstreamSignIn(w http.ResponseWriter, r *http.Request, src store.IdentitySource, settings identity.Settings,
	flow upstreamFlow, person identity.Person) error {
	user, err := p.cfg.Identity.ExternalSignIn(r.Context(), src, person)
	if err != nil {
		return p.upstreamRefused(r, src, err)
	}
	amr := upstreamAMR(person.AMR)
	if identity.MultiFactor(settings, person) {
		if !slices.Contains(amr, amrMFA) {
			amr = append(amr, amrMFA)
		}
		return p.upstreamSession(w, r, &user, src, store.SignIn{AMR: amr, ACR: oauth.ACRMultiFactor}, flow.Next)
	}
	second, err := p.needsSecondStep(r.Context(), &user)
	if err != nil {
		return err
	}
	if second {
		return p.beginPending(w, r, &user, amr, src.ID, flow.Next)
	}
	return p.upstreamSession(w, r, &user, src, store.SignIn{AMR: amr, ACR: oauth.ACRPassword}, flow.Next)
}

// upstreamSession starts the session of an upstream sign-in and goes on.
func (p *Pages) upstreamSession(w http.ResponseWriter, r *http.Request, user *store.User, src store.IdentitySource, in store.SignIn, next string) error {
	if _, err := p.startSession(w, r, user, in, src.ID); err != nil {
		return err
	}
	p.audit(r, event(audit.Login, user, "", "through "+src.Name))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// upstreamAMR keeps the RFC 8176 methods an upstream reported (nothing
// else goes into Latchkey's own ID tokens).
func upstreamAMR(in []string) []string {
	known := []string{"face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pwd", "rba",
		"retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia"}
	var out []string
	for _, m := range in {
		if slices.Contains(known, m) && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// upstreamRefused is the page of a sign-in that identity refused.
func (p *Pages) upstreamRefused(r *http.Request, src store.IdentitySource, err error) error {
	p.audit(r, event(audit.LoginFailed, nil, "", "upstream "+src.Name+": "+err.Error()))
	name := src.DisplayName
	switch {
	case errors.Is(err, identity.ErrEmailTaken):
		return refuse(http.StatusConflict, "An account with the email address "+name+" gave already exists. If it is yours, "+
			"sign in to it with its password, then link "+name+" under Security in your settings. Accounts are never joined by their address alone.")
	case errors.Is(err, identity.ErrUsernameTaken):
		return refuse(http.StatusConflict, "An account with the user name "+name+" gave already exists. If it is yours, "+
			"sign in to it with its password, then link "+name+" under Security in your settings.")
	case errors.Is(err, identity.ErrNotLinked):
		return refuse(http.StatusForbidden, "No account here is linked to your "+name+" identity. Sign in with your password "+
			"and link "+name+" under Security in your settings, or ask an administrator.")
	case errors.Is(err, identity.ErrNoUsername):
		return refuse(http.StatusForbidden, name+" gave no user name that can be used here. Ask an administrator.")
	case errors.Is(err, identity.ErrAccountDisabled):
		return refuse(http.StatusForbidden, "Your account is disabled. Ask an administrator.")
	case errors.Is(err, identity.ErrSourceDisabled):
		return refuse(http.StatusForbidden, "Sign-in through "+name+" is turned off.")
	case errors.Is(err, identity.ErrLinkedElsewhere):
		return refuse(http.StatusConflict, "Your "+name+" identity is linked to another account.")
	}
	return err
}

// finishLink links the identity to the account of the user who started
// the link, if they are still the one signed in.
func (p *Pages) finishLink(w http.ResponseWriter, r *http.Request, src store.IdentitySource, flow upstreamFlow, person identity.Person) error {
	user, _, err := p.currentUser(r)
	if err != nil {
		return err
	}
	if user == nil || user.ID != flow.LinkUser {
		p.audit(r, event(audit.LoginFailed, user, "", "upstream "+src.Name+": a link for another account"))
		return refuse(http.StatusForbidden, "This link was started by another account. Sign in to the account to link and start again.")
	}
	if err := p.cfg.Identity.Link(r.Context(), src, *user, person); err != nil {
		if errors.Is(err, identity.ErrAlreadyLinked) {
			return refuse(http.StatusConflict, "Your account is linked to another "+src.DisplayName+" identity already. Unlink it first.")
		}
		return p.upstreamRefused(r, src, err)
	}
	p.audit(r, event(audit.IdentityLinked, user, "", src.Name))
	redirectDone(w, r, securityPath, "identity_linked")
	return nil
}

// upstreamUnlink removes the link of the signed-in user's account to a
// provider; an account that belongs to that provider keeps its link.
func (p *Pages) upstreamUnlink(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	src, err := p.store.GetIdentitySourceByName(r.Context(), r.PathValue("source"))
	if errors.Is(err, store.ErrNotFound) {
		return refuse(http.StatusNotFound, "There is no such sign-in provider.")
	}
	if err != nil {
		return err
	}
	if user.SourceID == src.ID {
		return refuse(http.StatusConflict, "Your account belongs to "+src.DisplayName+": its link cannot be removed.")
	}
	err = p.store.UnlinkIdentity(r.Context(), user.ID, src.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	p.audit(r, event(audit.IdentityUnlinked, user, "", src.Name))
	redirectDone(w, r, securityPath, "identity_unlinked")
	return nil
}

// clip shortens text from elsewhere for a page or the audit trail.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
