package oauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTokenPipeline states the steps every grant shares: the request is
// read, the client authenticated, the grant type checked against what is
// supported and then against the client's registration, in that order.
func TestTokenPipeline(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		name          string
		query         string // the query string of the POST
		contentType   string // default form
		body          string
		authorization string
		status        int
		code          string // empty: tokens
	}{
		{name: "missing grant_type is invalid_request", body: "scope=REPO_READ", authorization: basicOf("robot"),
			status: http.StatusBadRequest, code: CodeInvalidRequest},
		{name: "unknown grant_type is unsupported_grant_type", body: "grant_type=magic", authorization: basicOf("robot"),
			status: http.StatusBadRequest, code: CodeUnsupportedGrantType},
		{name: "password grant is unsupported_grant_type", body: "grant_type=password&username=alice&password=x", authorization: basicOf("conf"),
			status: http.StatusBadRequest, code: CodeUnsupportedGrantType},
		{name: "implicit as a grant_type is unsupported_grant_type", body: "grant_type=implicit", authorization: basicOf("conf"),
			status: http.StatusBadRequest, code: CodeUnsupportedGrantType},
		{name: "token as a grant_type is unsupported_grant_type", body: "grant_type=token", authorization: basicOf("conf"),
			status: http.StatusBadRequest, code: CodeUnsupportedGrantType},
		{name: "grant_type in another letter case is unsupported_grant_type", body: "grant_type=Client_Credentials", authorization: basicOf("robot"),
			status: http.StatusBadRequest, code: CodeUnsupportedGrantType},
		{name: "client authentication comes before the grant type: unsupported grant with a wrong secret is invalid_client",
			body: "grant_type=password", authorization: basic("conf", "lks_wrong"), status: http.StatusUnauthorized, code: CodeInvalidClient},
		{name: "client_credentials by a client not registered for it is unauthorized_client", body: "grant_type=client_credentials",
			authorization: basicOf("conf"), status: http.StatusBadRequest, code: CodeUnauthorizedClient},
		{name: "device_code by a client not registered for it is unauthorized_client", body: "grant_type=" + url.QueryEscape(deviceGrantType) + "&device_code=lkd_x",
			authorization: basicOf("conf"), status: http.StatusBadRequest, code: CodeUnauthorizedClient},
		{name: "refresh_token by a client not registered for it is unauthorized_client", body: "grant_type=refresh_token&refresh_token=lkr_x",
			authorization: basicOf("codeonly"), status: http.StatusBadRequest, code: CodeUnauthorizedClient},
		{name: "authorization_code by a client not registered for it is unauthorized_client", body: "grant_type=authorization_code&code=lkc_x",
			authorization: basicOf("robot"), status: http.StatusBadRequest, code: CodeUnauthorizedClient},
		{name: "duplicated parameter is invalid_request", body: "grant_type=client_credentials&scope=REPO_READ&scope=REPO_READ",
			authorization: basicOf("robot"), status: http.StatusBadRequest, code: CodeInvalidRequest},
		{name: "parameter in both query and body is invalid_request", query: "grant_type=client_credentials", body: "grant_type=client_credentials",
			authorization: basicOf("robot"), status: http.StatusBadRequest, code: CodeInvalidRequest},
		{name: "body with an unsupported Content-Type is invalid_request", contentType: "text/plain", body: "grant_type=client_credentials",
			authorization: basicOf("robot"), status: http.StatusBadRequest, code: CodeInvalidRequest},
		{name: "parameters in the query string of the POST are read (Bitbucket)", query: "grant_type=client_credentials&client_id=robot&client_secret=" + clientSecret("robot")},
		{name: "a JSON object body is read (Gitea)", contentType: "application/json",
			body: `{"grant_type":"client_credentials","client_id":"robot","client_secret":"` + clientSecret("robot") + `"}`},
		{name: "a form body is read", body: "grant_type=client_credentials", authorization: basicOf("robot")},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/token?"+c.query, strings.NewReader(c.body))
			if c.body != "" {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if c.contentType != "" {
				r.Header.Set("Content-Type", c.contentType)
			}
			if c.authorization != "" {
				r.Header.Set("Authorization", c.authorization)
			}
			rec := httptest.NewRecorder()
			h.p.TokenHandler(TokenOptions{}).ServeHTTP(rec, r)
			if c.code == "" {
				wantTokens(t, rec)
				return
			}
			wantError(t, rec, c.status, c.code)
		})
	}
}

// TestTokenResponseShape states the RFC 6749 §5.1 success body: exactly
// the members the grant issues, and created_at only for the dialect that
// asks for it.
func TestTokenResponseShape(t *testing.T) {
	h := newHarness(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	t.Run("members of a grant without refresh token or ID token", func(t *testing.T) {
		rec := h.token(form, basicOf("robot"))
		wantTokens(t, rec)
		wantMembers(t, rec, "access_token", "token_type", "expires_in", "scope")
	})
	t.Run("created_at is the provider's clock in Unix seconds when the dialect asks for it", func(t *testing.T) {
		rec := h.post(h.p.TokenHandler(TokenOptions{IncludeCreatedAt: true}), form, basicOf("robot"))
		if resp := wantTokens(t, rec); resp.CreatedAt != h.clock.Now().Unix() {
			t.Fatalf("created_at %d, want %d", resp.CreatedAt, h.clock.Now().Unix())
		}
		wantMembers(t, rec, "access_token", "token_type", "expires_in", "scope", "created_at")
	})
	t.Run("members of a code grant with refresh token", func(t *testing.T) {
		code := h.code(h.alice, "response_type=code&client_id=conf&scope=REPO_READ")
		rec := h.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}}, basicOf("conf"))
		wantTokens(t, rec)
		wantMembers(t, rec, "access_token", "token_type", "expires_in", "scope", "refresh_token")
	})
	t.Run("a configured access token lifetime is expires_in", func(t *testing.T) {
		p := New(Config{Store: h.st, Issuer: testIssuer, Now: h.clock.Now, AccessTokenTTL: 2 * time.Hour, Logger: h.p.log})
		var resp TokenResponse
		rec := h.post(p.TokenHandler(TokenOptions{}), form, basicOf("robot"))
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != http.StatusOK || resp.ExpiresIn != 7200 {
			t.Fatalf("status %d body %s, want expires_in 7200", rec.Code, rec.Body)
		}
	})
}

// wantMembers fails unless the JSON object in rec has exactly names.
func wantMembers(t *testing.T, rec *httptest.ResponseRecorder, names ...string) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("answer %q: %v", rec.Body, err)
	}
	for _, n := range names {
		if _, ok := body[n]; !ok {
			t.Errorf("answer %s lacks %q", rec.Body, n)
		}
	}
	if len(body) != len(names) {
		t.Errorf("answer %s has members beyond %v", rec.Body, names)
	}
}

// TestGrantTypesAreWhatTheTokenEndpointServes states that GrantTypes, which
// discovery and client registration read, names exactly the grants the
// token endpoint knows: each one reaches the client's registration check
// (unauthorized_client for a client registered for none of them), while
// a name it does not list is unsupported_grant_type.
func TestGrantTypesAreWhatTheTokenEndpointServes(t *testing.T) {
	h := newHarness(t)
	names := GrantTypes()
	want := []string{"authorization_code", "refresh_token", deviceGrantType, "client_credentials"}
	if !slices.Equal(names, want) {
		t.Fatalf("GrantTypes() = %v, want %v", names, want)
	}
	for _, name := range append(names, "password", "implicit") {
		code := CodeUnauthorizedClient
		if !slices.Contains(names, name) {
			code = CodeUnsupportedGrantType
		}
		t.Run(name+" is "+code, func(t *testing.T) {
			wantError(t, h.token(url.Values{"grant_type": {name}}, basicOf("nogrant")), http.StatusBadRequest, code)
		})
	}
}
