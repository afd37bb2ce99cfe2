package web

import (
	"context"
	"errors"
	"net/http"

	"latchkey/internal/audit"
	"latchkey/internal/logout"
	"latchkey/internal/store"
)

// EndSessionConfirmPath is where the confirmation form of RP-initiated
// logout posts (an ordinary page route, behind the CSRF check).
const EndSessionConfirmPath = "/logout/confirm"

// EndSession is the OpenID Connect end_session_endpoint (RP-Initiated
// Logout 1.0), which a dialect mounts on its own path for GET and POST:
// POST without the CSRF check (HandleCrossSite), since a relying party's
// page posts it. It changes nothing on its own authority but one thing:
// when the request's id_token_hint names the browser's current session
// (same user and sid), that session ends at once, as §2 allows. A
// cross-site POST carries no session cookie (SameSite=Lax), so it can
// never end one; every other request shows a confirmation form. A
// request that cannot be honoured (a hint this server did not sign, or of
// another issuer, a post_logout_redirect_uri the client did not register)
// gets a page and no redirect.
func (p *Pages) EndSession() HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		form := r.URL.Query()
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				if tooBig := new(http.MaxBytesError); errors.As(err, &tooBig) {
					return refuse(http.StatusRequestEntityTooLarge, "The sign-out request is too large.")
				}
				return refuse(http.StatusBadRequest, "The sign-out request could not be read.")
			}
			form = r.PostForm
		}
		req, err := p.checkEndSession(r, form)
		if err != nil {
			return err
		}
		user, sess, err := p.currentUser(r)
		if err != nil {
			return err
		}
		if sess == nil || req.Matches(*sess) {
			return p.finishEndSession(w, r, user, sess, req)
		}
		data := struct {
			App    string
			Fields map[string]string
			Action string
		}{Action: EndSessionConfirmPath, Fields: map[string]string{}}
		if req.Client != nil {
			data.App = appName(*req.Client)
		}
		for k, vs := range logout.Form(form) {
			data.Fields[k] = vs[0]
		}
		p.render(w, r, http.StatusOK, "logout_confirm", "Sign out?", user, data)
		return nil
	}
}

// endSessionConfirm is the confirmation form's answer: the request is
// checked again (the form carries it) and the session ends.
func (p *Pages) endSessionConfirm(w http.ResponseWriter, r *http.Request) error {
	req, err := p.checkEndSession(r, r.PostForm)
	if err != nil {
		return err
	}
	user, sess, err := p.currentUser(r)
	if err != nil {
		return err
	}
	return p.finishEndSession(w, r, user, sess, req)
}

// checkEndSession asks package logout what the request may do; its
// refusals become a 400 page.
func (p *Pages) checkEndSession(r *http.Request, form map[string][]string) (logout.Request, error) {
	if p.cfg.Logout == nil {
		return logout.Request{}, refuse(http.StatusNotFound, "Sign-out for applications is not available.")
	}
	req, err := p.cfg.Logout.Check(r.Context(), form)
	var le *logout.Error
	if errors.As(err, &le) {
		return logout.Request{}, refuse(http.StatusBadRequest, le.Message)
	}
	return req, err
}

// finishEndSession ends the browser's session, if any, and sends the
// browser to the checked post-logout URI or shows the signed-out page.
func (p *Pages) finishEndSession(w http.ResponseWriter, r *http.Request, user *store.User, sess *store.Session, req logout.Request) error {
	if sess != nil {
		clientID := ""
		if req.Client != nil {
			clientID = req.Client.ID
		}
		if err := p.SignOut(w, r, user, sess, clientID); err != nil {
			return err
		}
	}
	if dest := req.Destination(); dest != "" {
		http.Redirect(w, r, dest, http.StatusFound)
		return nil
	}
	data := struct{ App string }{}
	if req.Client != nil {
		data.App = appName(*req.Client)
	}
	p.render(w, r, http.StatusOK, "signed_out", "Signed out", nil, data)
	return nil
}

// SignOut ends the browser's session sess of user: it records the
// sign-out in the audit trail (naming clientID, the relying party that
// asked, if any), deletes the session, clears its cookie and queues the
// back-channel logout tokens of the clients the session signed in to
// (and clears a half-finished sign-in's cookie). A
// failure to queue them is logged, not returned: the sign-out goes on.
// The sign-out button (login.go) should end sessions through it too.
func (p *Pages) SignOut(w http.ResponseWriter, r *http.Request, user *store.User, sess *store.Session, clientID string) error {
	if user != nil {
		p.audit(r, event(audit.Logout, user, clientID, ""))
	}
	http.SetCookie(w, p.cookie(pendingCookie, "", -1))
	if err := p.endSession(w, r); err != nil {
		return err
	}
	if sess != nil && p.cfg.Logout != nil {
		if err := p.cfg.Logout.SessionEnded(r.Context(), *sess); err != nil {
			p.log.Error("queue back-channel logout", "user", sess.UserID, "error", err)
		}
	}
	return nil
}

// appName is how a page names a client.
func appName(c store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// userSignedOut queues the back-channel logout of a user-wide event (sign
// out everywhere, a password change, an administrator's sign-out, a
// disabled account, a factor reset) for every client of the user's,
// except those of the session keepSID ("" for none). A failure to queue
// is logged: the event itself goes on.
func (p *Pages) userSignedOut(ctx context.Context, userID int64, keepSID string) {
	if p.cfg.Logout == nil {
		return
	}
	if err := p.cfg.Logout.UserSignedOut(ctx, userID, keepSID); err != nil {
		p.log.Error("queue back-channel logout", "user", userID, "error", err)
	}
}
