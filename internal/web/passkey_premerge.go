package web

import (
	"fmt"
	"net/http"

	"latchkey/internal/store"
)

// Until the mfa branch is merged: its names, on main's session.

const acrMultiFactorPasskey = "urn:latchkey:acr:mfa"

func quoted(s string) string { return fmt.Sprintf("%q", s) }

func (p *Pages) startPasskeySession(w http.ResponseWriter, r *http.Request, user *store.User, _ store.SignIn) error {
	_, err := p.startSession(w, r, user.ID)
	return err
}
