package register

import (
	"encoding/json"
	"slices"
	"testing"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
)

// FuzzRegistrationRequest feeds arbitrary bodies to the registration
// parser and checker: neither panics, every refusal is one of RFC 7591's
// error codes with a description, and whatever is accepted keeps the
// rules: redirect URIs that oauth.CheckRedirectURI and the application
// type accept, scopes within the policy, known grant types and no
// client_credentials, response type code exactly with authorization_code.
func FuzzRegistrationRequest(f *testing.F) {
	for _, seed := range []string{
		`{"redirect_uris":["http://127.0.0.1/cb"],"application_type":"native","token_endpoint_auth_method":"none","scope":"read:repository offline_access"}`,
		`{"redirect_uris":["https://a.example/cb"],"grant_types":["authorization_code","refresh_token"],"client_name":"x"}`,
		`{"redirect_uris":["com.example.app:/cb"],"application_type":"native","scope":"REPO_WRITE openid"}`,
		`{"grant_types":["urn:ietf:params:oauth:grant-type:device_code","refresh_token"],"token_endpoint_auth_method":"none"}`,
		`{"redirect_uris":"x"}`, `[]`, `null`, `{"client_name":"\u0000"}`, `{} {}`, `{"scope":"public-only read:repository"}`,
		`{"redirect_uris":["https://a.example/cb"],"client_uri":"https://a.example","response_types":["code","code"]}`,
	} {
		f.Add([]byte(seed), false)
	}
	rules := Rules{Scopes: scope.MustParse(DefaultScopes)}
	f.Fuzz(func(t *testing.T, body []byte, insecure bool) {
		rules.AllowInsecureRedirects = insecure
		m, perr := ParseMetadata(body)
		if perr != nil {
			checkError(t, perr)
			return
		}
		reg, perr := rules.Check(m)
		if perr != nil {
			checkError(t, perr)
			return
		}
		for _, u := range reg.RedirectURIs {
			if err := oauth.CheckRedirectURI(u, insecure); err != nil {
				t.Fatalf("accepted redirect URI %q: %v", u, err)
			}
			if checkRedirect(u, reg.ApplicationType, insecure) != nil || !cleanText(u) {
				t.Fatalf("accepted redirect URI %q breaks the %s rule", u, reg.ApplicationType)
			}
		}
		if !rules.Scopes.Covers(reg.Scopes) || len(reg.Scopes) == 0 {
			t.Fatalf("scopes %v outside the policy %v", reg.Scopes, rules.Scopes)
		}
		for _, g := range reg.GrantTypes {
			if !slices.Contains([]string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantDeviceCode}, g) {
				t.Fatalf("grant type %q accepted", g)
			}
		}
		code := slices.Contains(reg.GrantTypes, oauth.GrantAuthorizationCode)
		if code != slices.Equal(reg.ResponseTypes, []string{"code"}) || (code && len(reg.RedirectURIs) == 0) {
			t.Fatalf("grants %v, response types %v, redirect URIs %v", reg.GrantTypes, reg.ResponseTypes, reg.RedirectURIs)
		}
		if reg.Name == "" || !cleanText(reg.Name) || !cleanText(reg.ClientURI) {
			t.Fatalf("name %q, client_uri %q", reg.Name, reg.ClientURI)
		}
		if reg.Public() != (reg.AuthMethod == AuthNone) {
			t.Fatalf("auth method %q", reg.AuthMethod)
		}
		// What was registered registers again as it is (an RFC 7592 read
		// followed by an update changes nothing).
		again, perr := rules.Check(Metadata{RedirectURIs: reg.RedirectURIs, TokenEndpointAuthMethod: reg.AuthMethod,
			GrantTypes: reg.GrantTypes, ResponseTypes: reg.ResponseTypes, ClientName: reg.Name, ClientURI: reg.ClientURI,
			Scope: reg.Scopes.String(), ApplicationType: reg.ApplicationType})
		if perr != nil {
			t.Fatalf("registered metadata refused on update: %v", perr)
		}
		a, _ := json.Marshal(again)
		b, _ := json.Marshal(reg)
		if string(a) != string(b) {
			t.Fatalf("update of the registered metadata changed it:\n%s\n%s", b, a)
		}
	})
}

func checkError(t *testing.T, e *Error) {
	t.Helper()
	if (e.Code != CodeInvalidClientMetadata && e.Code != CodeInvalidRedirectURI) || e.Description == "" || (e.Status != 400 && e.Status != 413) {
		t.Fatalf("refusal %+v", e)
	}
}
