package oauth

// The harness of the in-package contract tests: a Provider on a real
// SQLite store in a temporary directory, a clock the test moves by hand,
// the users and clients the tables name, and helpers that speak to the
// exported handlers over httptest as a client would. Every access to the
// store is here, so that a change of a store signature is fixed once.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/store/sqlite"
)

// Redirect URIs of the fixture clients.
const (
	appURI      = "https://app.example.com/cb"
	otherURI    = "https://other.example.com/cb"
	loopbackURI = "http://127.0.0.1:9999/callback"
	tenantURI   = "https://app.example.com/cb?tenant=7"
	ciURI       = "https://ci.example.com/cb"
	testIssuer  = "https://latchkey.example"
)

// deviceGrantType is the RFC 8628 grant_type value as clients send it.
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// clientSecret is the secret of a fixture client (what the client sends;
// the store holds its hash).
func clientSecret(id string) string { return "lks_" + id + "-secret" }

// fixtureClients are the clients every harness registers, named by what
// sets them apart. admin.CreateClient cannot be used here: package admin
// imports oauth, so an in-package test importing it would be a cycle.
func fixtureClients() []store.Client {
	const all = "PUBLIC_REPOS REPO_READ REPO_WRITE openid profile email"
	codeAndRefresh := []string{"authorization_code", "refresh_token"}
	return []store.Client{
		{ID: "conf", Name: "Confidential", RedirectURIs: []string{appURI}, Scopes: scope.MustParse(all), GrantTypes: codeAndRefresh},
		{ID: "other", Name: "Other", RedirectURIs: []string{otherURI}, Scopes: scope.MustParse(all), GrantTypes: codeAndRefresh},
		{ID: "pub", Name: "Public CLI", Public: true, PKCERequired: true, RedirectURIs: []string{loopbackURI}, Scopes: scope.MustParse(all),
			GrantTypes: []string{"authorization_code", "refresh_token", deviceGrantType}},
		{ID: "tv", Name: "TV app", Public: true, RedirectURIs: []string{loopbackURI}, Scopes: scope.MustParse(all), GrantTypes: []string{deviceGrantType}},
		{ID: "codeonly", Name: "Code only", RedirectURIs: []string{appURI}, Scopes: scope.MustParse(all), GrantTypes: []string{"authorization_code"}},
		{ID: "strict", Name: "PKCE required", PKCERequired: true, RedirectURIs: []string{appURI}, Scopes: scope.MustParse(all), GrantTypes: codeAndRefresh},
		{ID: "multi", Name: "Several URIs", RedirectURIs: []string{appURI, tenantURI, "https://app.example.com:9443/cb", "com.example.app:/oauth"},
			Scopes: scope.MustParse(all), GrantTypes: codeAndRefresh},
		{ID: "robot", Name: "CI bot", RedirectURIs: []string{ciURI}, Scopes: scope.MustParse("REPO_READ"), DefaultScopes: scope.MustParse("REPO_READ"),
			GrantTypes: []string{"client_credentials"}},
		// A public client registered for client_credentials: admin refuses to
		// register one, so only the grant's own check stands in its way.
		{ID: "pubrobot", Name: "Public bot", Public: true, RedirectURIs: []string{ciURI}, Scopes: scope.MustParse("REPO_READ"),
			DefaultScopes: scope.MustParse("REPO_READ"), GrantTypes: []string{"client_credentials"}},
		{ID: "nogrant", Name: "No grant", RedirectURIs: []string{appURI}, Scopes: scope.MustParse(all)},
		{ID: "susp", Name: "Suspended", Suspended: true, RedirectURIs: []string{appURI}, Scopes: scope.MustParse(all),
			GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials", deviceGrantType}},
	}
}

// manualClock is a clock that moves only when the test says so.
type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time          { return c.now }
func (c *manualClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// recordingIDTokens is an IDTokenIssuer that remembers what it was asked.
type recordingIDTokens struct{ requests []IDTokenRequest }

func (r *recordingIDTokens) IssueIDToken(_ context.Context, req IDTokenRequest) (string, error) {
	r.requests = append(r.requests, req)
	return "id-token-" + req.ClientID, nil
}

// harness is one Provider with its store, clock and fixtures.
type harness struct {
	t        *testing.T
	p        *Provider
	st       store.Store
	clock    *manualClock
	idTokens *recordingIDTokens
	alice    store.User // active
	dora     store.User // disabled
	users    *int       // how many users sub made
}

// newHarness opens a fresh SQLite store in t's temporary directory and
// builds a Provider on it with default lifetimes.
func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, st: st, clock: &manualClock{now: time.Now().UTC().Truncate(time.Second)}, idTokens: &recordingIDTokens{}}
	h.p = New(Config{Store: st, Issuer: testIssuer + "/", Now: h.clock.Now, IDTokens: h.idTokens,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, c := range fixtureClients() {
		if !c.Public {
			c.SecretHash = secret.Hash(clientSecret(c.ID))
		}
		c.CreatedAt = h.clock.Now()
		if _, err := st.CreateClient(ctx, c); err != nil {
			t.Fatalf("create client %s: %v", c.ID, err)
		}
	}
	h.alice = h.user("alice", false)
	h.dora = h.user("dora", true)
	h.users = new(int)
	return h
}

// sub is the harness for one case of a table, run as subtest t: the same
// provider, store and clients, failures reported to t, a fresh active
// user in the part of alice (so a case may disable her), and the clock put
// back where it was when the case ends. Cases share the store, which
// keeps a table fast; each works on codes and tokens of its own.
func (h *harness) sub(t *testing.T) *harness {
	t.Helper()
	c := *h
	c.t = t
	*h.users++
	c.alice = c.user(fmt.Sprintf("user%d", *h.users), false)
	start := h.clock.now
	t.Cleanup(func() { h.clock.now = start })
	return &c
}

func (h *harness) user(name string, disabled bool) store.User {
	h.t.Helper()
	u, err := h.st.CreateUser(context.Background(), store.User{Username: name, Email: name + "@example.com", Disabled: disabled})
	if err != nil {
		h.t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

// disable turns a user off after tokens were issued to them.
func (h *harness) disable(u store.User) {
	h.t.Helper()
	_, err := h.st.UpdateUser(context.Background(), u.ID, func(u store.User) (store.User, error) {
		u.Disabled = true
		return u, nil
	})
	if err != nil {
		h.t.Fatalf("disable %s: %v", u.Username, err)
	}
}

// lastAudit is the newest event of the audit trail (zero if none).
func (h *harness) lastAudit() store.AuditEvent {
	h.t.Helper()
	events, _, err := h.st.ListAudit(context.Background(), store.Page{Limit: 1})
	if err != nil {
		h.t.Fatalf("list audit: %v", err)
	}
	if len(events) == 0 {
		return store.AuditEvent{}
	}
	return events[0]
}

// wantAudit fails unless the newest audit event is event about client.
func (h *harness) wantAudit(event audit.Event, client string) {
	h.t.Helper()
	if e := h.lastAudit(); e.Event != event || e.ClientID != client {
		h.t.Errorf("newest audit event %q about client %q, want %q about %q", e.Event, e.ClientID, event, client)
	}
}

// basic is an HTTP Basic header whose user and password are the
// form-urlencoded client_id and client_secret (RFC 6749 §2.3.1).
func basic(id, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(password)))
}

// basicOf is the Basic header of a fixture client with its right secret.
func basicOf(id string) string { return basic(id, clientSecret(id)) }

// post sends form to handler as a form-encoded POST with the given
// Authorization header (none when empty).
func (h *harness) post(handler http.Handler, form url.Values, authorization string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	return w
}

// token posts form to the token endpoint.
func (h *harness) token(form url.Values, authorization string) *httptest.ResponseRecorder {
	return h.post(h.p.TokenHandler(TokenOptions{}), form, authorization)
}

// authorize validates an authorization request given as a raw query.
func (h *harness) authorize(query string) (*AuthRequest, error) {
	params, err := ParseQuery(query)
	if err != nil {
		return nil, err
	}
	return h.p.ValidateAuthorize(context.Background(), params)
}

// code validates an authorization request, which must be accepted, and
// issues its code to user; it returns the code.
func (h *harness) code(user store.User, query string) string {
	h.t.Helper()
	req, err := h.authorize(query)
	if err != nil {
		h.t.Fatalf("authorization request %q refused: %v", query, err)
	}
	back, err := h.p.IssueCode(context.Background(), req, user.ID, h.clock.Now().Add(-time.Minute), store.SignIn{})
	if err != nil {
		h.t.Fatalf("issue code: %v", err)
	}
	u, err := url.Parse(back)
	if err != nil || u.Query().Get("code") == "" {
		h.t.Fatalf("code redirect %q (%v) carries no code", back, err)
	}
	return u.Query().Get("code")
}

// grant runs the code flow of the confidential client conf for user
// with the given scope and returns the tokens.
func (h *harness) grant(user store.User, scopes string) TokenResponse {
	h.t.Helper()
	code := h.code(user, "response_type=code&client_id=conf&redirect_uri="+url.QueryEscape(appURI)+"&scope="+url.QueryEscape(scopes))
	rec := h.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appURI}}, basicOf("conf"))
	return wantTokens(h.t, rec)
}

// refresh asks conf's token endpoint to rotate a refresh token.
func (h *harness) refresh(refresh, scopes string) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	if scopes != "" {
		form.Set("scope", scopes)
	}
	return h.token(form, basicOf("conf"))
}

// caller runs the bearer check of the protected resources on an access
// token and returns who it acts for.
func (h *harness) caller(access string) (*Caller, error) {
	return h.p.AuthenticateToken(context.Background(), access, "")
}

// accessLive reports whether the bearer check accepts an access token.
func (h *harness) accessLive(access string) bool {
	h.t.Helper()
	_, err := h.caller(access)
	var e *Error
	if err != nil && (!errors.As(err, &e) || e.Code != CodeInvalidToken) {
		h.t.Fatalf("bearer check failed unexpectedly: %v", err)
	}
	return err == nil
}

// introspect asks the introspection endpoint, as the confidential client
// id, about token and returns the decoded answer.
func (h *harness) introspect(id, token string) map[string]any {
	h.t.Helper()
	rec := h.post(h.p.IntrospectHandler(), url.Values{"token": {token}}, basicOf(id))
	if rec.Code != http.StatusOK {
		h.t.Fatalf("introspection: status %d: %s", rec.Code, rec.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		h.t.Fatalf("introspection answered non-JSON %q: %v", rec.Body, err)
	}
	return body
}

// active reports whether introspection by conf calls token active.
func (h *harness) active(token string) bool {
	h.t.Helper()
	return h.introspect("conf", token)["active"] == true
}

// wantNoStore fails unless the answer forbids caching (RFC 6749 §5.1, §5.2).
func wantNoStore(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	if got := rec.Header().Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma %q, want no-cache", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json;charset=UTF-8" {
		t.Errorf("Content-Type %q, want application/json;charset=UTF-8", got)
	}
}

// wantTokens asserts an RFC 6749 §5.1 success answer and decodes it.
func wantTokens(t *testing.T, rec *httptest.ResponseRecorder) TokenResponse {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s, want 200 with tokens", rec.Code, rec.Body)
	}
	wantNoStore(t, rec)
	var resp TokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("token answer %q: %v", rec.Body, err)
	}
	if !strings.HasPrefix(resp.AccessToken, secret.AccessTokenPrefix) || resp.TokenType != "bearer" || resp.ExpiresIn != int64(DefaultAccessTokenTTL.Seconds()) {
		t.Fatalf("token answer %s lacks a bearer access token of the default lifetime", rec.Body)
	}
	if resp.RefreshToken != "" && !strings.HasPrefix(resp.RefreshToken, secret.RefreshTokenPrefix) {
		t.Fatalf("refresh token %q lacks its prefix", resp.RefreshToken)
	}
	return resp
}

// wantError asserts an RFC 6749 §5.2 error answer: the status, a JSON
// object of exactly error and a non-empty error_description, no caching,
// and the Basic challenge exactly when the code is invalid_client.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error answer %q is not a JSON object: %v", rec.Body, err)
	}
	desc, _ := body["error_description"].(string)
	if rec.Code != status || body["error"] != code || desc == "" || len(body) != 2 {
		t.Fatalf("status %d body %s, want %d with exactly error %q and an error_description", rec.Code, rec.Body, status, code)
	}
	wantNoStore(t, rec)
	challenge := rec.Header().Get("WWW-Authenticate")
	if code == CodeInvalidClient && challenge != `Basic realm="latchkey"` {
		t.Errorf("invalid_client with WWW-Authenticate %q, want Basic realm=\"latchkey\"", challenge)
	}
	if code != CodeInvalidClient && challenge != "" {
		t.Errorf("%s with WWW-Authenticate %q, want none", code, challenge)
	}
}
