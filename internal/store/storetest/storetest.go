// Package storetest is the conformance suite of the store.Store contract.
// Every rule written in the doc comments of package store is a test here,
// and each backend runs the whole suite from a few lines in its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.RunTests(t, func(t *testing.T) store.Store { ... })
//	}
//
// The suite includes concurrency tests: one code redeemed by many
// goroutines at once, one refresh token rotated by many goroutines at once,
// and many goroutines writing unrelated rows. Every list is read in pages
// of every size and compared with the whole list. (That a callback may run
// more than once is a property of a backend's retries: package sqlstore
// tests it by failing commits.)
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"latchkey/internal/store"
)

// RunTests runs the suite. newStore must return a fresh, empty, migrated
// store on each call and close it (and drop its data) with t.Cleanup.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"User", userTests},
		{"Email", emailTests},
		{"Project", projectTests},
		{"Repo", repoTests},
		{"Permission", permissionTests},
		{"Resources", resourceTests},
		{"Client", clientTests},
		{"Consent", consentTests},
		{"Session", sessionTests},
		{"AuthCode", authCodeTests},
		{"Refresh", refreshTests},
		{"Token", tokenTests},
		{"Secret", secretTests},
		{"SigningKey", signingKeyTests},
		{"DeviceCode", deviceTests},
		{"RevocationRace", revocationRaceTests},
		{"Concurrency", concurrencyTests},
		{"Cleanup", cleanupTests},
		{"SelfService", selfServiceTests},
		{"Audit", auditTests},
		{"Paging", pagingTests},
		{"Time", timeTests},
		{"BadText", badTextTests},
		{"Lineage", lineageTests},
		{"Throttle", throttleTests},
		{"Webhook", webhookTests},
		{"Delivery", deliveryTests},
		{"CommitStatus", statusTests},
		{"Registry", registryTests},
		{"SignIn", signInTests},
		{"Logout", logoutTests},
		{"Identity", identityTests},
		{"Cache", cacheTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
			}
		})
	}
}

// test is one case of the suite; its name says what should happen.
type test struct {
	name string
	fn   func(*testing.T, store.Store)
}

// ctx returns a context that ends with the test.
func ctx(t *testing.T) context.Context { return t.Context() }

// now returns the current time as the store keeps it (milliseconds).
func now() time.Time { return time.Now().Truncate(time.Millisecond) }

// newHash returns a fresh hex SHA-256, as the protocol stores for secrets.
func newHash() string {
	sum := sha256.Sum256([]byte(rand.Text()))
	return hex.EncodeToString(sum[:])
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// must fails the test on err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// same fails the test if got differs from want (see diff).
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := diff(got, want); d != "" {
		t.Errorf("%s differs:\n%s", what, d)
	}
}

// parallel runs fn(i) for i in [0, n) on n goroutines released together
// and returns their errors by index.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}
