package register_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/config"
	"latchkey/internal/register"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

func withPolicy(p string) testkit.Option {
	return func(c *config.Config) { c.Registration = p }
}

// call sends a JSON request and returns the status, headers and decoded body.
func call(t *testing.T, method, url, token string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil && resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s %s: status %d, body not JSON: %q", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header, out
}

var nativeApp = map[string]any{
	"client_name": "Agent", "redirect_uris": []string{"http://127.0.0.1/callback"},
	"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
	"response_types": []string{"code"}, "application_type": "native", "scope": "read:repository offline_access",
	"logo_uri": "https://example.com/logo.png", "contacts": []string{"a@example.com"}, "x-unknown": map[string]any{"y": 1},
}

func TestRegisterPublicNativeClient(t *testing.T) {
	env := testkit.New(t, withPolicy("open"))
	status, hdr, body := call(t, "POST", env.URL+"/register", "", nativeApp)
	if status != http.StatusCreated {
		t.Fatalf("status %d %v", status, body)
	}
	if hdr.Get("Cache-Control") != "no-store" || hdr.Get("Pragma") != "no-cache" {
		t.Errorf("caching headers %v", hdr)
	}
	id, _ := body["client_id"].(string)
	if _, ok := body["client_secret"]; ok {
		t.Errorf("public client got a secret: %v", body)
	}
	if _, ok := body["client_secret_expires_at"]; ok {
		t.Errorf("public client got client_secret_expires_at: %v", body)
	}
	for _, k := range []string{"logo_uri", "contacts", "x-unknown"} {
		if _, ok := body[k]; ok {
			t.Errorf("response lists %s, which is not kept", k)
		}
	}
	if body["registration_client_uri"] != env.URL+"/register/"+id || body["token_endpoint_auth_method"] != "none" ||
		body["application_type"] != "native" || body["scope"] != "offline_access read:repository" {
		t.Errorf("response %v", body)
	}
	rat, _ := body["registration_access_token"].(string)
	c, err := env.Store.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Public || !c.PKCERequired || c.Origin != store.OriginRegistered || c.ApplicationType != "native" ||
		c.RegistrationTokenHash != secret.Hash(rat) || c.SecretHash != "" || slices.Contains(c.DefaultScopes, "offline_access") {
		t.Errorf("stored client %+v", c)
	}
	if int64(body["client_id_issued_at"].(float64)) != c.CreatedAt.Unix() {
		t.Errorf("client_id_issued_at %v, created %v", body["client_id_issued_at"], c.CreatedAt)
	}
	events, _, err := env.Store.ListAudit(context.Background(), store.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events, func(e store.AuditEvent) bool { return e.Event == audit.ClientRegistered && e.ClientID == id }) {
		t.Errorf("no client.registered event in %+v", events)
	}
}

func TestRegisterConfidentialClientSecretIsHashed(t *testing.T) {
	env := testkit.New(t, withPolicy("open"))
	status, _, body := call(t, "POST", env.URL+"/register", "", map[string]any{
		"client_name": "Web", "redirect_uris": []string{"https://app.example.com/cb"}, "token_endpoint_auth_method": "client_secret_post",
	})
	if status != http.StatusCreated {
		t.Fatalf("status %d %v", status, body)
	}
	sec, _ := body["client_secret"].(string)
	if !strings.HasPrefix(sec, secret.ClientSecretPrefix) || body["client_secret_expires_at"] != float64(0) {
		t.Fatalf("secret %v", body)
	}
	c, _ := env.Store.GetClient(context.Background(), body["client_id"].(string))
	if c.Public || c.SecretHash != secret.Hash(sec) || !c.PKCERequired || c.ApplicationType != "web" {
		t.Errorf("stored %+v", c)
	}
	// Defaults of RFC 7591 §2: authorization_code, code; the policy's scopes.
	if !slices.Equal(c.GrantTypes, []string{"authorization_code"}) || body["scope"] != strings.Join(mustSorted(register.DefaultScopes), " ") {
		t.Errorf("grants %v scope %v", c.GrantTypes, body["scope"])
	}
}

func mustSorted(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

func TestRegistrationErrors(t *testing.T) {
	env := testkit.New(t, withPolicy("open"))
	for name, tc := range map[string]struct {
		body any
		code string
	}{
		"not JSON":               {"client_name=x", "invalid_client_metadata"},
		"an array":               {"[]", "invalid_client_metadata"},
		"two objects":            {`{"redirect_uris":["https://a.example/cb"]}{}`, "invalid_client_metadata"},
		"wrong type":             {`{"redirect_uris":"https://a.example/cb"}`, "invalid_client_metadata"},
		"no redirect":            {map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
		"web loopback":           {map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}}, "invalid_redirect_uri"},
		"web https loopback":     {map[string]any{"redirect_uris": []string{"https://localhost/cb"}}, "invalid_redirect_uri"},
		"web private scheme":     {map[string]any{"redirect_uris": []string{"com.example.app:/cb"}}, "invalid_redirect_uri"},
		"native http remote":     {map[string]any{"application_type": "native", "redirect_uris": []string{"http://example.com/cb"}}, "invalid_redirect_uri"},
		"fragment":               {map[string]any{"redirect_uris": []string{"https://a.example/cb#x"}}, "invalid_redirect_uri"},
		"javascript":             {map[string]any{"application_type": "native", "redirect_uris": []string{"javascript:alert(1)"}}, "invalid_redirect_uri"},
		"NUL in URI":             {map[string]any{"redirect_uris": []string{"https://a.example/c\u0000b"}}, "invalid_redirect_uri"},
		"client_credentials":     {map[string]any{"grant_types": []string{"client_credentials"}}, "invalid_client_metadata"},
		"implicit":               {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "grant_types": []string{"implicit"}, "response_types": []string{"token"}}, "invalid_client_metadata"},
		"token response":         {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "response_types": []string{"code", "token"}}, "invalid_client_metadata"},
		"code without its grant": {map[string]any{"grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code"}, "response_types": []string{"code"}}, "invalid_client_metadata"},
		"refresh alone":          {map[string]any{"grant_types": []string{"refresh_token"}}, "invalid_client_metadata"},
		"private_key_jwt":        {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"},
		"app type":               {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "application_type": "desktop"}, "invalid_client_metadata"},
		"no allowed scope":       {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "scope": "REPO_WRITE SYSTEM_ADMIN nonsense"}, "invalid_client_metadata"},
		"client_uri javascript":  {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "client_uri": "javascript:x"}, "invalid_client_metadata"},
		"control in name":        {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "client_name": "a\nb"}, "invalid_client_metadata"},
		"bidi override in name":  {map[string]any{"redirect_uris": []string{"https://a.example/cb"}, "client_name": "Git\u202eHub"}, "invalid_client_metadata"},
		"too many redirects":     {map[string]any{"redirect_uris": slices.Repeat([]string{"https://a.example/cb"}, 21)}, "invalid_redirect_uri"},
	} {
		t.Run(name, func(t *testing.T) {
			status, hdr, body := call(t, "POST", env.URL+"/register", "", tc.body)
			if status != http.StatusBadRequest || body["error"] != tc.code || body["error_description"] == "" {
				t.Fatalf("status %d body %v; want 400 %s", status, body, tc.code)
			}
			if hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", hdr.Get("Cache-Control"))
			}
		})
	}
	big := `{"client_name":"` + strings.Repeat("a", register.MaxBody) + `"}`
	if status, _, body := call(t, "POST", env.URL+"/register", "", big); status != http.StatusRequestEntityTooLarge || body["error"] != "invalid_client_metadata" {
		t.Fatalf("too large: %d %v", status, body)
	}
	clients, _, _ := env.Store.ListClients(context.Background(), store.Page{Limit: 100})
	for _, c := range clients {
		if c.Origin == store.OriginRegistered {
			t.Errorf("a refused registration stored %+v", c)
		}
	}
}

func TestScopesAreNarrowedToThePolicy(t *testing.T) {
	env := testkit.New(t, withPolicy("open"), func(c *config.Config) { c.RegistrationScopes = "read:repository openid" })
	status, _, body := call(t, "POST", env.URL+"/register", "", map[string]any{
		"redirect_uris": []string{"https://a.example/cb"}, "scope": "openid REPO_READ write:repository bogus read:organization",
	})
	// REPO_READ and read:organization are within read:repository; the rest is dropped.
	if status != http.StatusCreated || body["scope"] != "REPO_READ openid read:organization" {
		t.Fatalf("status %d scope %v", status, body["scope"])
	}
}

func TestPolicyOffServesNothing(t *testing.T) {
	env := testkit.New(t)
	status, _, _ := call(t, "POST", env.URL+"/register", "", nativeApp)
	if status != http.StatusNotFound {
		t.Fatalf("registration with the policy off: status %d, want 404", status)
	}
	if status, _, _ := call(t, "GET", env.URL+"/register/x", "tok", nil); status != http.StatusNotFound {
		t.Fatalf("management with the policy off: status %d, want 404", status)
	}
	_, _, doc := call(t, "GET", env.URL+"/.well-known/oauth-authorization-server", "", nil)
	if _, ok := doc["registration_endpoint"]; ok {
		t.Fatalf("discovery names a registration endpoint while off: %v", doc["registration_endpoint"])
	}
	on := testkit.New(t, withPolicy("token"))
	_, _, doc = call(t, "GET", on.URL+"/.well-known/openid-configuration", "", nil)
	if doc["registration_endpoint"] != on.URL+"/register" {
		t.Fatalf("registration_endpoint %v", doc["registration_endpoint"])
	}
}

func TestTokenPolicyNeedsAnInitialAccessToken(t *testing.T) {
	env := testkit.New(t, withPolicy("token"))
	ctx := context.Background()
	good, _, err := register.CreateInitialAccessToken(ctx, env.Store, "agents", time.Hour, env.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	short, _, _ := register.CreateInitialAccessToken(ctx, env.Store, "short", time.Minute, env.Clock.Now())
	status, hdr, body := call(t, "POST", env.URL+"/register", "", nativeApp)
	if status != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("without a token: %d %v %v", status, hdr, body)
	}
	for _, tok := range []string{"lki_wrong", good + "x", strings.ToUpper(good)} {
		status, hdr, body = call(t, "POST", env.URL+"/register", tok, nativeApp)
		if status != http.StatusUnauthorized || body["error"] != "invalid_token" ||
			!strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("with token %q: %d %v %v", tok, status, hdr, body)
		}
	}
	env.Clock.Advance(2 * time.Minute)
	if status, _, body = call(t, "POST", env.URL+"/register", short, nativeApp); status != http.StatusUnauthorized {
		t.Fatalf("expired token: %d %v", status, body)
	}
	if status, _, body = call(t, "POST", env.URL+"/register", good, nativeApp); status != http.StatusCreated {
		t.Fatalf("right token: %d %v", status, body)
	}
	// A revoked token no longer works.
	found, err := register.FindInitialAccessToken(ctx, env.Store, good)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.DeleteInitialAccessToken(ctx, found.Hash); err != nil {
		t.Fatal(err)
	}
	if status, _, body = call(t, "POST", env.URL+"/register", good, nativeApp); status != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d %v", status, body)
	}
}

func TestManagement(t *testing.T) {
	env := testkit.New(t, withPolicy("open"))
	_, _, a := call(t, "POST", env.URL+"/register", "", map[string]any{
		"client_name": "A", "redirect_uris": []string{"https://a.example/cb"}, "grant_types": []string{"authorization_code", "refresh_token"},
	})
	_, _, b := call(t, "POST", env.URL+"/register", "", nativeApp)
	aURI, aTok, aID := a["registration_client_uri"].(string), a["registration_access_token"].(string), a["client_id"].(string)
	bTok := b["registration_access_token"].(string)

	for name, tok := range map[string]string{"no token": "", "wrong token": "lkm_nope", "another client's token": bTok, "A's secret": a["client_secret"].(string)} {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			status, hdr, _ := call(t, method, aURI, tok, map[string]any{"client_id": aID, "redirect_uris": []string{"https://evil.example/cb"}})
			if status != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s with %s: status %d", method, name, status)
			}
		}
	}
	if status, _, _ := call(t, "GET", env.URL+"/register/nope", aTok, nil); status != http.StatusUnauthorized {
		t.Errorf("unknown client: %d", status)
	}
	// An administrator's client cannot be managed, whatever the token.
	adminID, _ := env.Client(adminClient())
	if status, _, _ := call(t, "GET", env.URL+"/register/"+adminID, aTok, nil); status != http.StatusUnauthorized {
		t.Errorf("admin client: %d", status)
	}

	// Nor can a client of another origin that somehow holds a token hash.
	odd := store.Client{ID: "odd", Name: "odd", RedirectURIs: []string{"https://odd.example/cb"}, Scopes: []string{"PUBLIC_REPOS"},
		GrantTypes: []string{"authorization_code"}, Origin: store.OriginMetadata, RegistrationTokenHash: secret.Hash(aTok), CreatedAt: time.Now()}
	if _, err := env.Store.CreateClient(context.Background(), odd); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := call(t, "GET", env.URL+"/register/odd", aTok, nil); status != http.StatusUnauthorized {
		t.Errorf("a client of origin metadata: %d", status)
	}

	status, _, got := call(t, "GET", aURI, aTok, nil)
	if status != http.StatusOK || got["client_id"] != aID || got["client_name"] != "A" || got["registration_access_token"] != aTok {
		t.Fatalf("read: %d %v", status, got)
	}
	if _, ok := got["client_secret"]; ok {
		t.Errorf("read returned a client secret")
	}

	update := map[string]any{"client_id": aID, "client_name": "A2", "redirect_uris": []string{"https://a.example/cb2"},
		"grant_types": []string{"authorization_code", "refresh_token"}, "client_secret": a["client_secret"]}
	if status, _, got = call(t, "PUT", aURI, aTok, update); status != http.StatusOK || got["client_name"] != "A2" {
		t.Fatalf("update: %d %v", status, got)
	}
	c, _ := env.Store.GetClient(context.Background(), aID)
	if c.Name != "A2" || !slices.Equal(c.RedirectURIs, []string{"https://a.example/cb2"}) || c.SecretHash != secret.Hash(a["client_secret"].(string)) {
		t.Errorf("after update %+v", c)
	}
	for name, change := range map[string]map[string]any{
		"another client_id":   {"client_id": "other"},
		"no client_id":        {"client_id": nil},
		"a chosen secret":     {"client_secret": "lks_mine"},
		"turn public":         {"token_endpoint_auth_method": "none"},
		"a bad redirect":      {"redirect_uris": []string{"http://a.example/cb"}},
		"client_credentials":  {"grant_types": []string{"client_credentials"}},
		"a scope not allowed": {"scope": "REPO_ADMIN"},
	} {
		bad := map[string]any{}
		for k, v := range update {
			bad[k] = v
		}
		for k, v := range change {
			if v == nil {
				delete(bad, k)
			} else {
				bad[k] = v
			}
		}
		if status, _, got := call(t, "PUT", aURI, aTok, bad); status != http.StatusBadRequest {
			t.Errorf("update with %s: %d %v", name, status, got)
		}
	}
	if status, _, _ := call(t, "DELETE", aURI, aTok, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if _, err := env.Store.GetClient(context.Background(), aID); err == nil {
		t.Fatal("client still there after delete")
	}
	if status, _, _ := call(t, "GET", aURI, aTok, nil); status != http.StatusUnauthorized {
		t.Fatalf("read after delete: %d", status)
	}
	events, _, _ := env.Store.ListAudit(context.Background(), store.Page{Limit: 50})
	for _, want := range []audit.Event{audit.ClientRegistrationUpdated, audit.ClientRegistrationDeleted} {
		if !slices.ContainsFunc(events, func(e store.AuditEvent) bool { return e.Event == want && e.ClientID == aID }) {
			t.Errorf("no %s event", want)
		}
	}
}

func TestRegistrationIsRateLimitedPerAddress(t *testing.T) {
	env := testkit.New(t, withPolicy("open"), func(c *config.Config) {
		c.RateLimitPerAddress, c.RateLimitWindow = 3, time.Hour
	})
	for i := range 4 {
		status, hdr, body := call(t, "POST", env.URL+"/register", "", "{}")
		if i < 3 && status != http.StatusBadRequest {
			t.Fatalf("request %d: %d %v", i, status, body)
		}
		if i == 3 && (status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || body["error"] != "temporarily_unavailable") {
			t.Fatalf("request over the limit: %d %v %v", status, hdr, body)
		}
	}
}

func adminClient() admin.NewClient {
	return admin.NewClient{Name: "Admin's", RedirectURIs: []string{"https://ci.example/cb"}}
}
