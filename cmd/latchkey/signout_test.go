package main

import (
	"strings"
	"testing"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
)

// seedGrantAndSession writes a live grant (an access and a refresh token)
// of client and a browser session for the user, as the server would, and
// returns the token hashes and the session ID.
func seedGrantAndSession(t *testing.T, st store.Store, username, clientID string) ([]string, string) {
	t.Helper()
	u, err := st.GetUserByUsername(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	hashes := []string{secret.Hash(secret.New("lka_")), secret.Hash(secret.New("lkr_"))}
	_, err = st.CreateFamily(t.Context(), store.Issue{
		Family: store.TokenFamily{ClientID: clientID, UserID: u.ID, Scopes: []string{"REPO_READ"}},
		Tokens: []store.Token{{Hash: hashes[0], Kind: store.AccessToken, ExpiresAt: now.Add(time.Hour)},
			{Hash: hashes[1], Kind: store.RefreshToken, ExpiresAt: now.Add(24 * time.Hour)}},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	session := secret.Hash(secret.New("s_"))
	if err := st.CreateSession(t.Context(), store.Session{ID: session, UserID: u.ID, AuthTime: now,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return hashes, session
}

// wantUserSignedOut fails unless every token is revoked (or not) and the
// session is gone (or not).
func wantUserSignedOut(t *testing.T, st store.Store, who string, hashes []string, session string, out bool) {
	t.Helper()
	for _, h := range hashes {
		tok, fam, err := st.GetToken(t.Context(), h)
		if err != nil {
			t.Fatal(err)
		}
		if fam.Revoked() != out {
			t.Errorf("%s's %s token: revoked = %v, want %v", who, tok.Kind, fam.Revoked(), out)
		}
	}
	if _, err := st.GetSession(t.Context(), session); (err != nil) != out {
		t.Errorf("%s's session: get answers %v, want it gone = %v", who, err, out)
	}
}

func TestUserSignOutCommandRevokesEveryGrantAndSessionOfThatUserOnly(t *testing.T) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return t.TempDir() + "/lk.db" },
		"postgres": func(t *testing.T) string { return testkit.FreshPostgres(t) },
	} {
		t.Run(name, func(t *testing.T) { userSignOutOn(t, dsn(t)) })
	}
}

func userSignOutOn(t *testing.T, db string) {
	runJSON(t, db, "user", "create", "--username", "carol")
	runJSON(t, db, "user", "create", "--username", "dave")
	ids := []string{
		runJSON(t, db, "client", "create", "--name", "CI", "--redirect-uri", "https://ci.example.com/cb")["client_id"].(string),
		runJSON(t, db, "client", "create", "--name", "Editor", "--redirect-uri", "https://ed.example.com/cb")["client_id"].(string),
	}
	st, err := backend.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	carolCI, carolSession := seedGrantAndSession(t, st, "carol", ids[0])
	carolEditor, _ := seedGrantAndSession(t, st, "carol", ids[1])
	dave, daveSession := seedGrantAndSession(t, st, "dave", ids[0])

	out := runJSON(t, db, "user", "sign-out", "--username", "carol")
	if out["username"] != "carol" || out["revoked"] != float64(2) || out["sessions_ended"] != float64(2) {
		t.Errorf("user sign-out: %v, want 2 grants revoked and 2 sessions ended", out)
	}
	wantUserSignedOut(t, st, "carol", append(carolCI, carolEditor...), carolSession, true)
	wantUserSignedOut(t, st, "dave", dave, daveSession, false)
	es, err := store.All(t.Context(), st.ListAudit)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 || es[0].Event != audit.UserSignedOut || !strings.Contains(es[0].Detail, "user: carol") {
		t.Errorf("newest audit event %+v, want %s naming carol", es, audit.UserSignedOut)
	}
	if u, _ := st.GetUserByUsername(t.Context(), "carol"); u.Disabled {
		t.Error("signing carol out disabled her")
	}
	if code, _, stderr := cli(t, "", "user", "sign-out", "--username", "nobody", "--db", db); code != 1 || !strings.Contains(stderr, `user "nobody" does not exist`) {
		t.Errorf("sign-out of an unknown user: exit %d, %q", code, stderr)
	}
}
