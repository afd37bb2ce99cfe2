package api

import (
	"context"
	"errors"
	"latchkey/internal/audit"
	"net/http"
	"strings"
	"time"

	"latchkey/internal/access"
	"latchkey/internal/admin"
	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

func (a *API) mountAdmin(mux routes.Mux) {
	const users, perms = bb + "/admin/users", bb + "/admin/permissions/users"
	mux.Handle("GET "+users, a.handle(authenticated, a.adminListUsers))
	mux.Handle("POST "+users, a.handle(authenticated, a.adminCreateUser))
	mux.Handle("PUT "+users, a.handle(authenticated, a.adminUpdateUser))
	mux.Handle("DELETE "+users, a.handle(authenticated, a.adminDeleteUser))
	mux.Handle("GET "+perms, a.handle(authenticated, a.adminListPermissions))
	mux.Handle("PUT "+perms, a.handle(authenticated, a.adminSetPermission))
	mux.Handle("DELETE "+perms, a.handle(authenticated, a.adminRevokePermission))
	mux.Handle("GET "+bb+"/admin/signing-keys", a.handle(authenticated, a.listSigningKeys))
	mux.Handle("POST "+bb+"/admin/signing-keys/rotate", a.handle(authenticated, a.rotateSigningKeys))
}

// adminListUsers is GET /admin/users?filter=: every user, with whether the
// caller may delete them.
func (a *API) adminListUsers(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.AdminRead(c); err != nil {
		return 0, nil, err
	}
	users := filterSeq(store.Walk(r.Context(), a.store.ListUsers, firstBatch), func(u store.User) bool {
		return matches(c, u, r.URL.Query().Get("filter"))
	})
	p, err := paginateSeq(r, users)
	if err != nil {
		return 0, nil, err
	}
	out, err := convertPage(p, func(u store.User) (detailedUserJSON, error) {
		manageable, err := a.mayManage(r.Context(), c, u)
		return a.detailedUserJSON(u, manageable && u.ID != c.User.ID), err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// mayManage reports whether the caller may change or delete user u.
func (a *API) mayManage(ctx context.Context, c *oauth.Caller, u store.User) (bool, error) {
	perms, err := a.store.ListPermissions(ctx, u.ID)
	if err != nil {
		return false, err
	}
	return c.Principal.GlobalAccess(scope.GlobalAdmin) == scope.Allow && c.Principal.MayManage(scope.NewUserAccess(perms)), nil
}

// managedUser loads the user named by the name query parameter and checks
// that the caller may manage them (an ADMIN may not touch a SYS_ADMIN).
func (a *API) managedUser(r *http.Request, c *oauth.Caller, name string) (store.User, error) {
	if err := access.Global(c, scope.GlobalAdmin); err != nil {
		return store.User{}, err
	}
	if name == "" {
		return store.User{}, badRequest("Name the user (name=...).")
	}
	u, err := a.userByName(r.Context(), name)
	if err != nil {
		return store.User{}, err
	}
	ok, err := a.mayManage(r.Context(), c, u)
	if err != nil {
		return store.User{}, err
	}
	if !ok {
		return store.User{}, forbidden("You are not permitted to change a user with more permissions than your own.")
	}
	return u, nil
}

// adminCreateUser is POST /admin/users with Bitbucket's query parameters
// name, password, displayName and emailAddress. It answers 204.
func (a *API) adminCreateUser(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.Global(c, scope.GlobalAdmin); err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	if q.Get("password") == "" {
		return 0, nil, badRequest("A password is required (password=...).")
	}
	u, _, err := admin.CreateUser(r.Context(), a.store, admin.NewUser{
		Username: q.Get("name"), Email: q.Get("emailAddress"), Password: q.Get("password")}, a.cfg.Provider.Now())
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	a.audit(r, c, audit.UserCreated, "user %s", u.Username)
	if display := strings.TrimSpace(q.Get("displayName")); display != "" {
		_, err = a.store.UpdateUser(r.Context(), u.ID, func(u store.User) (store.User, error) {
			u.DisplayName = display
			return u, nil
		})
	}
	return http.StatusNoContent, nil, err
}

// adminUpdateUser is PUT /admin/users with a JSON body naming the user and
// their new display name or email. The address is set at once and counts
// as verified: an administrator vouches for it.
func (a *API) adminUpdateUser(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.Global(c, scope.GlobalAdmin); err != nil {
		return 0, nil, err
	}
	var in userInput
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	setName, err := in.displayName()
	if err != nil {
		return 0, nil, err
	}
	if in.Email != nil {
		if err := admin.CheckEmail(*in.Email); err != nil {
			return 0, nil, fromAdmin(err)
		}
	}
	u, err := a.managedUser(r, c, in.Name)
	if err != nil {
		return 0, nil, err
	}
	// An address an administrator sets is trusted as verified.
	u, err = a.store.UpdateUser(r.Context(), u.ID, func(u store.User) (store.User, error) {
		if in.Email != nil {
			u.Email, u.EmailVerified = *in.Email, *in.Email != ""
		}
		return setName(u), nil
	})
	if errors.Is(err, store.ErrEmailTaken) {
		return 0, nil, conflict("That email address is already used by another account.")
	}
	if err != nil {
		return 0, nil, err
	}
	a.audit(r, c, audit.UserUpdated, "user %s", u.Username)
	return http.StatusOK, a.detailedUserJSON(u, u.ID != c.User.ID), nil
}

// adminDeleteUser is DELETE /admin/users?name=: the user goes with their
// permissions and tokens. It answers with the deleted user, as Bitbucket
// does; nobody deletes themselves.
func (a *API) adminDeleteUser(r *http.Request, c *oauth.Caller) (int, any, error) {
	u, err := a.managedUser(r, c, r.URL.Query().Get("name"))
	if err != nil {
		return 0, nil, err
	}
	if u.ID == c.User.ID {
		return 0, nil, badRequest("You cannot delete yourself.")
	}
	if err := a.store.DeleteUser(r.Context(), u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, nil, err
	}
	a.audit(r, c, audit.UserDeleted, "user %s", u.Username)
	return http.StatusOK, a.detailedUserJSON(u, false), nil
}

// adminListPermissions is GET /admin/permissions/users: who holds which
// global permission.
func (a *API) adminListPermissions(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.AdminRead(c); err != nil {
		return 0, nil, err
	}
	out, err := a.holders(r.Context(), c, store.TargetGlobal, 0, r.URL.Query().Get("filter"))
	if err != nil {
		return 0, nil, err
	}
	return paged(r, out)
}

// adminSetPermission is PUT /admin/permissions/users?name=&permission=: an
// administrator grants a global permission no higher than their own.
func (a *API) adminSetPermission(r *http.Request, c *oauth.Caller) (int, any, error) {
	name, err := single(r, "permission")
	if err != nil {
		return 0, nil, err
	}
	name = strings.ToUpper(name)
	level, err := scope.GlobalPermission(name)
	if err != nil {
		return 0, nil, badRequest("Invalid permission: " + err.Error() + ".")
	}
	username, err := single(r, "name")
	if err != nil {
		return 0, nil, err
	}
	u, err := a.managedUser(r, c, username)
	if err != nil {
		return 0, nil, err
	}
	if !c.Principal.MayGrantGlobal(level) {
		return 0, nil, forbidden("You are not permitted to grant " + name + ".")
	}
	err = a.store.SetPermission(r.Context(), store.Permission{UserID: u.ID, Target: store.TargetGlobal, Name: name})
	if err != nil {
		return 0, nil, err
	}
	a.audit(r, c, audit.PermissionGranted, "user %s: %s on the whole server", u.Username, name)
	return http.StatusNoContent, nil, nil
}

// adminRevokePermission is DELETE /admin/permissions/users?name=: the user
// holds no global permission any more (every account stays a licensed user).
func (a *API) adminRevokePermission(r *http.Request, c *oauth.Caller) (int, any, error) {
	u, err := a.managedUser(r, c, r.URL.Query().Get("name"))
	if err != nil {
		return 0, nil, err
	}
	if u.ID == c.User.ID {
		return 0, nil, badRequest("You cannot revoke your own global permission.")
	}
	err = a.store.DeletePermission(r.Context(), u.ID, store.TargetGlobal, 0)
	if errors.Is(err, store.ErrNotFound) {
		return http.StatusNoContent, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	a.audit(r, c, audit.PermissionRevoked, "user %s: every permission on the whole server", u.Username)
	return http.StatusNoContent, nil, nil
}

// signingKeyJSON describes one ID-token signing key (never its private half).
type signingKeyJSON struct {
	ID          string `json:"id"`
	Algorithm   string `json:"algorithm"`
	State       string `json:"state"`
	CreatedDate int64  `json:"createdDate"`
	ActiveFrom  int64  `json:"activeFrom"`
	RetireAt    int64  `json:"retireAt,omitempty"`
}

// keyState is PENDING before a key signs, RETIRING once a rotation
// scheduled its end, RETIRED after that, and ACTIVE otherwise.
func keyState(k store.SigningKey, now time.Time) string {
	switch {
	case k.ActivateAt.After(now):
		return "PENDING"
	case k.RetireAt.IsZero():
		return "ACTIVE"
	case k.RetireAt.After(now):
		return "RETIRING"
	}
	return "RETIRED"
}

// listSigningKeys is GET /admin/signing-keys, a system administration
// endpoint: the ID-token signing keys and their schedule.
func (a *API) listSigningKeys(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.Global(c, scope.SysAdmin); err != nil {
		return 0, nil, err
	}
	keys, err := a.store.ListSigningKeys(r.Context())
	if err != nil {
		return 0, nil, err
	}
	now := a.cfg.Provider.Now()
	out := make([]signingKeyJSON, 0, len(keys))
	for _, k := range keys {
		j := signingKeyJSON{ID: k.ID, Algorithm: k.Algorithm, State: keyState(k, now),
			CreatedDate: k.CreatedAt.UnixMilli(), ActiveFrom: k.ActivateAt.UnixMilli()}
		if !k.RetireAt.IsZero() {
			j.RetireAt = k.RetireAt.UnixMilli()
		}
		out = append(out, j)
	}
	return paged(r, out)
}

// rotatePublishAhead is how long a new key is published before it signs,
// as `latchkey keys rotate` does by default.
const rotatePublishAhead = 10 * time.Minute

// rotateSigningKeys is POST /admin/signing-keys/rotate, a system
// administration endpoint: a new signing key is published now and signs
// from rotatePublishAhead on; the current keys retire after the longest
// token lifetime.
func (a *API) rotateSigningKeys(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.Global(c, scope.SysAdmin); err != nil {
		return 0, nil, err
	}
	if a.cfg.Keys == nil {
		return 0, nil, errors.New("api: no signing-key manager configured")
	}
	kid, err := a.cfg.Keys.Rotate(r.Context(), rotatePublishAhead, a.cfg.MaxTokenLifetime)
	if err != nil {
		return 0, nil, err
	}
	a.audit(r, c, audit.SigningKeyRotated, "new key %s", kid)
	return http.StatusCreated, map[string]any{
		"id": kid, "activeFrom": a.cfg.Provider.Now().Add(rotatePublishAhead).UnixMilli(),
	}, nil
}
