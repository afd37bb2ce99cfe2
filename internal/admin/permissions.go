package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Target names what a permission applies to, as the command line gives it.
type Target struct {
	Global  bool
	Project string // project key
	Repo    string // "KEY/slug"
}

// resolve finds the target's kind and ID.
func (t Target) resolve(ctx context.Context, st store.Store) (store.TargetKind, int64, error) {
	set := 0
	for _, b := range []bool{t.Global, t.Project != "", t.Repo != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return "", 0, errors.New("name exactly one target: --global, --project KEY or --repo KEY/slug")
	}
	switch {
	case t.Global:
		return store.TargetGlobal, 0, nil
	case t.Project != "":
		p, err := st.GetProjectByKey(ctx, t.Project)
		if err != nil {
			return "", 0, notFoundOr(err, "project %q does not exist", t.Project)
		}
		return store.TargetProject, p.ID, nil
	}
	key, slug, ok := strings.Cut(t.Repo, "/")
	if !ok || key == "" || slug == "" {
		return "", 0, fmt.Errorf("repository %q must be given as KEY/slug", t.Repo)
	}
	r, err := st.GetRepo(ctx, key, slug)
	if err != nil {
		return "", 0, notFoundOr(err, "repository %q does not exist", t.Repo)
	}
	return store.TargetRepo, r.ID, nil
}

func notFoundOr(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf(format, args...)
	}
	return err
}

func lookupUser(ctx context.Context, st store.Store, username string) (store.User, error) {
	u, err := st.GetUserByUsername(ctx, username)
	if err != nil {
		return store.User{}, notFoundOr(err, "user %q does not exist", username)
	}
	return u, nil
}

// GrantPermission gives a user a permission on a target, replacing the one
// they held there.
func GrantPermission(ctx context.Context, st store.Store, username string, t Target, permission string) error {
	u, err := lookupUser(ctx, st, username)
	if err != nil {
		return err
	}
	kind, id, err := t.resolve(ctx, st)
	if err != nil {
		return err
	}
	permission = strings.ToUpper(permission)
	if err := scope.CheckPermission(kind, permission); err != nil {
		return err
	}
	if err := st.SetPermission(ctx, store.Permission{UserID: u.ID, Target: kind, TargetID: id, Name: permission}); err != nil {
		return fmt.Errorf("grant permission: %w", err)
	}
	return nil
}

// RevokePermission takes permission away from a user on a target. The
// user must hold exactly that permission there; afterwards they hold none
// on that target. Existing tokens lose it at once, since every request
// reads the user's permissions anew.
func RevokePermission(ctx context.Context, st store.Store, username string, t Target, permission string) error {
	u, err := lookupUser(ctx, st, username)
	if err != nil {
		return err
	}
	kind, id, err := t.resolve(ctx, st)
	if err != nil {
		return err
	}
	permission = strings.ToUpper(permission)
	if err := scope.CheckPermission(kind, permission); err != nil {
		return err
	}
	perms, err := st.ListPermissions(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("load permissions: %w", err)
	}
	for _, p := range perms {
		if p.Target == kind && p.TargetID == id {
			if p.Name != permission {
				return fmt.Errorf("user %q holds %s there, not %s", username, p.Name, permission)
			}
			return st.DeletePermission(ctx, u.ID, kind, id)
		}
	}
	return fmt.Errorf("user %q holds no permission there", username)
}
