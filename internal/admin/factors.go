package admin

import (
	"context"
	"fmt"
)

// FactorsReset is what ResetFactors removed and ended.
type FactorsReset struct {
	Factors  int // second factors removed (recovery codes went with them)
	Sessions int // browser sessions ended
}

// ResetFactors removes every second factor and recovery code of the user
// (someone who lost their factors and their codes) and ends every browser
// session of theirs, so that the next sign-in is a fresh one: with the
// password alone, or through enrolment when the second-factor policy
// covers them. Grants to applications stay (their tokens were not
// obtained with the lost factor any more than with the password);
// SignOutEverywhere revokes them too when that is wanted.
func ResetFactors(ctx context.Context, st interface {
	DeleteUserFactors(ctx context.Context, userID int64) (int, error)
	DeleteUserSessions(ctx context.Context, userID int64, exceptID string) (int, error)
}, userID int64) (FactorsReset, error) {
	var out FactorsReset
	var err error
	if out.Factors, err = st.DeleteUserFactors(ctx, userID); err != nil {
		return out, fmt.Errorf("remove the factors of user %d: %w", userID, err)
	}
	if out.Sessions, err = st.DeleteUserSessions(ctx, userID, ""); err != nil {
		return out, fmt.Errorf("end the sessions of user %d: %w", userID, err)
	}
	return out, nil
}
