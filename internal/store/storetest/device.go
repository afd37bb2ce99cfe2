package storetest

import (
	"errors"
	"testing"
	"time"

	"latchkey/internal/store"
)

var deviceTests = []test{
	{"CreateAndGetByUserCodeRoundTrip", testCreateDeviceCode},
	{"UserCodeTakenIsAlreadyExists", testDeviceUserCodeTaken},
	{"UnknownIsNotFound", testDeviceNotFound},
	{"GetByHashFindsItInAnyState", testGetDeviceCodeByHash},
	{"UpdateStoresTheReturnedRow", testUpdateDeviceCode},
	{"UpdateWithIssueWritesFamilyAndLinksIt", testDeviceIssue},
	{"UpdateFnErrorWritesNothing", testDeviceFnError},
	{"ConcurrentConsumeIssuesOnce", testDeviceConcurrentConsume},
	{"CreateFamilyWithoutCode", testCreateFamily},
}

func mkDevice(t *testing.T, s store.Store, userCode string) store.DeviceCode {
	t.Helper()
	mkClient(t, s, "dev-"+userCode)
	d := store.DeviceCode{
		Hash: newHash(), UserCode: userCode, ClientID: "dev-" + userCode, Scopes: []string{"REPO_READ"},
		Status: store.DevicePending, Interval: 5 * time.Second, CreatedAt: now(), ExpiresAt: now().Add(10 * time.Minute),
	}
	must(t, "create device code", s.CreateDeviceCode(ctx(t), d))
	return d
}

func testCreateDeviceCode(t *testing.T, s store.Store) {
	d := mkDevice(t, s, "BCDFGHJK")
	got, err := s.GetDeviceCodeByUserCode(ctx(t), "BCDFGHJK")
	must(t, "get device code", err)
	same(t, "stored device code", got, d)
	got, err = s.GetDeviceCode(ctx(t), d.Hash)
	must(t, "get device code by hash", err)
	same(t, "device code by hash", got, d)
}

func testDeviceUserCodeTaken(t *testing.T, s store.Store) {
	d := mkDevice(t, s, "BCDFGHJK")
	d.Hash = newHash()
	wantErr(t, "taken user code", s.CreateDeviceCode(ctx(t), d), store.ErrAlreadyExists)
}

func testDeviceNotFound(t *testing.T, s store.Store) {
	_, err := s.GetDeviceCodeByUserCode(ctx(t), "NOPE")
	wantErr(t, "get unknown", err, store.ErrNotFound)
	_, err = s.GetDeviceCode(ctx(t), newHash())
	wantErr(t, "get unknown by hash", err, store.ErrNotFound)
	_, err = s.UpdateDeviceCode(ctx(t), newHash(), now(), func(d store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
		t.Error("fn called for an unknown device code")
		return d, nil, nil
	})
	wantErr(t, "update unknown", err, store.ErrNotFound)
}

func testUpdateDeviceCode(t *testing.T, s store.Store) {
	d := mkDevice(t, s, "BCDFGHJK")
	u := mkUser(t, s, "approver")
	got, err := s.UpdateDeviceCode(ctx(t), d.Hash, now(), func(cur store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
		cur.Status, cur.UserID, cur.AuthTime = store.DeviceApproved, u.ID, now()
		cur.Interval, cur.LastPolledAt = 10*time.Second, now()
		return cur, nil, nil
	})
	must(t, "update", err)
	stored, err := s.GetDeviceCodeByUserCode(ctx(t), "BCDFGHJK")
	must(t, "get", err)
	same(t, "updated device code", stored, got)
	if stored.Status != store.DeviceApproved || stored.UserID != u.ID || stored.Interval != 10*time.Second {
		t.Fatalf("update not stored: %+v", stored)
	}
}

func testDeviceIssue(t *testing.T, s store.Store) {
	d := mkDevice(t, s, "BCDFGHJK")
	u := mkUser(t, s, "approver")
	tok := store.Token{Hash: newHash(), Kind: store.AccessToken, Scopes: []string{"REPO_READ"}, ExpiresAt: now().Add(time.Hour)}
	at := now().Add(-time.Minute)
	got, err := s.UpdateDeviceCode(ctx(t), d.Hash, at, func(cur store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
		cur.Status, cur.UserID = store.DeviceConsumed, u.ID
		return cur, &store.Issue{Family: store.TokenFamily{Scopes: cur.Scopes}, Tokens: []store.Token{tok}}, nil
	})
	must(t, "consume", err)
	if got.FamilyID == 0 {
		t.Fatal("family not linked")
	}
	stored, fam, err := s.GetToken(ctx(t), tok.Hash)
	must(t, "get token", err)
	if fam.ID != got.FamilyID || fam.ClientID != d.ClientID || fam.UserID != u.ID || stored.Generation != 1 {
		t.Fatalf("issued family %+v token %+v", fam, stored)
	}
	if !fam.CreatedAt.Equal(at) || !stored.CreatedAt.Equal(at) {
		t.Errorf("family created at %v, token at %v; want now (%v) for both", fam.CreatedAt, stored.CreatedAt, at)
	}
}

func testDeviceFnError(t *testing.T, s store.Store) {
	d := mkDevice(t, s, "BCDFGHJK")
	boom := errors.New("boom")
	_, err := s.UpdateDeviceCode(ctx(t), d.Hash, now(), func(cur store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
		cur.Status = store.DeviceDenied
		return cur, nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("fn error not returned: %v", err)
	}
	stored, _ := s.GetDeviceCodeByUserCode(ctx(t), "BCDFGHJK")
	if stored.Status != store.DevicePending {
		t.Fatalf("fn error wrote the row: %+v", stored)
	}
}

func testDeviceConcurrentConsume(t *testing.T, s store.Store) {
	d := mkDevice(t, s, "BCDFGHJK")
	u := mkUser(t, s, "approver")
	// Each caller's token is drawn before the call: a callback may run
	// more than once and may not count anything, so the store is asked
	// afterwards how many of the tokens it kept.
	hashes := make([]string, 50)
	for i := range hashes {
		hashes[i] = newHash()
	}
	errs := parallel(len(hashes), func(i int) error {
		_, err := s.UpdateDeviceCode(ctx(t), d.Hash, now(), func(cur store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
			if cur.Status == store.DeviceConsumed {
				return cur, nil, nil
			}
			cur.Status, cur.UserID = store.DeviceConsumed, u.ID
			return cur, &store.Issue{Tokens: []store.Token{{Hash: hashes[i], Kind: store.AccessToken, ExpiresAt: now().Add(time.Hour)}}}, nil
		})
		return err
	})
	for _, err := range errs {
		must(t, "concurrent update", err)
	}
	issued := 0
	for _, h := range hashes {
		if _, _, err := s.GetToken(ctx(t), h); err == nil {
			issued++
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if issued != 1 {
		t.Fatalf("consumed %d times, want once", issued)
	}
}

func testCreateFamily(t *testing.T, s store.Store) {
	c := mkClient(t, s, "svc")
	u := mkUser(t, s, "service")
	tok := store.Token{Hash: newHash(), Kind: store.AccessToken, Scopes: []string{"REPO_READ"}, ExpiresAt: now().Add(time.Hour)}
	iss, err := s.CreateFamily(ctx(t), store.Issue{Family: store.TokenFamily{ClientID: c.ID, UserID: u.ID, Scopes: tok.Scopes}, Tokens: []store.Token{tok}}, now())
	must(t, "create family", err)
	_, fam, err := s.GetToken(ctx(t), tok.Hash)
	must(t, "get token", err)
	if fam.ID != iss.Family.ID || fam.Generation != 1 || fam.ClientID != c.ID {
		t.Fatalf("family %+v", fam)
	}

	// An access and a refresh token, stored as returned.
	two := []store.Token{
		{Hash: newHash(), Kind: store.AccessToken, Scopes: []string{"REPO_READ"}, Resources: []string{"https://api.example.com"}, ExpiresAt: now().Add(time.Hour)},
		{Hash: newHash(), Kind: store.RefreshToken, Scopes: []string{"REPO_READ"}, ExpiresAt: now().Add(24 * time.Hour)},
	}
	iss2, err := s.CreateFamily(ctx(t), store.Issue{Family: store.TokenFamily{ClientID: c.ID, UserID: u.ID, Scopes: []string{"REPO_READ"}}, Tokens: two}, now())
	must(t, "create family with two tokens", err)
	if len(iss2.Tokens) != 2 || iss2.Family.ID == iss.Family.ID {
		t.Fatalf("issue %+v", iss2)
	}
	for _, want := range iss2.Tokens {
		got, fam, err := s.GetToken(ctx(t), want.Hash)
		must(t, "get "+string(want.Kind), err)
		same(t, string(want.Kind)+" token", got, want)
		if fam.ID != iss2.Family.ID {
			t.Fatalf("%s token of family %d, want %d", want.Kind, fam.ID, iss2.Family.ID)
		}
	}

	// A family whose second token cannot be stored (its hash is taken) is
	// not created at all: neither its first token nor the family remain.
	fresh := store.Token{Hash: newHash(), Kind: store.AccessToken, ExpiresAt: now().Add(time.Hour)}
	taken := store.Token{Hash: tok.Hash, Kind: store.RefreshToken, ExpiresAt: now().Add(time.Hour)}
	if _, err := s.CreateFamily(ctx(t), store.Issue{Family: store.TokenFamily{ClientID: c.ID, UserID: u.ID}, Tokens: []store.Token{fresh, taken}}, now()); err == nil {
		t.Fatal("a family with a token hash already stored was created")
	}
	if _, _, err := s.GetToken(ctx(t), fresh.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the first token of the failed family: %v, want not found", err)
	}
	n, err := s.RevokeUserFamilies(ctx(t), u.ID, now())
	must(t, "revoke the user's families", err)
	if n != 2 {
		t.Fatalf("the user has %d families, want 2 (the failed one left one behind?)", n)
	}

	// A family of an unknown client is refused.
	if _, err := s.CreateFamily(ctx(t), store.Issue{Family: store.TokenFamily{ClientID: "no-such-client", UserID: u.ID},
		Tokens: []store.Token{{Hash: newHash(), Kind: store.AccessToken, ExpiresAt: now().Add(time.Hour)}}}, now()); err == nil {
		t.Fatal("a family of an unknown client was created")
	}
}

func testGetDeviceCodeByHash(t *testing.T, s store.Store) {
	d := mkDevice(t, s, "BCDFGHJK")
	u := mkUser(t, s, "approver")
	for _, status := range []store.DeviceStatus{store.DeviceApproved, store.DeviceConsumed} {
		want, err := s.UpdateDeviceCode(ctx(t), d.Hash, now(), func(cur store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
			cur.Status, cur.UserID = status, u.ID
			return cur, nil, nil
		})
		must(t, "update", err)
		got, err := s.GetDeviceCode(ctx(t), d.Hash)
		must(t, "get by hash", err)
		same(t, "device code "+string(status), got, want)
	}
}
