package web

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// sessionCookie is the session cookie's name (see cookieName).
const sessionCookie = "latchkey_session"

// cookieName is the name a cookie has on this server: with the __Host-
// prefix when the base URL is https, so that the browser takes it only
// from this host, Secure, with Path=/ and no Domain, and a sibling
// sub-domain cannot plant a session or CSRF cookie; plain http
// (development) keeps the bare name, which browsers would refuse to
// store with the prefix.
func (p *Pages) cookieName(name string) string {
	if p.cfg.SecureCookies {
		return "__Host-" + name
	}
	return name
}

func randomKey() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// currentUser returns the signed-in user and their session, or nil when the
// request has no live session.
func (p *Pages) currentUser(r *http.Request) (*store.User, *store.Session, error) {
	c, err := r.Cookie(p.cookieName(sessionCookie))
	if err != nil || c.Value == "" {
		return nil, nil, nil
	}
	s, err := p.store.GetSession(r.Context(), secret.Hash(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load session: %w", err)
	}
	if !p.provider.Now().Before(s.ExpiresAt) {
		return nil, nil, nil
	}
	u, err := p.store.GetUser(r.Context(), s.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load session user: %w", err)
	}
	if u.Disabled {
		return nil, nil, nil
	}
	return &u, &s, nil
}

// startSession is the one place a session starts: it creates a session
// for user that records what the sign-in proved (in's AMR and ACR; the
// SID is drawn here, random, and in's is ignored), sets its cookie and
// returns its ID; sourceID is the identity source the sign-in went
// through (0: local). A fresh cookie value on every sign-in prevents session
// fixation; the request's old session, if any, is deleted. Callers start
// a session only after every step the sign-in needs (see factor.go).
func (p *Pages) startSession(w http.ResponseWriter, r *http.Request, user *store.User, in store.SignIn, sourceID int64) (string, error) {
	sid := secret.NewID()
	if old, err := r.Cookie(p.cookieName(sessionCookie)); err == nil && old.Value != "" {
		// A sign-in again by the same user (a step-up, prompt=login) goes on
		// as the same OpenID Connect session: what it signed in to stays
		// tied to it, for logout. Another user's session ends here.
		prev, err := p.store.GetSession(r.Context(), secret.Hash(old.Value))
		switch {
		case err == nil && prev.UserID == user.ID && prev.SID != "":
			sid = prev.SID
		case err == nil && prev.UserID != user.ID && p.cfg.Logout != nil:
			// Another user signs in in this browser: the earlier user's
			// session ends, and its clients hear of it.
			if err := p.cfg.Logout.SessionEnded(r.Context(), prev); err != nil {
				p.log.Error("queue back-channel logout", "user", prev.UserID, "error", err)
			}
		}
		_ = p.store.DeleteSession(r.Context(), secret.Hash(old.Value))
	}
	value := secret.New(secret.SessionPrefix)
	now := p.provider.Now()
	id := secret.Hash(value)
	err := p.store.CreateSession(r.Context(), store.Session{
		ID: id, UserID: user.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(p.cfg.SessionTTL),
		SID: sid, AMR: in.AMR, ACR: in.ACR, SourceID: sourceID,
	})
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	http.SetCookie(w, p.cookie(sessionCookie, value, p.cfg.SessionTTL))
	return id, nil
}

// endSession deletes the session and clears its cookie.
func (p *Pages) endSession(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(p.cookieName(sessionCookie)); err == nil && c.Value != "" {
		if err := p.store.DeleteSession(r.Context(), secret.Hash(c.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete session: %w", err)
		}
	}
	http.SetCookie(w, p.cookie(sessionCookie, "", -1))
	return nil
}

// cookie builds an HttpOnly, SameSite=Lax cookie for the whole host (Path=/,
// no Domain); on HTTPS it is Secure and named with the __Host- prefix.
func (p *Pages) cookie(name, value string, ttl time.Duration) *http.Cookie {
	c := &http.Cookie{Name: p.cookieName(name), Value: value, Path: "/", HttpOnly: true,
		Secure: p.cfg.SecureCookies, SameSite: http.SameSiteLaxMode}
	if ttl < 0 {
		c.MaxAge = -1
	} else if ttl > 0 {
		c.MaxAge = int(ttl.Seconds())
	}
	return c
}

// signInOf is what a session signed in with, as codes and grants carry it.
func signInOf(s *store.Session) store.SignIn {
	return store.SignIn{SID: s.SID, AMR: s.AMR, ACR: s.ACR}
}
