package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"latchkey/internal/store"
)

var revocationRaceTests = []test{
	{"RevokingAnAuthorizationDuringRedemptionsLeavesNothingAlive", testRevokeUserClientRace},
	{"SuspendingAClientDuringRedemptionsLeavesNothingAlive", testRevokeClientFamiliesRace},
	{"SigningOutEverywhereDuringRedemptionsLeavesNothingAlive", testRevokeUserFamiliesRace},
}

// raceRevocation redeems codes and rotates refresh tokens of one user and
// client on many goroutines while revoke runs in the middle of them. When
// everything has finished, no family of that user and client may be live:
// a redemption either finished before the revocation (and was revoked) or
// found its code burned.
func raceRevocation(t *testing.T, s store.Store, revoke func(u store.User, c store.Client) error) {
	c := mkClient(t, s, "race")
	u := mkUser(t, s, "racer")
	at := now()
	const n = 30
	codes := make([]store.AuthCode, n)
	for i := range codes {
		codes[i] = store.AuthCode{Hash: newHash(), ClientID: c.ID, UserID: u.ID, Scopes: []string{"REPO_READ"},
			AuthTime: at, ExpiresAt: at.Add(time.Minute)}
		must(t, "create code", s.CreateAuthCode(ctx(t), codes[i]))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		time.Sleep(2 * time.Millisecond)
		if err := revoke(u, c); err != nil {
			t.Errorf("revoke: %v", err)
		}
	}()
	errs := make([]error, n)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = redeemAndRotate(t, s, store.Presented{Hash: codes[i].Hash, ClientID: c.ID}, at)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range listAll(t, "list families", families(s, u.ID, now())) {
		if f.Family.ClientID == c.ID {
			t.Fatalf("family %d is alive after the revocation", f.Family.ID)
		}
	}
}

// redeemAndRotate redeems a code and rotates its refresh token; refusals
// caused by the revocation are expected, other errors are not.
func redeemAndRotate(t *testing.T, s store.Store, code store.Presented, at time.Time) error {
	iss, err := s.RedeemAuthCode(ctx(t), code, at, issueFromCode)
	if isRefusal(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("redeem: %w", err)
	}
	for _, tok := range iss.Tokens {
		if tok.Kind != store.RefreshToken {
			continue
		}
		if _, err := s.RotateRefreshToken(ctx(t), store.Presented{Hash: tok.Hash, ClientID: code.ClientID}, at, issueRotation); err != nil && !isRefusal(err) {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	return nil
}

func isRefusal(err error) bool {
	return errors.Is(err, store.ErrCodeReused) || errors.Is(err, store.ErrRevoked) || errors.Is(err, store.ErrTokenReused)
}

func testRevokeUserClientRace(t *testing.T, s store.Store) {
	raceRevocation(t, s, func(u store.User, c store.Client) error {
		_, err := s.RevokeUserClient(ctx(t), u.ID, c.ID, now())
		return err
	})
}

func testRevokeClientFamiliesRace(t *testing.T, s store.Store) {
	raceRevocation(t, s, func(_ store.User, c store.Client) error {
		_, err := s.RevokeClientFamilies(ctx(t), c.ID, now())
		return err
	})
}

func testRevokeUserFamiliesRace(t *testing.T, s store.Store) {
	raceRevocation(t, s, func(u store.User, _ store.Client) error {
		_, err := s.RevokeUserFamilies(ctx(t), u.ID, now())
		return err
	})
}
