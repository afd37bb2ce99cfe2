package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/internal/config"
	"latchkey/internal/oauth"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// TestRefreshLoopKeepsBoundedRowsAndDetectsOldReuse refreshes one grant
// 100 times with x/oauth2 on SQLite and PostgreSQL: the database keeps at
// most the two tokens of the current generation for it (counted in the
// tokens table), and the refresh token of the 1st, 50th or 99th rotation,
// presented again, is invalid_grant and revokes the grant.
func TestRefreshLoopKeepsBoundedRowsAndDetectsOldReuse(t *testing.T) {
	backends := map[string]func(t *testing.T) (*rsNode, *sql.DB){
		"sqlite": func(t *testing.T) (*rsNode, *sql.DB) {
			n := vanishingNode(t)
			return n, openDB(t, "sqlite", n.env.Config.DSN())
		},
		"postgres": func(t *testing.T) (*rsNode, *sql.DB) {
			dsn := testkit.FreshPostgres(t)
			n := vanishingNode(t, func(c *config.Config) { c.DB, c.KeyEncryptionKey = dsn, testkit.TestKeyEncryptionKey })
			return n, openDB(t, "pgx", dsn)
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			n, db := open(t)
			alice := n.env.User("alice", "alice-password")
			for _, k := range []int{1, 50, 99} {
				refreshLoop(t, n, db, n.codeTokens(t, alice.ID, "PUBLIC_REPOS"), k)
			}
		})
	}
}

// refreshLoop rotates first 100 times, counting the grant's rows, then
// presents the refresh token the k-th rotation consumed.
func refreshLoop(t *testing.T, n *rsNode, db *sql.DB, first *oauth2.Token, k int) {
	t.Helper()
	conf := n.oauth2Config()
	chain := []*oauth2.Token{first}
	for i := 1; i <= 100; i++ {
		next, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: chain[i-1].RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		chain = append(chain, next)
		if rows := familyRows(t, db, next.RefreshToken); rows > 2 {
			t.Fatalf("after %d refreshes the grant holds %d token rows, want at most 2", i, rows)
		}
	}
	last := chain[100]
	_, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: chain[k-1].RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != oauth.CodeInvalidGrant {
		t.Fatalf("refresh token of rotation %d presented again: %v, want invalid_grant", k, err)
	}
	resp := do(t, "GET", n.env.URL+"/rest/api/latest/projects", "Bearer "+last.AccessToken, nil)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("newest access token after reuse of rotation %d's refresh token: %d, want 401", k, resp.StatusCode)
	}
	_, err = conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: last.RefreshToken}).Token()
	if !errors.As(err, &re) || re.ErrorCode != oauth.CodeInvalidGrant {
		t.Errorf("newest refresh token after reuse of rotation %d's: %v, want invalid_grant", k, err)
	}
}

// familyRows counts the rows of the tokens table of the grant of a refresh token.
func familyRows(t *testing.T, db *sql.DB, refresh string) int {
	t.Helper()
	var n int
	err := db.QueryRow(`SELECT count(*) FROM tokens WHERE family_id = (SELECT family_id FROM tokens WHERE hash = $1)`,
		secret.TokenKey(refresh)).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func openDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (n *rsNode) oauth2Config() *oauth2.Config {
	return &oauth2.Config{ClientID: n.clientID, ClientSecret: n.secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{TokenURL: n.env.URL + "/rest/oauth2/latest/token", AuthStyle: oauth2.AuthStyleInHeader}}
}

// codeTokens runs the code flow for the user (the code issued as the
// consent page does) and exchanges the code with x/oauth2.
func (n *rsNode) codeTokens(t *testing.T, userID int64, scopes string) *oauth2.Token {
	t.Helper()
	ctx := context.Background()
	p := n.env.Server.Provider
	req, err := p.ValidateAuthorize(ctx, oauth.Params{
		"response_type": "code", "client_id": n.clientID, "redirect_uri": redirectURI, "scope": scopes, "state": "s",
	})
	if err != nil {
		t.Fatal(err)
	}
	target, err := p.IssueCode(ctx, req, userID, n.env.Clock.Now(), store.SignIn{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := n.oauth2Config().Exchange(ctx, u.Query().Get("code"))
	if err != nil || tok.RefreshToken == "" {
		t.Fatal(fmt.Errorf("exchange: %v, refresh token %q", err, tok.RefreshToken))
	}
	return tok
}
