package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// newHTTPClient returns a client whose transport keeps an idle connection
// for every goroutine of a load test, so that the server, not TCP set-up
// and TIME_WAIT sockets, is what is measured. Tests and benchmarks use it
// for every request they make.
func newHTTPClient(tb testing.TB) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// tokenReply is a token endpoint answer, success or error.
type tokenReply struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// tokenClient is how a test presents its OAuth client at the token
// endpoint: HTTP Basic for a confidential client, client_id in the body
// for a public one.
type tokenClient struct {
	id, secret string
}

// postToken posts form to a token endpoint. A 5xx status, or a body that
// mentions a locked database, is returned as an error whatever the caller
// expected: no concurrent load may produce either.
func postToken(hc *http.Client, endpoint string, c tokenClient, form url.Values) (int, tokenReply, error) {
	if c.secret == "" {
		form.Set("client_id", c.id)
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, tokenReply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.secret != "" {
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	}
	status, raw, err := sendChecked(hc, req)
	if err != nil {
		return status, tokenReply{}, err
	}
	var reply tokenReply
	if err := json.Unmarshal(raw, &reply); err != nil {
		return status, reply, fmt.Errorf("POST %s: status %d, body is not JSON: %q", endpoint, status, raw)
	}
	return status, reply, nil
}

// getWithToken sends GET path with a bearer token and returns the status
// and the decoded JSON body.
func getWithToken(hc *http.Client, base, path, token string) (int, map[string]any, error) {
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	status, raw, err := sendChecked(hc, req)
	if err != nil {
		return status, nil, err
	}
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return status, body, nil
}

// sendChecked sends req and reads the whole answer, refusing server faults.
func sendChecked(hc *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode >= 500 || strings.Contains(strings.ToLower(string(raw)), "database is locked") {
		return resp.StatusCode, raw, fmt.Errorf("%s %s: server fault: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return resp.StatusCode, raw, nil
}

// runCodeFlow plays the browser part of the code flow with b and exchanges
// the code with x/oauth2. Unlike fixture.authorize it returns errors, so
// that it can run on any goroutine.
func runCodeFlow(ctx context.Context, b *testkit.Browser, conf *oauth2.Config, issuer string) (*oauth2.Token, error) {
	state := "st-" + oauth2.GenerateVerifier()[:12]
	verifier := oauth2.GenerateVerifier()
	cb, err := b.Authorize(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	q := cb.Query()
	switch {
	case q.Get("error") != "":
		return nil, fmt.Errorf("authorize: %s: %s", q.Get("error"), q.Get("error_description"))
	case q.Get("state") != state || q.Get("iss") != issuer || q.Get("code") == "":
		return nil, fmt.Errorf("authorize: unexpected redirect %s", cb)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	return tok, nil
}

// refreshChain is one client's token chain in TestConcurrentRefreshChains.
type refreshChain struct {
	n                       int
	user                    string
	client                  tokenClient
	conf                    *oauth2.Config
	access, refresh         string
	prevAccess, prevRefresh string
	familyID                int64
}

const (
	chainCount     = 64
	chainUsers     = 8
	chainRotations = 50
)

// TestConcurrentRefreshChains runs 64 clients at once against one node on
// SQLite. Each obtains its own grant through the real code flow, then
// rotates it 50 times, alternating the Bitbucket and Gitea token paths, and
// checks after every rotation that the new access token works and that the
// previous tokens are dead. No request may fail, and none may see a server
// fault or a locked database. At the end every chain must be intact in the
// store: one live family per chain, at generation 51.
func TestConcurrentRefreshChains(t *testing.T) {
	env := testkit.New(t)
	hc := newHTTPClient(t)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)

	confID, confSecret := env.Client(admin.NewClient{Name: "CI Server", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ"})
	publicID, _ := env.Client(admin.NewClient{Name: "CLI", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ", Public: true})
	clients := []tokenClient{{confID, confSecret}, {publicID, ""}}
	oauthConf := func(c tokenClient, d dialect) *oauth2.Config {
		style := oauth2.AuthStyleInHeader
		if c.secret == "" {
			style = oauth2.AuthStyleInParams
		}
		return &oauth2.Config{
			ClientID: c.id, ClientSecret: c.secret, RedirectURL: redirectURI, Scopes: []string{"REPO_READ"},
			Endpoint: oauth2.Endpoint{AuthURL: env.URL + d.authorize, TokenURL: env.URL + d.token, AuthStyle: style},
		}
	}

	// Each user signs in once and approves both applications; the chains
	// of a user then share that browser session, as the tabs of one
	// browser would, and meet no page on their way.
	sessions := map[string]*http.Client{}
	for u := range chainUsers {
		name := fmt.Sprintf("user%02d", u)
		env.User(name, name+"-password")
		b := env.Browser(name, name+"-password")
		for _, c := range clients {
			if _, err := runCodeFlow(ctx, b, oauthConf(c, dialects[u%2]), env.URL); err != nil {
				t.Fatalf("%s: first sign-in: %v", name, err)
			}
		}
		sessions[name] = b.Client
	}

	chains := make([]*refreshChain, chainCount)
	for i := range chains {
		user := fmt.Sprintf("user%02d", i%chainUsers)
		c := clients[(i/chainUsers)%2]
		chains[i] = &refreshChain{n: i, user: user, client: c, conf: oauthConf(c, dialects[i%2])}
	}

	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for _, ch := range chains {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			b := env.Browser(ch.user, ch.user+"-password")
			b.Client = sessions[ch.user]
			err := ch.begin(ctx, env, b)
			ready.Done()
			if err != nil {
				t.Errorf("chain %d: %v", ch.n, err)
				return
			}
			<-start
			for k := 1; k <= chainRotations; k++ {
				if err := ch.rotate(ctx, env, hc, k); err != nil {
					t.Errorf("chain %d, rotation %d: %v", ch.n, k, err)
					return
				}
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	if t.Failed() {
		return
	}

	// Every chain is consistent in the store: its final tokens are live,
	// in the family it started with, at generation 1+50; no two chains
	// share a family.
	families := map[int64]int{}
	for _, ch := range chains {
		for _, tok := range []string{ch.access, ch.refresh} {
			st, fam, err := env.Store.GetToken(ctx, secret.TokenKey(tok))
			switch {
			case err != nil:
				t.Fatalf("chain %d: final token not in the store: %v", ch.n, err)
			case fam.ID != ch.familyID || st.FamilyID != ch.familyID:
				t.Fatalf("chain %d: final token in family %d, the chain started in %d", ch.n, fam.ID, ch.familyID)
			case fam.Revoked():
				t.Fatalf("chain %d: family revoked at %v", ch.n, fam.RevokedAt)
			case st.Generation != chainRotations+1 || fam.Generation != chainRotations+1:
				t.Fatalf("chain %d: token generation %d, family generation %d, want %d", ch.n, st.Generation, fam.Generation, chainRotations+1)
			case !st.ExpiresAt.After(env.Clock.Now()):
				t.Fatalf("chain %d: final %s token expired at %v", ch.n, st.Kind, st.ExpiresAt)
			case fam.ClientID != ch.client.id:
				t.Fatalf("chain %d: family of client %s, want %s", ch.n, fam.ClientID, ch.client.id)
			}
		}
		if prev, ok := families[ch.familyID]; ok {
			t.Fatalf("chains %d and %d share family %d", prev, ch.n, ch.familyID)
		}
		families[ch.familyID] = ch.n
	}

	// The previous refresh token of every eighth chain is presented once
	// more: it is refused, and (RFC 9700) its whole family dies with it,
	// while the other chains stay alive.
	for _, ch := range chains {
		status, _, err := getWithToken(hc, env.URL, "/api/v1/user", ch.access)
		if err != nil {
			t.Fatal(err)
		}
		if ch.n%8 != 0 {
			if status != http.StatusOK {
				t.Fatalf("chain %d: final access token: status %d", ch.n, status)
			}
			continue
		}
		status, reply, err := postToken(hc, env.URL+dialects[ch.n%2].token, ch.client,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ch.prevRefresh}})
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusBadRequest || reply.Error != "invalid_grant" {
			t.Fatalf("chain %d: reused refresh token: status %d %+v", ch.n, status, reply)
		}
		if status, _, err := getWithToken(hc, env.URL, "/api/v1/user", ch.access); err != nil || status != http.StatusUnauthorized {
			t.Fatalf("chain %d: access token after refresh-token reuse: status %d, %v", ch.n, status, err)
		}
	}
}

// begin obtains the chain's first tokens through the code flow.
func (ch *refreshChain) begin(ctx context.Context, env *testkit.Env, b *testkit.Browser) error {
	tok, err := runCodeFlow(ctx, b, ch.conf, env.URL)
	if err != nil {
		return err
	}
	if tok.RefreshToken == "" {
		return errors.New("no refresh token issued")
	}
	st, fam, err := env.Store.GetToken(ctx, secret.TokenKey(tok.AccessToken))
	if err != nil {
		return fmt.Errorf("issued access token not in the store: %w", err)
	}
	if st.Generation != 1 || fam.Generation != 1 {
		return fmt.Errorf("a new grant is at generation %d/%d, want 1", st.Generation, fam.Generation)
	}
	ch.access, ch.refresh, ch.familyID = tok.AccessToken, tok.RefreshToken, fam.ID
	return nil
}

// rotate performs rotation k of the chain and checks its effects.
func (ch *refreshChain) rotate(ctx context.Context, env *testkit.Env, hc *http.Client, k int) error {
	d := dialects[(ch.n+k)%2]
	status, reply, err := postToken(hc, env.URL+d.token, ch.client,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ch.refresh}})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("refresh on %s: status %d: %s: %s", d.name, status, reply.Error, reply.ErrorDescription)
	}
	if reply.AccessToken == "" || reply.RefreshToken == "" || reply.AccessToken == ch.access || reply.RefreshToken == ch.refresh {
		return fmt.Errorf("refresh on %s did not rotate both tokens: %+v", d.name, reply)
	}
	if reply.Scope != "REPO_READ" {
		return fmt.Errorf("refresh changed the scope to %q", reply.Scope)
	}
	ch.prevAccess, ch.prevRefresh = ch.access, ch.refresh
	ch.access, ch.refresh = reply.AccessToken, reply.RefreshToken

	status, user, err := getWithToken(hc, env.URL, "/api/v1/user", ch.access)
	if err != nil {
		return err
	}
	if status != http.StatusOK || user["login"] != ch.user {
		return fmt.Errorf("new access token: status %d, body %v", status, user)
	}
	// The previous access token stopped working at once.
	status, _, err = getWithToken(hc, env.URL, "/api/v1/user", ch.prevAccess)
	if err != nil {
		return err
	}
	if status != http.StatusUnauthorized {
		return fmt.Errorf("previous access token: status %d, want 401", status)
	}
	// The previous refresh token is dead too. Presenting it to the token
	// endpoint would revoke the chain (reuse detection; the end of the test
	// does that for some chains), so here the store is asked: the token is
	// no longer of its family's current generation, which is what makes
	// RotateRefreshToken refuse it.
	old, fam, err := env.Store.GetToken(ctx, secret.TokenKey(ch.prevRefresh))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("previous refresh token: %w", err)
	case old.Kind != store.RefreshToken || fam.ID != ch.familyID:
		return fmt.Errorf("previous refresh token: kind %s, family %d, want refresh in %d", old.Kind, fam.ID, ch.familyID)
	case old.Generation >= fam.Generation || fam.Revoked():
		return fmt.Errorf("previous refresh token still current: generation %d, family at %d, revoked %v", old.Generation, fam.Generation, fam.Revoked())
	}
	return nil
}

// TestConcurrentCodeRedemption: 50 requests redeem one code at once. One
// gets tokens, 49 get invalid_grant, and because the code was used again
// the tokens it issued are revoked (RFC 6749 §4.1.2).
func TestConcurrentCodeRedemption(t *testing.T) {
	f := newFixture(t)
	hc := newHTTPClient(t)
	ctx := context.Background()
	conf := f.config(dialects[1], f.confID, f.confSecret, "REPO_READ")
	code := f.authorize(t, f.env.Browser("alice", "alice-password"), conf)
	client := tokenClient{f.confID, f.confSecret}

	replies := raceTokenRequests(t, 50, func(i int) (int, tokenReply, error) {
		return postToken(hc, f.env.URL+dialects[i%2].token, client, url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}})
	})
	won := checkOneWinner(t, replies)

	status, _, err := getWithToken(hc, f.env.URL, "/api/v1/user", won.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusUnauthorized {
		t.Fatalf("access token of a reused code: status %d, want 401", status)
	}
	status, reply, err := postToken(hc, f.env.URL+dialects[0].token, client,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {won.RefreshToken}})
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusBadRequest || reply.Error != "invalid_grant" {
		t.Fatalf("refresh token of a reused code: status %d %+v", status, reply)
	}
	if _, fam, err := f.env.Store.GetToken(ctx, secret.TokenKey(won.RefreshToken)); err != nil || !fam.Revoked() {
		t.Fatalf("family of a reused code: revoked=%v, %v", fam.Revoked(), err)
	}
}

// TestConcurrentRefreshOfOneToken: 50 requests rotate one refresh token at
// once. Exactly one gets new tokens; the other 49 present a token that has
// just been rotated, which is reuse: they get invalid_grant and the family
// is revoked, the winner's new tokens included (RFC 9700 §4.14.2).
func TestConcurrentRefreshOfOneToken(t *testing.T) {
	f := newFixture(t)
	hc := newHTTPClient(t)
	conf := f.config(dialects[0], f.publicID, "", "REPO_READ")
	b := f.env.Browser("alice", "alice-password")
	tok, err := runCodeFlow(context.WithValue(context.Background(), oauth2.HTTPClient, hc), b, conf, f.env.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := tokenClient{id: f.publicID}

	replies := raceTokenRequests(t, 50, func(i int) (int, tokenReply, error) {
		return postToken(hc, f.env.URL+dialects[i%2].token, client,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	})
	won := checkOneWinner(t, replies)

	for _, access := range []string{tok.AccessToken, won.AccessToken} {
		if status, _, err := getWithToken(hc, f.env.URL, "/api/v1/user", access); err != nil || status != http.StatusUnauthorized {
			t.Fatalf("access token after concurrent reuse: status %d, %v", status, err)
		}
	}
}

// raceReply is one answer of a racing request.
type raceReply struct {
	status int
	reply  tokenReply
}

// raceTokenRequests runs n requests at once, released together, and returns their
// answers; a transport error or server fault fails the test.
func raceTokenRequests(t *testing.T, n int, request func(i int) (int, tokenReply, error)) []raceReply {
	t.Helper()
	out := make([]raceReply, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			status, reply, err := request(i)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			out[i] = raceReply{status, reply}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// checkOneWinner checks that exactly one answer is a 200 with tokens and
// every other one is 400 invalid_grant, and returns the winner's tokens.
func checkOneWinner(t *testing.T, replies []raceReply) tokenReply {
	t.Helper()
	var won []tokenReply
	for i, r := range replies {
		switch {
		case r.status == http.StatusOK && r.reply.AccessToken != "" && r.reply.RefreshToken != "":
			won = append(won, r.reply)
		case r.status == http.StatusBadRequest && r.reply.Error == "invalid_grant":
		default:
			t.Errorf("request %d: status %d %+v", i, r.status, r.reply)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d requests succeeded, want exactly 1", len(won), len(replies))
	}
	return won[0]
}
