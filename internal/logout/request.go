package logout

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4/jwt"

	"latchkey/internal/oauth"
	"latchkey/internal/store"
)

// Parameters of the end-session endpoint (RP-Initiated Logout 1.0 §2).
const (
	ParamIDTokenHint           = "id_token_hint"
	ParamClientID              = "client_id"
	ParamPostLogoutRedirectURI = "post_logout_redirect_uri"
	ParamState                 = "state"
	ParamLogoutHint            = "logout_hint"
	ParamUILocales             = "ui_locales"
)

// Request is an end-session request as Check accepted it.
type Request struct {
	// Client is the relying party that asked (by client_id or the hint's
	// audience); nil when neither names one.
	Client *store.Client
	// HintSubject and HintSID are the sub and sid of a valid
	// id_token_hint ("" without one). A hint for a session that is not the
	// browser's current one is no reason to sign out without asking.
	HintSubject, HintSID string
	// RedirectURI is the post_logout_redirect_uri, checked against the
	// client's registered ones (exact match); "" when none was asked for.
	RedirectURI string
	State       string
}

// Error is a request that cannot be honoured: the page shows Message and
// never redirects (an unverified redirect URI would be an open redirect).
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

func refuse(format string, args ...any) error { return &Error{Message: fmt.Sprintf(format, args...)} }

// hintClaims are the claims of an ID token that a hint is read for.
type hintClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	SID      string           `json:"sid"`
	Expiry   *jwt.NumericDate `json:"exp"`
}

// maxParam bounds every parameter: an ID token is a few kilobytes.
const maxParam = 16 << 10

// Check reads an end-session request's parameters (query or form; the
// caller merges them) and says what the request may do. The hint must be
// an ID token signed by this server's published keys (expired ones are
// accepted, as §2 asks) whose issuer is this server; client_id, when the
// hint is there too, must be one of its audiences. A
// post_logout_redirect_uri needs a client (from client_id or the hint) and
// must be one of the URIs it registered, exactly. Anything else is an
// *Error. Other parameters (ui_locales, logout_hint, unknown ones) are
// ignored, repeated or not.
func (s *Service) Check(ctx context.Context, form url.Values) (Request, error) {
	for name, vs := range form {
		if !known(name) {
			continue // unknown parameters are ignored (RFC 6749 §3.1)
		}
		if len(vs) > 1 {
			return Request{}, refuse("The sign-out request names %s more than once.", name)
		}
		if len(vs) == 1 && len(vs[0]) > maxParam {
			return Request{}, refuse("The sign-out request's %s is too long.", name)
		}
	}
	var req Request
	req.State = form.Get(ParamState)
	clientID := form.Get(ParamClientID)
	var aud []string
	if hint := form.Get(ParamIDTokenHint); hint != "" {
		var c hintClaims
		if err := s.cfg.Keys.VerifyOwn(ctx, hint, &c); err != nil {
			if errors.Is(err, context.Canceled) {
				return Request{}, err
			}
			return Request{}, refuse("The sign-out request carries an ID token that this server did not issue.")
		}
		if c.Issuer != s.cfg.Issuer || c.Subject == "" {
			return Request{}, refuse("The sign-out request carries an ID token of another issuer.")
		}
		req.HintSubject, req.HintSID, aud = c.Subject, c.SID, c.Audience
		switch {
		case clientID != "" && !slices.Contains(aud, clientID):
			return Request{}, refuse("The sign-out request's client_id is not the application its ID token was issued to.")
		case clientID == "" && len(aud) == 1:
			clientID = aud[0]
		}
	}
	if clientID != "" {
		c, err := s.cfg.Store.GetClient(ctx, clientID)
		switch {
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalidText):
			return Request{}, refuse("The application that asked to sign you out is not registered here.")
		case err != nil:
			return Request{}, err
		}
		req.Client = &c
	}
	if uri := form.Get(ParamPostLogoutRedirectURI); uri != "" {
		if req.Client == nil {
			return Request{}, refuse("The sign-out request names a return address but not the application it belongs to (client_id or id_token_hint).")
		}
		if !slices.Contains(req.Client.PostLogoutRedirectURIs, uri) {
			return Request{}, refuse("The return address after sign-out is not one that %s registered.", displayName(*req.Client))
		}
		req.RedirectURI = uri
	}
	return req, nil
}

// Matches reports whether the request's hint names the browser's session:
// the same user and, when both carry one, the same sid. Only then may the
// session end without asking (§2: the OP asks when it cannot tell that the
// request comes from the user).
func (r Request) Matches(sess store.Session) bool {
	if r.HintSubject == "" || r.HintSubject != fmt.Sprint(sess.UserID) {
		return false
	}
	return r.HintSID == "" || sess.SID == "" || r.HintSID == sess.SID
}

// Destination is where the browser goes after signing out: the checked
// post_logout_redirect_uri with state added, or "" for the signed-out page.
func (r Request) Destination() string {
	if r.RedirectURI == "" {
		return ""
	}
	if r.State == "" {
		return r.RedirectURI
	}
	u, err := url.Parse(r.RedirectURI)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set(ParamState, r.State)
	u.RawQuery = q.Encode()
	return u.String()
}

// Form is the request as the confirmation form carries it on, to be
// checked again when the person confirms.
func Form(form url.Values) url.Values {
	out := url.Values{}
	for _, k := range []string{ParamIDTokenHint, ParamClientID, ParamPostLogoutRedirectURI, ParamState} {
		if v := form.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

// known reports whether name is a parameter Check reads.
func known(name string) bool {
	switch name {
	case ParamIDTokenHint, ParamClientID, ParamPostLogoutRedirectURI, ParamState:
		return true
	}
	return false
}

func displayName(c store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// CheckPostLogoutURI validates a post_logout_redirect_uri at
// registration exactly as a redirect URI (package oauth): absolute, no
// fragment, https (http only on loopback hosts or with allowInsecure), or
// a reverse-domain private-use scheme of a native app.
func CheckPostLogoutURI(raw string, allowInsecure bool) error {
	if err := oauth.CheckRedirectURI(raw, allowInsecure); err != nil {
		return errors.New(strings.Replace(err.Error(), "redirect URI", "post-logout redirect URI", 1))
	}
	return nil
}

// CheckBackchannelURI validates a backchannel_logout_uri at registration:
// an absolute http(s) URI without fragment nor user information, https
// unless on a loopback host or with allowInsecure. (Whether the server may
// reach it is decided when sending, by package outbound.)
func CheckBackchannelURI(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("back-channel logout URI %q is not an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") || u.User != nil {
		return fmt.Errorf("back-channel logout URI %q must not contain a fragment or user information", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (allowInsecure || oauth.IsLoopbackHost(u.Hostname())):
		return nil
	}
	return fmt.Errorf("back-channel logout URI %q must use https", raw)
}
