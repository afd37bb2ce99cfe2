package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"latchkey/internal/oauth"
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

// Subject names who gets a permission: a user, or a client's service
// identity (used by the client credentials grant).
type Subject struct {
	Username string
	ClientID string
}

func (s Subject) String() string {
	if s.ClientID != "" {
		return "client " + s.ClientID
	}
	return s.Username
}

func lookupUser(ctx context.Context, st store.Store, subject Subject) (store.User, error) {
	if (subject.Username == "") == (subject.ClientID == "") {
		return store.User{}, errors.New("name exactly one of --user or --client")
	}
	if subject.ClientID != "" {
		c, err := st.GetClient(ctx, subject.ClientID)
		if err != nil {
			return store.User{}, notFoundOr(err, "client %q does not exist", subject.ClientID)
		}
		if c.Public {
			return store.User{}, fmt.Errorf("client %q is public: only a confidential client has a service identity", c.ID)
		}
		return oauth.ServiceUser(ctx, st, c)
	}
	username := subject.Username
	u, err := st.GetUserByUsername(ctx, username)
	if err != nil {
		return store.User{}, notFoundOr(err, "user %q does not exist", username)
	}
	return u, nil
}

// resolvePermission checks a subject, target and permission name as the
// command line gives them and returns the permission they describe.
func resolvePermission(ctx context.Context, st store.Store, who Subject, t Target, name string) (store.Permission, error) {
	u, err := lookupUser(ctx, st, who)
	if err != nil {
		return store.Permission{}, err
	}
	kind, id, err := t.resolve(ctx, st)
	if err != nil {
		return store.Permission{}, err
	}
	name = strings.ToUpper(name)
	if err := scope.CheckPermission(kind, name); err != nil {
		return store.Permission{}, err
	}
	return store.Permission{UserID: u.ID, Target: kind, TargetID: id, Name: name}, nil
}

// GrantPermission gives a user a permission on a target, replacing the one
// they held there.
func GrantPermission(ctx context.Context, st store.Store, who Subject, t Target, permission string) error {
	want, err := resolvePermission(ctx, st, who, t, permission)
	if err != nil {
		return err
	}
	if err := st.SetPermission(ctx, want); err != nil {
		return fmt.Errorf("grant permission: %w", err)
	}
	return nil
}

// RevokePermission takes permission away from a user on a target. The
// user must hold exactly that permission there; afterwards they hold none
// on that target. Existing tokens lose it at once, since every request
// reads the user's permissions anew.
func RevokePermission(ctx context.Context, st store.Store, who Subject, t Target, permission string) error {
	want, err := resolvePermission(ctx, st, who, t, permission)
	if err != nil {
		return err
	}
	perms, err := st.ListPermissions(ctx, want.UserID)
	if err != nil {
		return fmt.Errorf("load permissions: %w", err)
	}
	for _, p := range perms {
		if p.Target == want.Target && p.TargetID == want.TargetID {
			if p.Name != want.Name {
				return fmt.Errorf("%s holds %s there, not %s", who, p.Name, want.Name)
			}
			return st.DeletePermission(ctx, want.UserID, want.Target, want.TargetID)
		}
	}
	return fmt.Errorf("%s holds no permission there", who)
}
