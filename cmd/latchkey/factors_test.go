package main

import (
	"testing"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
)

// TestUserResetFactorsCommand: the command removes every factor and
// recovery code of the user, ends their sessions, and records who it was
// for; another user keeps theirs.
func TestUserResetFactorsCommand(t *testing.T) {
	db := t.TempDir() + "/lk.db"
	runJSON(t, db, "user", "create", "--username", "carol")
	runJSON(t, db, "user", "create", "--username", "dave")
	st, err := backend.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	sessions := map[string]string{}
	users := map[string]store.User{}
	for _, name := range []string{"carol", "dave"} {
		u, err := st.GetUserByUsername(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		users[name] = u
		if _, err := st.CreateFactor(t.Context(), store.Factor{UserID: u.ID, Kind: store.FactorTOTP, Name: "phone",
			Secret: []byte("sealed"), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.ReplaceRecoveryCodes(t.Context(), u.ID, []string{"h1-" + name, "h2-" + name}, now); err != nil {
			t.Fatal(err)
		}
		_, sessions[name] = seedGrantAndSession(t, st, name, runJSON(t, db, "client", "create", "--name", "CI "+name,
			"--redirect-uri", "https://ci.example.com/cb")["client_id"].(string))
	}
	out := runJSON(t, db, "user", "reset-factors", "--username", "carol")
	if out["factors_removed"] != float64(1) || out["sessions_ended"] != float64(1) {
		t.Fatalf("reset-factors answered %v", out)
	}
	for name, want := range map[string]int{"carol": 0, "dave": 1} {
		fs, _ := st.ListFactors(t.Context(), users[name].ID)
		codes, _ := st.CountRecoveryCodes(t.Context(), users[name].ID)
		_, err := st.GetSession(t.Context(), sessions[name])
		if len(fs) != want || codes != 2*want || (err == nil) != (want == 1) {
			t.Errorf("%s: %d factors, %d recovery codes, session %v; want %d factors", name, len(fs), codes, err, want)
		}
	}
	es, err := store.All(t.Context(), st.ListAudit)
	if err != nil || len(es) == 0 || es[0].Event != audit.FactorsReset || es[0].Detail == "" {
		t.Fatalf("newest audit event %+v, %v", es, err)
	}
}
