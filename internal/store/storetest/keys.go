package storetest

import (
	"testing"
	"time"

	"latchkey/internal/store"
)

var signingKeyTests = []test{
	{"CreateAndListRoundTripEveryField", testCreateSigningKey},
	{"IDTakenIsAlreadyExists", testSigningKeyTaken},
	{"RotateRetiresOnlyUnscheduledKeysAndAddsNext", testRotateSigningKey},
	{"DeleteRetiredRemovesOnlyKeysRetiredBefore", testDeleteRetiredSigningKeys},
}

func mkKey(id string, activate time.Time) store.SigningKey {
	return store.SigningKey{
		ID: id, Algorithm: "RS256", PrivateKey: []byte{0, 1, 2, 255, id[0]},
		PublicKey: []byte(`{"kid":"` + id + `"}`), CreatedAt: activate, ActivateAt: activate,
	}
}

func testCreateSigningKey(t *testing.T, s store.Store) {
	k := mkKey("k1", now())
	must(t, "create key", s.CreateSigningKey(ctx(t), k))
	keys, err := s.ListSigningKeys(ctx(t))
	must(t, "list keys", err)
	same(t, "stored keys", keys, []store.SigningKey{k})
}

func testSigningKeyTaken(t *testing.T, s store.Store) {
	must(t, "create key", s.CreateSigningKey(ctx(t), mkKey("k1", now())))
	wantErr(t, "create taken key", s.CreateSigningKey(ctx(t), mkKey("k1", now())), store.ErrAlreadyExists)
}

func testRotateSigningKey(t *testing.T, s store.Store) {
	t0 := now()
	old := mkKey("old", t0.Add(-2*time.Hour))
	old.RetireAt = t0.Add(time.Minute)
	cur := mkKey("cur", t0.Add(-time.Hour))
	must(t, "create old", s.CreateSigningKey(ctx(t), old))
	must(t, "create cur", s.CreateSigningKey(ctx(t), cur))
	next := mkKey("next", t0.Add(time.Hour))
	retire := t0.Add(3 * time.Hour)
	must(t, "rotate", s.RotateSigningKey(ctx(t), next, retire))
	keys, err := s.ListSigningKeys(ctx(t))
	must(t, "list keys", err)
	cur.RetireAt = retire
	same(t, "keys after rotation", keys, []store.SigningKey{old, cur, next})
}

func testDeleteRetiredSigningKeys(t *testing.T, s store.Store) {
	t0 := now()
	gone := mkKey("gone", t0.Add(-3*time.Hour))
	gone.RetireAt = t0.Add(-time.Minute)
	later := mkKey("later", t0.Add(-2*time.Hour))
	later.RetireAt = t0.Add(time.Hour)
	live := mkKey("live", t0.Add(-time.Hour))
	for _, k := range []store.SigningKey{gone, later, live} {
		must(t, "create key", s.CreateSigningKey(ctx(t), k))
	}
	must(t, "delete retired", s.DeleteRetiredSigningKeys(ctx(t), t0))
	keys, err := s.ListSigningKeys(ctx(t))
	must(t, "list keys", err)
	same(t, "keys after delete", keys, []store.SigningKey{later, live})
}
