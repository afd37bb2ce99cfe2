package api

import (
	"net/http"
	"strings"

	"latchkey/internal/audit"

	"latchkey/internal/access"
	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

func (a *API) mountUsers(mux routes.Mux) {
	mux.Handle("GET "+bb+"/users", a.handle(authenticated, a.listUsers))
	mux.Handle("GET "+bb+"/users/{slug}", a.handle(authenticated, a.getUser))
	mux.Handle("PUT "+bb+"/users", a.handle(authenticated, a.updateCurrentUser))
}

// listUsers is GET /users?filter=: every user, for any signed-in caller
// (Bitbucket shows users to every licensed user), with email addresses only
// where the caller may see them (scope.Principal.SeesEmailOf).
func (a *API) listUsers(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.Global(c, scope.LicensedUser); err != nil {
		return 0, nil, err
	}
	users := filterSeq(store.Walk(r.Context(), a.store.ListUsers, firstBatch), func(u store.User) bool {
		return matches(c, u, r.URL.Query().Get("filter"))
	})
	return pagedSeq(r, mapSeq(users, func(u store.User) userJSON { return a.visibleUserJSON(c, u) }))
}

// getUser is GET /users/{slug}.
func (a *API) getUser(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.Global(c, scope.LicensedUser); err != nil {
		return 0, nil, err
	}
	u, err := a.userByName(r.Context(), r.PathValue("slug"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.visibleUserJSON(c, u), nil
}

// userInput is the body of the user updates (Bitbucket's "update the
// current user" and the admin's update).
type userInput struct {
	Name        string  `json:"name"`
	DisplayName *string `json:"displayName"`
	Email       *string `json:"email"`
}

// displayName validates the new display name, if any, and returns the
// change that sets it.
func (in userInput) displayName() (func(store.User) store.User, error) {
	if in.DisplayName == nil {
		return func(u store.User) store.User { return u }, nil
	}
	name := strings.TrimSpace(*in.DisplayName)
	if name == "" || len(name) > 255 {
		return nil, badRequest("The display name must be 1-255 characters.")
	}
	return func(u store.User) store.User { u.DisplayName = name; return u }, nil
}

// updateCurrentUser is PUT /users: the token's user changes their own
// display name or email. It needs ACCOUNT_WRITE (or write:user). A new
// address is not set here: it is mailed a single-use link, and becomes
// the user's (verified) address only when they follow it signed in; the
// answer is then 202 with the user as they are until then. Without a mail
// server a change of address is refused (403), and an address that is
// another user's is refused (409); nothing changes on any refusal.
func (a *API) updateCurrentUser(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.Account(c); err != nil {
		return 0, nil, err
	}
	var in userInput
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Name != "" && !strings.EqualFold(in.Name, c.User.Username) {
		return 0, nil, badRequest("Only the current user can be updated here; user names cannot be changed.")
	}
	setName, err := in.displayName()
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	if in.Email != nil {
		sent, err := a.cfg.Emails.Request(r.Context(), c.User, *in.Email)
		if err != nil {
			return 0, nil, fromAdmin(err)
		}
		if sent {
			status = http.StatusAccepted
			a.audit(r, c, audit.EmailChangeRequested, "user %s", c.User.Username)
		}
	}
	u, err := a.store.UpdateUser(r.Context(), c.User.ID, func(u store.User) (store.User, error) { return setName(u), nil })
	if err != nil {
		return 0, nil, err
	}
	a.audit(r, c, audit.AccountUpdated, "user %s", u.Username)
	return status, a.userJSON(u), nil
}

// applicationProperties is how Bitbucket clients learn who the token's
// user is: from the X-AUSERNAME header that handle sets.
func (a *API) applicationProperties(_ *http.Request, _ *oauth.Caller) (int, any, error) {
	return http.StatusOK, map[string]string{
		"version": a.cfg.Version, "buildNumber": a.cfg.Version, "buildDate": "", "displayName": "Latchkey",
	}, nil
}
