package oauth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/store/sqlite"
)

// Resource indicators (RFC 8707) and JWT access tokens for external
// resource servers (RFC 9068).

const (
	mcpResource = testIssuer + "/mcp"
	extResource = "https://agent-tools.example.com/mcp"
)

// testSigner is an AccessTokenSigner with a key of its own; verify checks
// a token with its public half, as a resource server would with the JWKS.
type testSigner struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newTestSigner(t testing.TB) *testSigner {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testSigner{priv: priv, pub: pub}
}

func (s *testSigner) AccessTokenSigner(context.Context) (func(any) (string, error), error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: s.priv}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, err
	}
	return func(c any) (string, error) { return jwt.Signed(signer).Claims(c).Serialize() }, nil
}

// verify checks token's signature and type and returns its claims.
func (s *testSigner) verify(t *testing.T, token string) AccessTokenClaims {
	t.Helper()
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("access token %q is not a JWS: %v", token, err)
	}
	if typ := parsed.Headers[0].ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		t.Fatalf("typ %v, want at+jwt (RFC 9068 §2.1)", typ)
	}
	var c AccessTokenClaims
	if err := parsed.Claims(s.pub, &c); err != nil {
		t.Fatalf("access token does not verify: %v", err)
	}
	return c
}

// resourceHarness is a harness whose provider signs JWT access tokens and
// knows one external resource server, with an introspection client.
func resourceHarness(t *testing.T) (*harness, *testSigner) {
	h := newHarness(t)
	signer := newTestSigner(t)
	h.p = New(Config{Store: h.st, Issuer: testIssuer, Now: h.clock.Now, IDTokens: h.idTokens, Logger: h.p.log, AccessTokens: signer})
	ctx := context.Background()
	if _, err := h.st.CreateClient(ctx, store.Client{ID: "rs-intro", Name: "introspection", SecretHash: secret.Hash(clientSecret("rs-intro")),
		CreatedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.CreateResourceServer(ctx, store.ResourceServer{URI: extResource, Name: "Agent tools",
		Scopes: []string{"REPO_READ", "tools:call"}, IntrospectionClientID: "rs-intro", CreatedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	return h, signer
}

// grantFor runs conf's code flow with resource parameters at the
// authorization endpoint and, separately, at the token endpoint.
func (h *harness) grantFor(scopes string, authorize, token []string) *httptestResult {
	h.t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {"conf"}, "redirect_uri": {appURI}, "scope": {scopes}, "resource": authorize}
	code := h.code(h.alice, q.Encode())
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appURI}, "resource": token}
	return &httptestResult{h.token(form, basicOf("conf"))}
}

type httptestResult struct {
	rec interface{ Result() *http.Response }
}

// tokensOf decodes a 200 token answer, JWT or opaque.
func tokensOf(t *testing.T, r *httptestResult) TokenResponse {
	t.Helper()
	res := r.rec.Result()
	var resp TokenResponse
	if err := json.NewDecoder(res.Body).Decode(&resp); err != nil || res.StatusCode != http.StatusOK || resp.AccessToken == "" {
		t.Fatalf("token answer: status %d, %+v (%v)", res.StatusCode, resp, err)
	}
	return resp
}

// errorOf decodes an error answer and returns its status and code.
func errorOf(r *httptestResult) (int, string) {
	res := r.rec.Result()
	var body struct{ Error string }
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body.Error
}

func refusedFor(t *testing.T, h *harness, access, res string) {
	t.Helper()
	_, err := h.p.AuthenticateToken(context.Background(), access, res)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidToken || e.Status != http.StatusUnauthorized {
		t.Fatalf("token at %q: %v, want 401 invalid_token", res, err)
	}
}

func acceptedFor(t *testing.T, h *harness, access, res string) {
	t.Helper()
	if _, err := h.p.AuthenticateToken(context.Background(), access, res); err != nil {
		t.Fatalf("token at %q refused: %v", res, err)
	}
}

func TestTokenIsBoundToTheResourcesItWasIssuedFor(t *testing.T) {
	h, _ := resourceHarness(t)
	plain := tokensOf(t, h.grantFor("REPO_READ", nil, nil))
	acceptedFor(t, h, plain.AccessToken, testIssuer)
	acceptedFor(t, h, plain.AccessToken, "")
	refusedFor(t, h, plain.AccessToken, mcpResource)

	mcp := tokensOf(t, h.grantFor("REPO_READ", []string{mcpResource}, nil))
	acceptedFor(t, h, mcp.AccessToken, mcpResource)
	acceptedFor(t, h, mcp.AccessToken, "")
	refusedFor(t, h, mcp.AccessToken, testIssuer)

	// A refresh keeps the binding, and may narrow but not widen it.
	rotated := wantTokens(t, h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {mcp.RefreshToken}}, basicOf("conf")))
	acceptedFor(t, h, rotated.AccessToken, mcpResource)
	refusedFor(t, h, rotated.AccessToken, testIssuer)
	wide := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated.RefreshToken}, "resource": {testIssuer}}, basicOf("conf"))
	wantError(t, wide, http.StatusBadRequest, CodeInvalidTarget)

	both := tokensOf(t, h.grantFor("REPO_READ", []string{testIssuer, mcpResource}, []string{mcpResource}))
	acceptedFor(t, h, both.AccessToken, mcpResource)
	refusedFor(t, h, both.AccessToken, testIssuer)
	narrowed := wantTokens(t, h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {both.RefreshToken},
		"resource": {testIssuer}}, basicOf("conf")))
	acceptedFor(t, h, narrowed.AccessToken, testIssuer)
	refusedFor(t, h, narrowed.AccessToken, mcpResource)
}

func TestUnknownOrMalformedResourcesAreInvalidTarget(t *testing.T) {
	h, _ := resourceHarness(t)
	for _, res := range []string{"https://elsewhere.example/api", "/mcp", "mcp", testIssuer + "/mcp#x", "urn:example:thing"} {
		q := url.Values{"response_type": {"code"}, "client_id": {"conf"}, "redirect_uri": {appURI}, "resource": {res}}
		_, err := h.authorize(q.Encode())
		var re *RedirectError
		if !errors.As(err, &re) || re.Err.Code != CodeInvalidTarget {
			t.Errorf("authorize with resource %q: %v, want invalid_target at the redirect URI", res, err)
		}
	}
	// At the token endpoint: a resource the code was not granted for.
	if s, code := errorOf(h.grantFor("REPO_READ", nil, []string{mcpResource})); s != http.StatusBadRequest || code != CodeInvalidTarget {
		t.Errorf("token request widening the resources: %d %s, want 400 invalid_target", s, code)
	}
}

func TestExternalResourceServerGetsAnRFC9068JWT(t *testing.T) {
	h, signer := resourceHarness(t)
	resp := tokensOf(t, h.grantFor("tools:call openid", []string{extResource}, nil))
	c := signer.verify(t, resp.AccessToken)
	now := h.clock.Now().Unix()
	if c.Issuer != testIssuer || c.Audience != extResource || c.ClientID != "conf" || c.Scope != "openid tools:call" ||
		c.Subject == "" || c.JTI == "" || c.IssuedAt != now || c.Expiry != now+int64(DefaultAccessTokenTTL.Seconds()) || c.AuthTime == 0 {
		t.Fatalf("claims %+v", c)
	}
	if resp.Scope != "openid tools:call" {
		t.Errorf("scope %q in the answer", resp.Scope)
	}
	// Latchkey's own resources refuse it; its resource server may introspect it.
	refusedFor(t, h, resp.AccessToken, testIssuer)
	refusedFor(t, h, resp.AccessToken, mcpResource)
	refusedFor(t, h, resp.AccessToken, "")
	intro := h.introspect("rs-intro", resp.AccessToken)
	if intro["active"] != true || intro["aud"] != extResource || intro["client_id"] != "conf" || intro["scope"] != "openid tools:call" {
		t.Fatalf("introspection by the resource server: %v", intro)
	}
	if got := h.introspect("other", resp.AccessToken); got["active"] != false {
		t.Fatalf("introspection by another client: %v", got)
	}
	// A refresh gives a new JWT with a new jti.
	next := tokensOf(t, &httptestResult{h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {resp.RefreshToken}}, basicOf("conf"))})
	if c2 := signer.verify(t, next.AccessToken); c2.JTI == c.JTI || c2.Audience != extResource {
		t.Fatalf("refreshed claims %+v", c2)
	}
	if h.introspect("rs-intro", resp.AccessToken)["active"] != false {
		t.Fatal("the rotated-away JWT is still active")
	}
	// Once the resource server is removed, nothing of it is active or refreshed.
	if err := h.st.DeleteResourceServer(context.Background(), extResource); err != nil {
		t.Fatal(err)
	}
	if h.introspect("conf", next.AccessToken)["active"] != false {
		t.Fatal("a token of a removed resource server is still active")
	}
	wantError(t, h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}}, basicOf("conf")),
		http.StatusBadRequest, CodeInvalidTarget)
}

func TestScopesOfAnExternalResourceServer(t *testing.T) {
	h, signer := resourceHarness(t)
	for _, tc := range []struct{ scope, want string }{
		{"REPO_WRITE", CodeInvalidScope},   // Latchkey's, but not one it lists
		{"tools:delete", CodeInvalidScope}, // its kind, but not listed
		{"tools:call", ""},                 // listed
		{"REPO_READ tools:call email", ""}, // listed, and OpenID Connect's
		{"", ""},                           // none: every scope it lists
	} {
		q := url.Values{"response_type": {"code"}, "client_id": {"conf"}, "redirect_uri": {appURI}, "resource": {extResource}, "scope": {tc.scope}}
		req, err := h.authorize(q.Encode())
		var re *RedirectError
		switch {
		case tc.want != "" && (!errors.As(err, &re) || re.Err.Code != tc.want):
			t.Errorf("scope %q: %v, want %s", tc.scope, err, tc.want)
		case tc.want == "" && err != nil:
			t.Errorf("scope %q refused: %v", tc.scope, err)
		case tc.scope == "" && err == nil && req.Scopes.String() != "REPO_READ tools:call":
			t.Errorf("default scopes %q", req.Scopes)
		}
	}
	// A custom scope is never a Latchkey scope: for Latchkey's own resource it is unknown.
	q := url.Values{"response_type": {"code"}, "client_id": {"conf"}, "redirect_uri": {appURI}, "scope": {"tools:call"}}
	if _, err := h.authorize(q.Encode()); err == nil {
		t.Error("a resource server's scope was accepted for Latchkey's own resource")
	}
	// A grant for both Latchkey and the resource server: each token carries its part.
	mixed := h.grantFor("REPO_READ tools:call", []string{testIssuer, extResource}, []string{extResource})
	c := signer.verify(t, tokensOf(t, mixed).AccessToken)
	if c.Scope != "REPO_READ tools:call" {
		t.Errorf("JWT scope %q", c.Scope)
	}
	if s, code := errorOf(h.grantFor("REPO_READ tools:call", []string{testIssuer, extResource}, nil)); s != 400 || code != CodeInvalidTarget {
		t.Errorf("a token for Latchkey and an external server at once: %d %s, want invalid_target", s, code)
	}
	own := tokensOf(t, h.grantFor("REPO_READ tools:call", []string{testIssuer, extResource}, []string{testIssuer}))
	if own.Scope != "REPO_READ" || strings.Count(own.AccessToken, ".") == 2 {
		t.Errorf("Latchkey's token of a mixed grant: scope %q, token %q", own.Scope, own.AccessToken)
	}
}

func TestConsentForOneResourceDoesNotCoverAnother(t *testing.T) {
	h, _ := resourceHarness(t)
	ask := func(res ...string) *AuthRequest {
		q := url.Values{"response_type": {"code"}, "client_id": {"conf"}, "redirect_uri": {appURI}, "scope": {"REPO_READ"}, "resource": res}
		req, err := h.authorize(q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	ctx := context.Background()
	if err := h.p.RememberConsent(ctx, ask(), h.alice.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		res  []string
		need bool
	}{{nil, false}, {[]string{testIssuer}, false}, {[]string{mcpResource}, true}, {[]string{extResource}, true}} {
		need, err := h.p.NeedsConsent(ctx, ask(tc.res...), h.alice.ID)
		if err != nil || need != tc.need {
			t.Errorf("consent for Latchkey's code resource, asked for %v: needs consent %v (%v), want %v", tc.res, need, err, tc.need)
		}
	}
	if err := h.p.RememberConsent(ctx, ask(mcpResource), h.alice.ID); err != nil {
		t.Fatal(err)
	}
	if need, _ := h.p.NeedsConsent(ctx, ask(testIssuer, mcpResource), h.alice.ID); need {
		t.Error("consents for both resources, one at a time, do not cover both")
	}
}

func TestClientCredentialsAndDeviceGrantsTakeResources(t *testing.T) {
	h, signer := resourceHarness(t)
	ctx := context.Background()
	if _, err := h.st.UpdateClient(ctx, "robot", func(c store.Client) (store.Client, error) {
		c.Scopes = append(c.Scopes, "tools:call")
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	cc := tokensOf(t, &httptestResult{h.token(url.Values{"grant_type": {"client_credentials"}, "resource": {extResource}}, basicOf("robot"))})
	if c := signer.verify(t, cc.AccessToken); c.Subject != "robot" || c.ClientID != "robot" || c.Audience != extResource || c.Scope != "REPO_READ tools:call" {
		t.Fatalf("client credentials JWT claims %+v", c)
	}
	// The device grant keeps the resource of its authorization request.
	rec := h.post(h.p.DeviceAuthorizationHandler(), url.Values{"client_id": {"pub"}, "scope": {"REPO_READ"}, "resource": {mcpResource}}, "")
	var da struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &da); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("device authorization: %d %s", rec.Code, rec.Body)
	}
	req, err := h.p.LookupDevice(ctx, da.UserCode)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.p.DecideDevice(ctx, req, h.alice.ID, h.clock.Now(), store.SignIn{}, true); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Second)
	dt := wantTokens(t, h.token(url.Values{"grant_type": {deviceGrantType}, "device_code": {da.DeviceCode}, "client_id": {"pub"}}, ""))
	acceptedFor(t, h, dt.AccessToken, mcpResource)
	refusedFor(t, h, dt.AccessToken, testIssuer)
	bad := h.post(h.p.DeviceAuthorizationHandler(), url.Values{"client_id": {"pub"}, "resource": {"https://unknown.example"}}, "")
	wantError(t, bad, http.StatusBadRequest, CodeInvalidTarget)
}

func TestRepeatedResourceParameters(t *testing.T) {
	p, err := ParseQuery("resource=" + url.QueryEscape(testIssuer) + "&resource=" + url.QueryEscape(mcpResource) + "&scope=a")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Resources(); len(got) != 2 || got[0] != testIssuer || got[1] != mcpResource {
		t.Fatalf("resources %q", got)
	}
	if _, err := ParseQuery("scope=a&scope=b"); err == nil {
		t.Fatal("a repeated scope parameter was accepted")
	}
}

// FuzzResourceParameters feeds untrusted resource parameters through
// parsing and resolution: never a panic, never a fault; whatever is
// accepted is one of Latchkey's own resources or the registered one, and
// everything else is invalid_target.
func FuzzResourceParameters(f *testing.F) {
	for _, s := range []string{testIssuer, mcpResource, extResource, "/mcp", "https://a#b", "https://x y", "%zz", "\n", "urn:x"} {
		f.Add(s, testIssuer)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "latchkey.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if _, err := st.CreateResourceServer(context.Background(), store.ResourceServer{URI: extResource, Name: "x", CreatedAt: time.Now()}); err != nil {
		f.Fatal(err)
	}
	p := New(Config{Store: st, Issuer: testIssuer})
	f.Fuzz(func(t *testing.T, a, b string) {
		q := url.Values{"resource": {a, b}}
		params, err := ParseQuery(q.Encode())
		if err != nil {
			return
		}
		tgt, err := p.resolveTarget(context.Background(), params.Resources())
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidTarget {
				t.Fatalf("resources %q %q: %v, want invalid_target", a, b, err)
			}
			return
		}
		for _, id := range tgt.ids {
			if id != testIssuer && id != mcpResource && id != extResource {
				t.Fatalf("accepted resource %q", id)
			}
		}
	})
}

// TestRefreshGracePeriod: with a grace period, the refresh token a
// rotation just replaced is answered (new tokens, the grant kept, the
// first answer's tokens live); after it, or without one, it revokes.
func TestRefreshGracePeriod(t *testing.T) {
	h := newHarness(t)
	h.p = New(Config{Store: h.st, Issuer: testIssuer, Now: h.clock.Now, IDTokens: h.idTokens, Logger: h.p.log, RefreshGrace: 10 * time.Second})
	first := h.grant(h.alice, "REPO_READ")
	second := wantTokens(t, h.refresh(first.RefreshToken, ""))
	h.clock.Advance(3 * time.Second)
	retry := wantTokens(t, h.refresh(first.RefreshToken, ""))
	for _, tok := range []string{second.AccessToken, retry.AccessToken} {
		if !h.accessLive(tok) {
			t.Fatal("an access token of the grace answer or of the rotation is not live")
		}
	}
	// Both refresh tokens of the current generation rotate on.
	third := wantTokens(t, h.refresh(retry.RefreshToken, ""))
	h.clock.Advance(11 * time.Second)
	wantError(t, h.refresh(first.RefreshToken, ""), http.StatusBadRequest, CodeInvalidGrant)
	if h.accessLive(third.AccessToken) {
		t.Fatal("a reuse after the grace period left the grant live")
	}
	// Without a grace period the first reuse revokes.
	h2 := newHarness(t)
	g := h2.grant(h2.alice, "REPO_READ")
	next := wantTokens(t, h2.refresh(g.RefreshToken, ""))
	wantError(t, h2.refresh(g.RefreshToken, ""), http.StatusBadRequest, CodeInvalidGrant)
	if h2.accessLive(next.AccessToken) {
		t.Fatal("reuse without a grace period left the grant live")
	}
}

// TestSignInTravelsToTheIDToken: what the session signed in with reaches
// the code, the grant, and every ID token of the grant (sid, amr, acr);
// a code for acr_values=mfa is never issued to a one-factor session.
func TestSignInTravelsToTheIDToken(t *testing.T) {
	h := newHarness(t)
	in := store.SignIn{SID: "sid-7", AMR: []string{"mfa", "otp", "pwd"}, ACR: ACRMultiFactor}
	q := url.Values{"response_type": {"code"}, "client_id": {"conf"}, "redirect_uri": {appURI}, "scope": {"openid"},
		"acr_values": {"urn:other mfa"}}
	req, err := h.authorize(q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !req.NeedsStepUp(ACRPassword) || req.NeedsStepUp(ACRMultiFactor) {
		t.Fatal("acr_values naming mfa does not ask a one-factor session to step up")
	}
	if _, err := h.p.IssueCode(context.Background(), req, h.alice.ID, h.clock.Now(), store.SignIn{SID: "s", ACR: ACRPassword}); err == nil {
		t.Fatal("a code for acr_values=mfa was issued to a one-factor session")
	}
	back, err := h.p.IssueCode(context.Background(), req, h.alice.ID, h.clock.Now(), in)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(back)
	resp := wantTokens(t, h.token(url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {appURI}}, basicOf("conf")))
	wantTokens(t, h.refresh(resp.RefreshToken, ""))
	if n := len(h.idTokens.requests); n != 2 {
		t.Fatalf("%d ID tokens", n)
	}
	for _, r := range h.idTokens.requests {
		if r.SignIn.SID != in.SID || r.SignIn.ACR != in.ACR || strings.Join(r.SignIn.AMR, " ") != "mfa otp pwd" {
			t.Fatalf("ID token request %+v", r.SignIn)
		}
	}
}
