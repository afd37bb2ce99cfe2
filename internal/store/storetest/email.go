package storetest

import (
	"errors"
	"testing"
	"time"

	"latchkey/internal/store"
)

var emailTests = []test{
	{"AddressTakenCaseInsensitivelyIsEmailTakenOnCreateAndWritesNothing", testEmailTakenOnCreate},
	{"AddressTakenCaseInsensitivelyIsEmailTakenOnUpdateAndWritesNothing", testEmailTakenOnUpdate},
	{"UserNameTakenIsAlreadyExistsButNotEmailTaken", testNameTakenIsNotEmailTaken},
	{"ManyUsersMayHaveNoAddress", testEmptyEmailNotUnique},
	{"GetByEmailIgnoresCaseAndEmptyIsNotFound", testUserByEmail},
	{"EmailVerifiedIsKeptOnCreateUpdateAndBearer", testEmailVerifiedKept},
	{"VerificationIsStoredAndReplacesTheUsersEarlierOne", testVerificationReplaces},
	{"ConfirmSetsTheVerifiedAddressAndWorksOnce", testConfirmOnce},
	{"ConfirmCheckErrorIsReturnedAndChangesNothing", testConfirmCheckError},
	{"ConfirmOfAnAddressTakenMeanwhileIsEmailTakenAndKeepsTheVerification", testConfirmTaken},
	{"UpdateChangingTheAddressDeletesThePendingVerification", testUpdateDropsVerification},
	{"DeleteUserDeletesTheirVerification", testDeleteUserDropsVerification},
	{"DeleteExpiredRemovesExpiredVerificationsOnly", testVerificationCleanup},
	{"VerificationWithBadTextIsInvalidText", testVerificationBadText},
}

func mkVerification(t *testing.T, s store.Store, userID int64, email string, expires time.Time) store.EmailVerification {
	t.Helper()
	v := store.EmailVerification{Hash: newHash(), UserID: userID, Email: email,
		CreatedAt: now(), ExpiresAt: expires}
	must(t, "create email verification", s.CreateEmailVerification(ctx(t), v))
	return v
}

func testEmailTakenOnCreate(t *testing.T, s store.Store) {
	mkUser(t, s, "alice") // alice@example.com
	_, err := s.CreateUser(ctx(t), store.User{Username: "mallory", Email: "ALICE@Example.COM"})
	wantErr(t, "create mallory with alice's address", err, store.ErrEmailTaken)
	wantErr(t, "create mallory with alice's address", err, store.ErrAlreadyExists)
	if _, err := s.GetUserByUsername(ctx(t), "mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("mallory was created anyway (err %v)", err)
	}
}

func testEmailTakenOnUpdate(t *testing.T, s store.Store) {
	mkUser(t, s, "alice")
	m := mkUser(t, s, "mallory")
	_, err := s.UpdateUser(ctx(t), m.ID, func(u store.User) (store.User, error) {
		u.Email, u.DisplayName = "Alice@EXAMPLE.com", "changed"
		return u, nil
	})
	wantErr(t, "give mallory alice's address", err, store.ErrEmailTaken)
	got, err := s.GetUser(ctx(t), m.ID)
	must(t, "get mallory", err)
	same(t, "mallory after the refused update", got, m)
}

func testNameTakenIsNotEmailTaken(t *testing.T, s store.Store) {
	mkUser(t, s, "alice")
	_, err := s.CreateUser(ctx(t), store.User{Username: "ALICE", Email: "other@example.com"})
	wantErr(t, "create ALICE", err, store.ErrAlreadyExists)
	if errors.Is(err, store.ErrEmailTaken) {
		t.Fatalf("a taken user name reported as a taken address: %v", err)
	}
}

func testEmptyEmailNotUnique(t *testing.T, s store.Store) {
	for _, name := range []string{"a", "b", "c"} {
		_, err := s.CreateUser(ctx(t), store.User{Username: name})
		must(t, "create "+name+" without an address", err)
	}
}

func testUserByEmail(t *testing.T, s store.Store) {
	a := mkUser(t, s, "alice")
	got, err := s.GetUserByEmail(ctx(t), "ALICE@example.COM")
	must(t, "get by email", err)
	same(t, "user by email", got, a)
	_, err = s.GetUserByEmail(ctx(t), "")
	wantErr(t, "get by empty email", err, store.ErrNotFound)
	_, err = s.GetUserByEmail(ctx(t), "nobody@example.com")
	wantErr(t, "get by unknown email", err, store.ErrNotFound)
}

func testEmailVerifiedKept(t *testing.T, s store.Store) {
	u, err := s.CreateUser(ctx(t), store.User{Username: "v", Email: "v@example.com", EmailVerified: true})
	must(t, "create verified", err)
	got, err := s.GetUser(ctx(t), u.ID)
	must(t, "get", err)
	if !got.EmailVerified {
		t.Fatal("EmailVerified not kept on create")
	}
	got, err = s.UpdateUser(ctx(t), u.ID, func(u store.User) (store.User, error) { u.EmailVerified = false; return u, nil })
	must(t, "update", err)
	if got, _ = s.GetUser(ctx(t), u.ID); got.EmailVerified {
		t.Fatal("EmailVerified not cleared by update")
	}
}

func testVerificationReplaces(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	first := mkVerification(t, s, u.ID, "new1@example.com", now().Add(time.Hour))
	got, err := s.GetEmailVerification(ctx(t), first.Hash)
	must(t, "get verification", err)
	same(t, "stored verification", got, first)
	second := mkVerification(t, s, u.ID, "new2@example.com", now().Add(time.Hour))
	_, err = s.GetEmailVerification(ctx(t), first.Hash)
	wantErr(t, "get the replaced verification", err, store.ErrNotFound)
	pending, err := s.PendingEmailVerification(ctx(t), u.ID)
	must(t, "pending verification", err)
	same(t, "pending verification", pending, second)
	err = s.CreateEmailVerification(ctx(t), store.EmailVerification{Hash: newHash(), UserID: 999999,
		Email: "x@example.com", CreatedAt: now(), ExpiresAt: now().Add(time.Hour)})
	wantErr(t, "verification of an unknown user", err, store.ErrNotFound)
}

func testConfirmOnce(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	v := mkVerification(t, s, u.ID, "New@Example.com", now().Add(time.Hour))
	got, err := s.ConfirmEmail(ctx(t), v.Hash, func(store.EmailVerification) error { return nil })
	must(t, "confirm", err)
	want := u
	want.Email, want.EmailVerified = "New@Example.com", true
	same(t, "confirmed user", got, want)
	stored, err := s.GetUser(ctx(t), u.ID)
	must(t, "get user", err)
	same(t, "stored user", stored, want)
	if _, err := s.GetUserByEmail(ctx(t), "new@example.com"); err != nil {
		t.Fatalf("the confirmed address is not found case-insensitively: %v", err)
	}
	_, err = s.ConfirmEmail(ctx(t), v.Hash, func(store.EmailVerification) error { return nil })
	wantErr(t, "confirm again", err, store.ErrNotFound)
	_, err = s.PendingEmailVerification(ctx(t), u.ID)
	wantErr(t, "pending after confirmation", err, store.ErrNotFound)
}

func testConfirmCheckError(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	v := mkVerification(t, s, u.ID, "new@example.com", now().Add(time.Hour))
	refused := errors.New("not yours")
	var seen store.EmailVerification
	_, err := s.ConfirmEmail(ctx(t), v.Hash, func(got store.EmailVerification) error { seen = got; return refused })
	if err != refused {
		t.Fatalf("confirm with a refusing check: err = %v, want the check's error as it is", err)
	}
	same(t, "verification given to check", seen, v)
	got, err := s.GetUser(ctx(t), u.ID)
	must(t, "get user", err)
	same(t, "user after the refused confirmation", got, u)
	_, err = s.GetEmailVerification(ctx(t), v.Hash)
	must(t, "the verification is still there", err)
}

func testConfirmTaken(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	b := mkUser(t, s, "bob")
	v := mkVerification(t, s, u.ID, "shared@example.com", now().Add(time.Hour))
	_, err := s.UpdateUser(ctx(t), b.ID, func(u store.User) (store.User, error) {
		u.Email, u.EmailVerified = "SHARED@example.com", true
		return u, nil
	})
	must(t, "give bob the address", err)
	_, err = s.ConfirmEmail(ctx(t), v.Hash, func(store.EmailVerification) error { return nil })
	wantErr(t, "confirm an address bob has", err, store.ErrEmailTaken)
	got, err := s.GetUser(ctx(t), u.ID)
	must(t, "get alice", err)
	same(t, "alice after the refused confirmation", got, u)
	_, err = s.GetEmailVerification(ctx(t), v.Hash)
	must(t, "the verification is kept", err)
}

func testUpdateDropsVerification(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	v := mkVerification(t, s, u.ID, "new@example.com", now().Add(time.Hour))
	_, err := s.UpdateUser(ctx(t), u.ID, func(u store.User) (store.User, error) { u.DisplayName = "A"; return u, nil })
	must(t, "update the display name", err)
	_, err = s.GetEmailVerification(ctx(t), v.Hash)
	must(t, "verification after an update that kept the address", err)
	_, err = s.UpdateUser(ctx(t), u.ID, func(u store.User) (store.User, error) { u.Email = "admin-set@example.com"; return u, nil })
	must(t, "update the address", err)
	_, err = s.GetEmailVerification(ctx(t), v.Hash)
	wantErr(t, "verification after the address changed", err, store.ErrNotFound)
	_, err = s.ConfirmEmail(ctx(t), v.Hash, func(store.EmailVerification) error { return nil })
	wantErr(t, "confirm after the address changed", err, store.ErrNotFound)
}

func testDeleteUserDropsVerification(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	v := mkVerification(t, s, u.ID, "new@example.com", now().Add(time.Hour))
	must(t, "delete user", s.DeleteUser(ctx(t), u.ID))
	_, err := s.GetEmailVerification(ctx(t), v.Hash)
	wantErr(t, "verification of a deleted user", err, store.ErrNotFound)
}

func testVerificationCleanup(t *testing.T, s store.Store) {
	a, b := mkUser(t, s, "alice"), mkUser(t, s, "bob")
	old := mkVerification(t, s, a.ID, "a2@example.com", now().Add(-time.Minute))
	live := mkVerification(t, s, b.ID, "b2@example.com", now().Add(time.Hour))
	_, err := s.DeleteExpired(ctx(t), now(), 100)
	must(t, "delete expired", err)
	_, err = s.GetEmailVerification(ctx(t), old.Hash)
	wantErr(t, "expired verification", err, store.ErrNotFound)
	_, err = s.GetEmailVerification(ctx(t), live.Hash)
	must(t, "live verification", err)
}

func testVerificationBadText(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	err := s.CreateEmailVerification(ctx(t), store.EmailVerification{Hash: newHash(), UserID: u.ID,
		Email: "a\x00@example.com", CreatedAt: now(), ExpiresAt: now().Add(time.Hour)})
	wantErr(t, "verification with a NUL byte", err, store.ErrInvalidText)
}
