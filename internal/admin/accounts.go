package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// Password length bounds for a password a person chooses.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 1000
)

// ErrWrongPassword means the current password given to ChangePassword is
// not the user's password.
var ErrWrongPassword = errors.New("the current password is not correct")

// PasswordError is a new password that is refused; its message is fit to show.
type PasswordError struct{ Message string }

func (e *PasswordError) Error() string { return e.Message }

// ChangePassword sets a user's password after checking the current one.
// It does not end sessions; the caller decides which to keep.
func ChangePassword(ctx context.Context, st store.Store, userID int64, current, next string) error {
	u, err := st.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("load user %d: %w", userID, err)
	}
	ok, err := secret.CheckPassword(u.PasswordHash, current)
	if err != nil {
		return fmt.Errorf("check password of user %d: %w", userID, err)
	}
	if !ok || u.PasswordHash == "" {
		return ErrWrongPassword
	}
	if err := CheckNewPassword(next, current); err != nil {
		return err
	}
	hash := secret.HashPassword(next)
	_, err = st.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
		u.PasswordHash = hash
		return u, nil
	})
	if err != nil {
		return fmt.Errorf("store password of user %d: %w", userID, err)
	}
	return nil
}

// CheckNewPassword refuses a new password that is too short, too long or
// the same as the current one, with a *PasswordError.
func CheckNewPassword(next, current string) error {
	switch {
	case len(next) < MinPasswordLength:
		return &PasswordError{fmt.Sprintf("The new password must be at least %d characters long.", MinPasswordLength)}
	case len(next) > MaxPasswordLength:
		return &PasswordError{fmt.Sprintf("The new password must be at most %d characters long.", MaxPasswordLength)}
	case next == current:
		return &PasswordError{"The new password must differ from the current one."}
	}
	return nil
}

// SetUserDisabled disables or enables a user. A disabled user cannot sign
// in, their sessions end at once, and their tokens stop working (every
// request checks the user); enabling them again revives unexpired tokens.
func SetUserDisabled(ctx context.Context, st store.Store, userID int64, disabled bool) (store.User, error) {
	u, err := st.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
		u.Disabled = disabled
		return u, nil
	})
	if err != nil {
		return store.User{}, fmt.Errorf("change user %d: %w", userID, err)
	}
	if disabled {
		if _, err := st.DeleteUserSessions(ctx, userID, ""); err != nil {
			return u, fmt.Errorf("end the sessions of user %d: %w", userID, err)
		}
	}
	return u, nil
}

// SignedOut is what SignOutEverywhere ended.
type SignedOut struct {
	Sessions int // browser sessions deleted
	Families int // token families (grants to applications) revoked
}

// SignOutEverywhere ends every browser session of the user but the one
// whose ID is keepSession (none when empty) and then, in one transaction,
// every authorization the user gave (store.RevokeUserFamilies): every
// access and refresh token of the user stops working at now, outstanding
// codes are burned and every application must ask for consent again.
// Sessions go first, so no session of the user's survives to approve a
// new code after the codes are burned. The user's password and account
// state do not change; the tokens of a client's service identity (another
// user) are not touched.
func SignOutEverywhere(ctx context.Context, st store.Store, userID int64, keepSession string, now time.Time) (SignedOut, error) {
	var out SignedOut
	var err error
	if out.Sessions, err = st.DeleteUserSessions(ctx, userID, keepSession); err != nil {
		return out, fmt.Errorf("end the sessions of user %d: %w", userID, err)
	}
	if out.Families, err = st.RevokeUserFamilies(ctx, userID, now); err != nil {
		return out, fmt.Errorf("revoke the grants of user %d: %w", userID, err)
	}
	return out, nil
}
