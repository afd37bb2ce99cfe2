package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/oidc"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite golden files")

// oidcFixture is a node with alice (member of project TEAM) and a
// confidential OpenID Connect client.
type oidcFixture struct {
	env          *testkit.Env
	id, secret   string
	conf         *oauth2.Config
	provider     *gooidc.Provider
	verifier     *gooidc.IDTokenVerifier
	browser      *testkit.Browser
	introspector string
}

func newOIDCFixture(t *testing.T, opts ...testkit.Option) *oidcFixture {
	env := testkit.New(t, opts...)
	env.User("alice", "alice-password")
	env.Project("TEAM", false)
	env.Grant("alice", admin.Target{Project: "TEAM"}, "PROJECT_WRITE")
	id, secret := env.Client(admin.NewClient{Name: "Grafana", RedirectURIs: []string{redirectURI},
		Scopes: "openid profile email groups REPO_READ read:repository read:user"})
	ctx := context.Background()
	provider, err := gooidc.NewProvider(ctx, env.URL)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	conf := &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirectURI, Endpoint: provider.Endpoint(),
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups"}}
	verifier := provider.Verifier(&gooidc.Config{ClientID: id, Now: env.Clock.Now})
	return &oidcFixture{env: env, id: id, secret: secret, conf: conf, provider: provider, verifier: verifier,
		browser: env.Browser("alice", "alice-password")}
}

// login runs the code flow with a nonce and returns the token response.
func (f *oidcFixture) login(t *testing.T, nonce string, opts ...oauth2.AuthCodeOption) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	opts = append(opts, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	cb, err := f.browser.Authorize(f.conf.AuthCodeURL("state", opts...))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if cb.Query().Get("iss") != f.env.URL {
		t.Fatalf("iss parameter %q, want %q", cb.Query().Get("iss"), f.env.URL)
	}
	tok, err := f.conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

type idClaims struct {
	Nonce             string   `json:"nonce"`
	AuthTime          int64    `json:"auth_time"`
	PreferredUsername string   `json:"preferred_username"`
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	Groups            []string `json:"groups"`
}

func (f *oidcFixture) verify(t *testing.T, tok *oauth2.Token) (*gooidc.IDToken, idClaims) {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token in the token response")
	}
	idt, err := f.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("go-oidc rejected the ID token: %v", err)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return idt, c
}

func TestIDTokenVerifiedByGoOIDCForEachAlgorithm(t *testing.T) {
	for _, alg := range oidc.SupportedAlgorithms {
		t.Run(alg, func(t *testing.T) {
			f := newOIDCFixture(t, testkit.WithIDTokenAlg(alg))
			tok := f.login(t, "n-"+alg)
			idt, c := f.verify(t, tok)
			if idt.Issuer != f.env.URL || idt.Subject == "" || !slices.Equal(idt.Audience, []string{f.id}) {
				t.Fatalf("iss %q sub %q aud %v", idt.Issuer, idt.Subject, idt.Audience)
			}
			if c.Nonce != "n-"+alg || c.AuthTime == 0 || c.PreferredUsername != "alice" ||
				c.Email != "alice@example.com" || !c.EmailVerified || !slices.Equal(c.Groups, []string{"TEAM"}) {
				t.Fatalf("claims: %+v", c)
			}
			info, err := f.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
			if err != nil || info.Subject != idt.Subject || info.Email != "alice@example.com" {
				t.Fatalf("userinfo: %+v %v", info, err)
			}
		})
	}
}

func TestIDTokenNonceIsTheRequestsAndRefreshIssuesANewIDToken(t *testing.T) {
	f := newOIDCFixture(t)
	tok := f.login(t, "the-nonce")
	first, c := f.verify(t, tok)
	if c.Nonce != "the-nonce" {
		t.Fatalf("nonce %q", c.Nonce)
	}
	// The nonce is bound to the code: a second authorization with another
	// nonce gets its own, never the first one's.
	if _, c2 := f.verify(t, f.login(t, "another-nonce")); c2.Nonce != "another-nonce" {
		t.Fatalf("second authorization's ID token carries nonce %q", c2.Nonce)
	}
	f.env.Clock.Advance(time.Minute)
	refreshed, err := f.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	second, c2 := f.verify(t, refreshed)
	if second.Subject != first.Subject || c2.AuthTime != c.AuthTime || c2.Nonce != "" || !second.IssuedAt.After(first.IssuedAt) {
		t.Fatalf("refreshed ID token: sub %q auth_time %d nonce %q iat %v (first iat %v)", second.Subject, c2.AuthTime, c2.Nonce, second.IssuedAt, first.IssuedAt)
	}
}

func TestKeyRotationWithoutDowntime(t *testing.T) {
	f := newOIDCFixture(t)
	ctx := context.Background()
	before := f.login(t, "n1")
	f.verify(t, before)
	oldKid := kidOf(t, before)

	kid, err := f.env.Keys().Rotate(ctx, 10*time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Published at once, not yet used.
	if got := jwksKids(t, f.env.URL); !slices.Contains(got, kid) || !slices.Contains(got, oldKid) {
		t.Fatalf("JWKS after rotation: %v, want both %s and %s", got, oldKid, kid)
	}
	if tok := f.login(t, "n2"); kidOf(t, tok) != oldKid {
		t.Fatal("the new key signed before its activation time")
	}
	// After activation the new key signs; tokens of both keys verify.
	f.env.Clock.Advance(11 * time.Minute)
	after := f.login(t, "n3")
	if kidOf(t, after) != kid {
		t.Fatalf("after activation the token is signed by %s, want %s", kidOf(t, after), kid)
	}
	f.verify(t, after)
	if _, err := f.verifier.Verify(ctx, before.Extra("id_token").(string)); err != nil {
		t.Fatalf("a token signed before the rotation no longer verifies: %v", err)
	}
	// Once every token the old key signed has expired, the old key is retired.
	f.env.Clock.Advance(61 * time.Minute)
	if got := jwksKids(t, f.env.URL); slices.Contains(got, oldKid) || !slices.Contains(got, kid) {
		t.Fatalf("JWKS after retirement: %v", got)
	}
}

func kidOf(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	header, _, _ := strings.Cut(raw, ".")
	var h struct {
		Kid string `json:"kid"`
	}
	b, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil || json.Unmarshal(b, &h) != nil {
		t.Fatalf("bad ID token header %q", header)
	}
	return h.Kid
}

func jwksKids(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/login/oauth/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Use string `json:"use"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func TestDiscoveryDocumentGolden(t *testing.T) {
	env := testkit.New(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, err := http.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if doc["issuer"] != env.URL {
			t.Fatalf("issuer %v, want exactly %q", doc["issuer"], env.URL)
		}
		got, _ := json.MarshalIndent(doc, "", "  ")
		got = bytes.ReplaceAll(got, []byte(env.URL), []byte("{{issuer}}"))
		golden := filepath.Join("testdata", "discovery.golden.json")
		if *update {
			if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/e2e -run Golden -update)", err)
		}
		if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
			t.Errorf("%s differs from %s (run with -update if the change is intended):\n%s", path, golden, got)
		}
	}
}

// TestDiscoveryListsOnlyWhatWorks checks every endpoint the document names
// answers, so the document cannot promise what the server does not do.
func TestDiscoveryListsOnlyWhatWorks(t *testing.T) {
	f := newOIDCFixture(t)
	var doc oidc.Discovery
	resp, err := http.Get(f.env.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range []oidc.Endpoints{doc.Endpoints, doc.BitbucketEndpoints} {
		for _, u := range []string{e.Token, e.Revocation, e.Introspection} {
			resp, err := http.PostForm(u, url.Values{})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				t.Errorf("%s is listed but answers 404", u)
			}
		}
	}
	if !slices.Equal(doc.IDTokenAlgs, []string{"RS256"}) || !doc.AuthorizationResponseIssSupported {
		t.Fatalf("discovery: %+v", doc)
	}
}

// post sends an authenticated form to an endpoint.
func post(t *testing.T, endpoint, id, secret string, form url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header, body
}

func TestIntrospectionAndRevocation(t *testing.T) {
	for _, d := range []struct{ name, introspect, revoke string }{
		{"gitea", "/login/oauth/introspect", "/login/oauth/revoke"},
		{"bitbucket", "/rest/oauth2/latest/introspect", "/rest/oauth2/latest/revoke"},
	} {
		t.Run(d.name, func(t *testing.T) {
			f := newOIDCFixture(t)
			tok := f.login(t, "n")
			introspect := func(token string) map[string]any {
				status, _, body := post(t, f.env.URL+d.introspect, f.id, f.secret, url.Values{"token": {token}})
				if status != http.StatusOK {
					t.Fatalf("introspect: %d %v", status, body)
				}
				return body
			}
			got := introspect(tok.AccessToken)
			if got["active"] != true || got["client_id"] != f.id || got["username"] != "alice" || got["iss"] != f.env.URL ||
				!strings.Contains(got["scope"].(string), "openid") || got["token_type"] != "bearer" {
				t.Fatalf("introspection of a live token: %v", got)
			}
			// Without client authentication: 401.
			status, hdr, body := post(t, f.env.URL+d.introspect, "", "", url.Values{"token": {tok.AccessToken}})
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" || hdr.Get("WWW-Authenticate") == "" {
				t.Fatalf("introspection without client authentication: %d %v", status, body)
			}
			// Another client learns nothing.
			otherID, otherSecret := f.env.Client(admin.NewClient{Name: "Other", RedirectURIs: []string{redirectURI}})
			status, _, body = post(t, f.env.URL+d.introspect, otherID, otherSecret, url.Values{"token": {tok.AccessToken}})
			if status != http.StatusOK || body["active"] != false || len(body) != 1 {
				t.Fatalf("introspection by another client: %d %v", status, body)
			}
			// Revoke the access token: the whole grant dies at once.
			status, _, _ = post(t, f.env.URL+d.revoke, f.id, f.secret, url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}})
			if status != http.StatusOK {
				t.Fatalf("revoke: %d", status)
			}
			if got := introspect(tok.AccessToken); got["active"] != false || len(got) != 1 {
				t.Fatalf("introspection of a revoked token: %v", got)
			}
			if got := introspect(tok.RefreshToken); got["active"] != false {
				t.Fatalf("refresh token after revoking its access token: %v", got)
			}
			if _, err := f.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
				t.Fatal("userinfo accepted a revoked token")
			}
			status, hdr, _ = apiGetWithHeader(t, f.env.URL+"/login/oauth/userinfo", tok.AccessToken)
			if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("userinfo with a revoked token: %d %q", status, hdr.Get("WWW-Authenticate"))
			}
			// Revoking an unknown token is not an error.
			if status, _, _ := post(t, f.env.URL+d.revoke, f.id, f.secret, url.Values{"token": {"lka_unknown"}}); status != http.StatusOK {
				t.Fatalf("revoke unknown: %d", status)
			}
		})
	}
}

func TestRevokingRefreshTokenEndsFamilyAndExpiredTokensAreInactive(t *testing.T) {
	f := newOIDCFixture(t)
	tok := f.login(t, "n")
	status, _, _ := post(t, f.env.URL+"/login/oauth/revoke", f.id, f.secret, url.Values{"token": {tok.RefreshToken}})
	if status != http.StatusOK {
		t.Fatal(status)
	}
	if s, _, _ := apiGetWithHeader(t, f.env.URL+"/api/v1/user", tok.AccessToken); s != http.StatusUnauthorized {
		t.Fatalf("access token after revoking its refresh token: %d", s)
	}
	live := f.login(t, "n2")
	f.env.Clock.Advance(2 * time.Hour)
	_, _, body := post(t, f.env.URL+"/login/oauth/introspect", f.id, f.secret, url.Values{"token": {live.AccessToken}})
	if body["active"] != false {
		t.Fatalf("introspection of an expired token: %v", body)
	}
}

func apiGetWithHeader(t *testing.T, u, token string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, buf.Bytes()
}

func TestUserinfoNeedsOpenIDScope(t *testing.T) {
	f := newOIDCFixture(t)
	f.conf.Scopes = []string{"read:repository"}
	verifier := oauth2.GenerateVerifier()
	cb, err := f.browser.Authorize(f.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("id_token") != nil {
		t.Fatal("an ID token was issued without the openid scope")
	}
	status, hdr, _ := apiGetWithHeader(t, f.env.URL+"/login/oauth/userinfo", tok.AccessToken)
	if status != http.StatusForbidden || !strings.Contains(hdr.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Fatalf("userinfo without openid: %d %q", status, hdr.Get("WWW-Authenticate"))
	}
	// The Gitea scope works on the API like its Bitbucket twin.
	if s, _, _ := apiGetWithHeader(t, f.env.URL+"/rest/api/latest/projects/TEAM/repos", tok.AccessToken); s != http.StatusOK {
		t.Fatalf("read:repository on a project alice may write: %d", s)
	}
}

func TestUnknownScopeIsInvalidScope(t *testing.T) {
	f := newOIDCFixture(t)
	f.conf.Scopes = []string{"openid", "read:everything"}
	cb, err := f.browser.Authorize(f.conf.AuthCodeURL("s"))
	if err != nil || cb.Query().Get("error") != "invalid_scope" {
		t.Fatalf("unknown scope: %v %v", cb, err)
	}
}

func TestMaxAgeAndPromptLoginForceSignIn(t *testing.T) {
	f := newOIDCFixture(t)
	f.login(t, "n1")
	seen := len(f.browser.Pages)
	f.env.Clock.Advance(10 * time.Minute)
	f.login(t, "n2", oauth2.SetAuthURLParam("max_age", "3600"))
	if len(f.browser.Pages) != seen {
		t.Fatal("max_age=3600 asked for a sign-in ten minutes after the last")
	}
	tok := f.login(t, "n3", oauth2.SetAuthURLParam("max_age", "60"))
	if len(f.browser.Pages) != seen+1 || !strings.Contains(f.browser.Pages[seen], `name="password"`) {
		t.Fatal("max_age=60 did not ask for a sign-in after ten minutes")
	}
	_, c := f.verify(t, tok)
	if time.Since(time.Unix(c.AuthTime, 0).Add(-10*time.Minute)) > time.Minute {
		t.Fatalf("auth_time %d is not the fresh sign-in", c.AuthTime)
	}
}

func TestPreregisteredClientsWorkAndCanBeSwitchedOff(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	const gitCredentialOAuth = "a4792ccc-144e-407e-86c9-5e7d8d9c3269"
	conf := &oauth2.Config{ClientID: gitCredentialOAuth, RedirectURL: "http://127.0.0.1:43210",
		Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/login/oauth/authorize", TokenURL: env.URL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	cb, err := env.Browser("alice", "alice-password").Authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("git-credential-oauth authorize: %v %v", cb, err)
	}
	tok, err := conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.Extra("scope") != "REPO_WRITE" {
		t.Fatalf("git-credential-oauth exchange: %v %v", tok, err)
	}
	// Tools that send "localhost" instead of the IP literal, on a port of
	// their choosing, are accepted too (RFC 8252 §7.3 loopback rules).
	local := *conf
	local.RedirectURL = "http://localhost:51234"
	verifier2 := oauth2.GenerateVerifier()
	cb, err = env.Browser("alice", "alice-password").Authorize(local.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier2)))
	if err != nil || cb.Host != "localhost:51234" || cb.Query().Get("code") == "" {
		t.Fatalf("git-credential-oauth authorize with a localhost redirect: %v %v", cb, err)
	}
	if _, err := local.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier2)); err != nil {
		t.Fatalf("git-credential-oauth exchange with a localhost redirect: %v", err)
	}
	off := testkit.New(t, testkit.WithPreregisteredClients(""))
	off.User("alice", "alice-password")
	if _, err := off.Browser("alice", "alice-password").Authorize(strings.Replace(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), env.URL, off.URL, 1)); err == nil {
		t.Fatal("a switched-off pre-registered client was accepted")
	}
}

func TestPreregisteredClientsSurviveRestartsAndSwitchOffCleanly(t *testing.T) {
	env := testkit.New(t)
	ctx := context.Background()
	const gcm = "e90ee53c-94e2-48ac-9358-a874fb9e0662"
	if _, err := env.Store.UpdateClient(ctx, gcm, func(c store.Client) (store.Client, error) {
		c.Suspended = true
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	all := []string{"git-credential-oauth", "git-credential-manager", "tea"}
	if err := admin.SyncWellKnownClients(ctx, env.Store, all, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if c, err := env.Store.GetClient(ctx, gcm); err != nil || !c.Suspended {
		t.Fatalf("a restart undid the administrator's suspension: %+v %v", c, err)
	}
	if err := admin.SyncWellKnownClients(ctx, env.Store, []string{"tea"}, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.GetClient(ctx, gcm); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a client taken off the list is still registered: %v", err)
	}
	if err := admin.SyncWellKnownClients(ctx, env.Store, all, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if c, err := env.Store.GetClient(ctx, gcm); err != nil || c.Suspended || !c.Public {
		t.Fatalf("a client put back on the list: %+v %v", c, err)
	}

	// A client registered by an earlier release, with the redirect URIs of
	// that release, gets today's on the next start; one whose URIs an
	// administrator changed keeps them.
	const tea, gco = "d57cb8c4-630c-4168-8324-ec79935e18d4", "a4792ccc-144e-407e-86c9-5e7d8d9c3269"
	for id, uris := range map[string][]string{
		tea: {"http://127.0.0.1", "https://127.0.0.1", "http://[::1]"},
		gco: {"http://127.0.0.1"},
	} {
		if _, err := env.Store.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
			c.RedirectURIs = uris
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.SyncWellKnownClients(ctx, env.Store, all, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if c, _ := env.Store.GetClient(ctx, tea); !slices.Contains(c.RedirectURIs, "http://localhost") {
		t.Fatalf("an earlier release's tea client was not upgraded: %q", c.RedirectURIs)
	}
	if c, _ := env.Store.GetClient(ctx, gco); !slices.Equal(c.RedirectURIs, []string{"http://127.0.0.1"}) {
		t.Fatalf("the administrator's redirect URIs were replaced: %q", c.RedirectURIs)
	}
}

// TestOfflineAccessIsAcceptedFromClientsWithRefreshTokens: relying
// parties that ask for offline_access by default (OpenID Connect Core
// §11) are not refused: a client that may use refresh tokens gets it,
// listed in the token's scope, with a refresh token that works, even when
// it was not registered for the scope. A client without the refresh_token
// grant is refused it (invalid_scope), and discovery lists it.
func TestOfflineAccessIsAcceptedFromClientsWithRefreshTokens(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	ctx := context.Background()
	id, secret := env.Client(admin.NewClient{Name: "RP", RedirectURIs: []string{"https://rp.example.com/cb"},
		Scopes: "openid profile email"})
	conf := &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: "https://rp.example.com/cb",
		Scopes:   []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/login/oauth/authorize", TokenURL: env.URL + "/login/oauth/access_token"}}
	cb, err := env.Browser("alice", "alice-password").Authorize(conf.AuthCodeURL("s"))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("authorize with offline_access: %v %v", cb, err)
	}
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"))
	if err != nil || tok.RefreshToken == "" || !strings.Contains(fmt.Sprint(tok.Extra("scope")), "offline_access") {
		t.Fatalf("exchange: %+v %v", tok, err)
	}
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || refreshed.AccessToken == "" {
		t.Fatalf("refresh: %v", err)
	}

	noRefresh, secret2 := env.Client(admin.NewClient{Name: "No refresh", RedirectURIs: []string{"https://rp.example.com/cb"},
		Scopes: "openid", GrantTypes: "authorization_code"})
	conf2 := *conf
	conf2.ClientID, conf2.ClientSecret = noRefresh, secret2
	cb, err = env.Browser("alice", "alice-password").Authorize(conf2.AuthCodeURL("s"))
	if err != nil || cb.Query().Get("error") != "invalid_scope" {
		t.Fatalf("offline_access from a client without refresh tokens: %v %v", cb, err)
	}

	resp, err := http.Get(env.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		ScopesSupported []string `json:"scopes_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || !slices.Contains(doc.ScopesSupported, "offline_access") {
		t.Fatalf("scopes_supported %v: %v", doc.ScopesSupported, err)
	}
}
