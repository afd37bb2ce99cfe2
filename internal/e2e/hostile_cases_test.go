package e2e

import (
	"net/http"
	"strings"
)

// The hostile cases, one function per kind of endpoint. hostileCases
// joins them; every case is a distinct input (the test checks).

// h starts a case; the methods below add headers, a body and a session.
func h(name, method, path string, status int, answer hAnswer, want string) hCase {
	return hCase{name: name, method: method, path: path, status: status, answer: answer, want: want}
}

func (c hCase) hdr(lines ...string) hCase {
	c.header = append(append([]string{}, c.header...), lines...)
	return c
}
func (c hCase) with(body string) hCase    { c.body = body; return c }
func (c hCase) by(session string) hCase   { c.as = session; return c }
func (c hCase) skipped(why string) hCase  { c.skip = why; return c }
func (c hCase) verb(m string) hCase       { c.method = m; return c }
func (c hCase) query(q string) hCase      { c.path += "?" + q; return c }
func (c hCase) burns() hCase              { c.fresh = true; return c }
func (c hCase) named(prefix string) hCase { c.name = prefix + ": " + c.name; return c }

// hBig is n bytes of a parameter value.
func hBig(n int) string { return strings.Repeat("A", n) }

func hostileCases() []hCase {
	var all []hCase
	for _, group := range [][]hCase{
		hAuthorizeCases("/rest/oauth2/latest/authorize"), hAuthorizeCases("/login/oauth/authorize"),
		hTokenCases("/rest/oauth2/latest/token"), hTokenCases("/login/oauth/access_token"),
		hRevokeCases("/rest/oauth2/latest/revoke"), hRevokeCases("/login/oauth/revoke"),
		hIntrospectCases("/rest/oauth2/latest/introspect"), hIntrospectCases("/login/oauth/introspect"),
		hDeviceCases(), hUserinfoCases(), hMetadataCases(),
		hBitbucketCases(), hGiteaCases(), hGitCases(), hPageCases(),
	} {
		all = append(all, group...)
	}
	return all
}

// hAuthorizeCases attack one dialect's authorization endpoint, without a
// session: until the client and redirect URI are trusted the answer is a
// page (400), afterwards an error redirect to the registered URI.
func hAuthorizeCases(path string) []hCase {
	q := path + "?response_type=code&client_id={conf}&state=st&redirect_uri="
	ok := q + hAppURI
	page := func(name, target string) hCase {
		return h(name, http.MethodGet, target, http.StatusBadRequest, hPage, `role="alert"`).named(path)
	}
	return append([]hCase{
		page("unknown client", path+"?response_type=code&client_id=nope&redirect_uri="+hAppURI),
		page("no client_id", path+"?response_type=code&redirect_uri="+hAppURI),
		page("suspended client", path+"?response_type=code&client_id={susp}&redirect_uri="+hAppURI),
		page("redirect_uri other path", q+"https://app.example.com/other"),
		page("redirect_uri other host", q+"https://evil.example.net/cb"),
		page("redirect_uri http", q+"http://app.example.com/cb"),
		page("redirect_uri trailing slash", q+"https://app.example.com/cb/"),
		page("redirect_uri upper-case host", q+"https://APP.example.com/cb"),
		page("redirect_uri fragment", q+"https://app.example.com/cb%23x"),
		page("redirect_uri user info", q+"https://app.example.com@evil.example.net/cb"),
		page("redirect_uri backslash", q+"https://app.example.com%5C@evil.example.net/cb"),
		page("redirect_uri javascript", q+"javascript:alert(1)"),
		page("redirect_uri data", q+"data:text/html,hi"),
		page("redirect_uri scheme-relative", q+"//evil.example.net/cb"),
		page("redirect_uri dot segments", q+"https://app.example.com/x/../cb"),
		page("redirect_uri encoded slash", q+"https://app.example.com%252Fcb"),
		page("redirect_uri extra query", q+"https://app.example.com/cb%3Fx%3D1"),
		page("redirect_uri explicit port 443", q+"https://app.example.com:443/cb"),
		page("redirect_uri of 10 KB", q+"https://app.example.com/"+hBig(10<<10)),
		page("loopback redirect as localhost", path+"?response_type=code&client_id={pub}&redirect_uri=http://localhost:9999/callback&code_challenge={challenge}&code_challenge_method=S256"),
		page("loopback redirect as ::1", path+"?response_type=code&client_id={pub}&redirect_uri=http://[::1]:9999/callback&code_challenge={challenge}&code_challenge_method=S256"),
		page("client_id of 10 KB", path+"?response_type=code&client_id="+hBig(10<<10)+"&redirect_uri="+hAppURI),
		page("client_id with NUL", path+"?response_type=code&client_id=%00{conf}&redirect_uri="+hAppURI),
		page("client_id malformed escape", path+"?response_type=code&client_id=%zz&redirect_uri="+hAppURI),
		page("duplicated client_id", ok+"&client_id={other}"),
		page("duplicated redirect_uri", ok+"&redirect_uri=https://evil.example.net/cb"),
		page("duplicated scope", ok+"&scope=REPO_READ&scope=ADMIN_WRITE"),
		page("duplicated response_type", ok+"&response_type=token"),
		page("duplicated code_challenge", ok+"&code_challenge={challenge}&code_challenge=x&code_challenge_method=S256"),
	}, hAuthorizeRedirects(path)...)
}

// hAuthorizeRedirects are the authorization requests whose client and
// redirect URI are trusted: the error goes back there.
func hAuthorizeRedirects(path string) []hCase {
	q := path + "?response_type=code&client_id={conf}&state=st&redirect_uri="
	ok := q + hAppURI
	pub := path + "?response_type=code&client_id={pub}&state=st&redirect_uri=" + hLoopbackURI
	redirect := func(name, target, code string) hCase {
		return h(name, http.MethodGet, target, http.StatusFound, hRedirect, code).named(path)
	}
	return []hCase{
		redirect("response_type=token", path+"?response_type=token&client_id={conf}&redirect_uri="+hAppURI, "unsupported_response_type"),
		redirect("response_type=id_token", path+"?response_type=id_token&client_id={conf}&redirect_uri="+hAppURI, "unsupported_response_type"),
		redirect("response_type=code id_token", path+"?response_type=code%20id_token&client_id={conf}&redirect_uri="+hAppURI, "unsupported_response_type"),
		redirect("response_type=none", path+"?response_type=none&client_id={conf}&redirect_uri="+hAppURI, "unsupported_response_type"),
		redirect("response_type=CODE", path+"?response_type=CODE&client_id={conf}&redirect_uri="+hAppURI, "unsupported_response_type"),
		redirect("empty response_type", path+"?response_type=&client_id={conf}&redirect_uri="+hAppURI, "invalid_request"),
		redirect("unknown scope", ok+"&scope=REPO_READ%20NOPE", "invalid_scope"),
		redirect("scope with a quote", ok+"&scope=REPO_READ%22", "invalid_scope"),
		redirect("scope of 10 KB", ok+"&scope="+hBig(10<<10), "invalid_scope"),
		redirect("scope not registered", ok+"&scope=SYSTEM_ADMIN", "invalid_scope"),
		redirect("public client asks beyond its registration", pub+"&scope=REPO_WRITE&code_challenge={challenge}&code_challenge_method=S256", "invalid_scope"),
		redirect("public client without PKCE", pub, "invalid_request"),
		redirect("PKCE method S512", ok+"&code_challenge={challenge}&code_challenge_method=S512", "invalid_request"),
		redirect("PKCE method MD5", ok+"&code_challenge={challenge}&code_challenge_method=MD5", "invalid_request"),
		redirect("PKCE method without challenge", ok+"&code_challenge_method=S256", "invalid_request"),
		redirect("PKCE challenge of 129 characters", ok+"&code_challenge="+hBig(129)+"&code_challenge_method=plain", "invalid_request"),
		redirect("PKCE empty challenge", ok+"&code_challenge=&code_challenge_method=S256", "invalid_request"),
		redirect("PKCE challenge not base64url", pub+"&code_challenge="+strings.Repeat("%21", 43)+"&code_challenge_method=S256", "invalid_request"),
		redirect("prompt=sometimes", ok+"&prompt=sometimes", "invalid_request"),
		redirect("prompt=none consent", ok+"&prompt=none%20consent", "invalid_request"),
		redirect("prompt=login bogus", ok+"&prompt=login%20bogus", "invalid_request"),
		redirect("prompt=none without a session", ok+"&prompt=none", "login_required"),
		redirect("max_age=-5", ok+"&max_age=-5", "invalid_request"),
		redirect("max_age=1e3", ok+"&max_age=1e3", "invalid_request"),
		redirect("request object", ok+"&request=eyJhbGciOiJub25lIn0.e30.", "request_not_supported"),
		redirect("request_uri", ok+"&request_uri=https://evil.example.net/r.jwt", "request_uri_not_supported"),
		redirect("response_mode=form_post", ok+"&response_mode=form_post", "invalid_request"),
		redirect("response_mode=fragment", ok+"&response_mode=fragment", "invalid_request"),
		redirect("response_mode=web_message", ok+"&response_mode=web_message", "invalid_request"),
		redirect("state over 2048 characters", path+"?response_type=code&client_id={conf}&redirect_uri="+hAppURI+"&state="+hBig(2049), "invalid_request"),
	}
}

// Placeholder-built bodies of the token cases.
const (
	hCodeBody    = "grant_type=authorization_code&code={code}&redirect_uri=" + hAppURI
	hConfBasic   = "Basic: {conf}:{conf.secret}"
	hJSONType    = "Content-Type: application/json"
	hRefreshBody = "grant_type=refresh_token&refresh_token={refresh}"
)

// hTokenCases attack one token endpoint: client authentication, syntax,
// every grant. The unused code {code} and the live refresh token
// {refresh} are presented wrongly and must stay as they are.
func hTokenCases(path string) []hCase {
	e := func(name string, status int, code string) hCase {
		return h(name, http.MethodPost, path, status, hOAuth, code).named(path)
	}
	bad := func(name, code string) hCase { return e(name, http.StatusBadRequest, code) }
	unauth := func(name string) hCase { return e(name, http.StatusUnauthorized, "invalid_client") }
	return append([]hCase{
		unauth("no client authentication").with(hCodeBody),
		unauth("unknown client in the body").with(hCodeBody + "&client_id=nope&client_secret=x"),
		unauth("unknown client in Basic").with(hCodeBody).hdr("Basic: nope:x"),
		unauth("suspended client with its secret").with(hCodeBody).hdr("Basic: {susp}:{susp.secret}"),
		unauth("wrong secret in Basic").with(hCodeBody).hdr("Basic: {conf}:{other.secret}"),
		unauth("wrong secret in the body").with(hCodeBody + "&client_id={conf}&client_secret=lks_wrong"),
		unauth("empty secret in Basic").with(hCodeBody).hdr("Basic: {conf}:"),
		unauth("Bearer scheme").with(hCodeBody).hdr("Authorization: Bearer {conf.secret}"),
		unauth("Basic not base64").with(hCodeBody).hdr("Authorization: Basic %%%"),
		unauth("public client with a secret").with(hRefreshBody + "&client_id={pub}&client_secret=guess"),
		unauth("client secret of 10 KB").with(hCodeBody).hdr("Basic: {conf}:" + hBig(10<<10)),
		bad("Basic and body client_id disagree", "invalid_request").with(hCodeBody + "&client_id={other}").hdr(hConfBasic),
		bad("Basic and body secret disagree", "invalid_request").with(hCodeBody + "&client_secret={other.secret}").hdr(hConfBasic),
		e("GET", http.StatusMethodNotAllowed, "invalid_request").hdr(hConfBasic).verb(http.MethodGet),
		e("PUT", http.StatusMethodNotAllowed, "invalid_request").with(hCodeBody).hdr(hConfBasic).verb(http.MethodPut),
		e("DELETE", http.StatusMethodNotAllowed, "invalid_request").hdr(hConfBasic).verb(http.MethodDelete),
		e("PATCH", http.StatusMethodNotAllowed, "invalid_request").with(hCodeBody).hdr(hConfBasic).verb(http.MethodPatch),
		bad("no grant_type", "invalid_request").with("code={code}&redirect_uri=" + hAppURI).hdr(hConfBasic),
		bad("empty grant_type", "invalid_request").with("grant_type=&code={code}").hdr(hConfBasic),
		bad("password grant", "unsupported_grant_type").with("grant_type=password&username=alice&password=alice-password").hdr(hConfBasic),
		bad("unknown grant", "unsupported_grant_type").with("grant_type=magic").hdr(hConfBasic),
		bad("SAML assertion grant", "unsupported_grant_type").with("grant_type=urn:ietf:params:oauth:grant-type:saml2-bearer&assertion=x").hdr(hConfBasic),
		bad("token exchange grant", "unsupported_grant_type").with("grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token={tok.alice}").hdr(hConfBasic),
		bad("duplicated grant_type", "invalid_request").with(hCodeBody + "&grant_type=refresh_token").hdr(hConfBasic),
		bad("duplicated code", "invalid_request").with(hCodeBody + "&code=x").hdr(hConfBasic),
		bad("parameter in query and body", "invalid_request").with(hCodeBody).hdr(hConfBasic).query("code=x"),
		bad("text/plain body", "invalid_request").with(hCodeBody).hdr(hConfBasic, "Content-Type: text/plain"),
		bad("XML body", "invalid_request").with("<grant_type>authorization_code</grant_type>").hdr(hConfBasic, "Content-Type: application/xml"),
		bad("body without Content-Type", "invalid_request").with(hCodeBody).hdr(hConfBasic, "Content-Type:"),
		bad("malformed JSON", "invalid_request").with(`{"grant_type":"authorization_code"`).hdr(hConfBasic, hJSONType),
		bad("JSON array value", "invalid_request").with(`{"grant_type":["authorization_code"],"code":"{code}"}`).hdr(hConfBasic, hJSONType),
		bad("JSON duplicated member", "invalid_request").with(`{"grant_type":"refresh_token","refresh_token":"{refresh}","refresh_token":"x"}`).hdr(hConfBasic, hJSONType),
		bad("body over 64 KiB", "invalid_request").with(hCodeBody + "&pad=" + hBig(64<<10)).hdr(hConfBasic),
		bad("malformed form escape", "invalid_request").with(hCodeBody + "&x=%zz").hdr(hConfBasic),
	}, hGrantCases(path)...)
}

// hGrantCases present codes, refresh tokens, device codes and client
// credentials wrongly at one token endpoint.
func hGrantCases(path string) []hCase {
	bad := func(name, code string) hCase {
		return h(name, http.MethodPost, path, http.StatusBadRequest, hOAuth, code).named(path)
	}
	unauth := func(name string) hCase {
		return h(name, http.MethodPost, path, http.StatusUnauthorized, hOAuth, "invalid_client").named(path)
	}
	return []hCase{
		bad("unknown code", "invalid_grant").with("grant_type=authorization_code&code=lkc_nope&redirect_uri=" + hAppURI).hdr(hConfBasic),
		bad("code of another client", "invalid_grant").with("grant_type=authorization_code&code={code}&redirect_uri=https://other.example.com/cb").hdr("Basic: {other}:{other.secret}"),
		bad("code with another redirect_uri", "invalid_grant").with("grant_type=authorization_code&code={code}&redirect_uri=https://app.example.com/x").hdr(hConfBasic).burns(),
		bad("code without its redirect_uri", "invalid_grant").with("grant_type=authorization_code&code={code}").hdr(hConfBasic).burns(),
		bad("code with a verifier it never had", "invalid_grant").with(hCodeBody + "&code_verifier=" + hBig(50)).hdr(hConfBasic).burns(),
		bad("refresh token as a code", "invalid_grant").with("grant_type=authorization_code&code={refresh}&redirect_uri=" + hAppURI).hdr(hConfBasic),
		bad("code of 10 KB", "invalid_grant").with("grant_type=authorization_code&code=" + hBig(10<<10) + "&redirect_uri=" + hAppURI).hdr(hConfBasic),
		bad("no refresh_token", "invalid_request").with("grant_type=refresh_token").hdr(hConfBasic),
		bad("unknown refresh token", "invalid_grant").with("grant_type=refresh_token&refresh_token=lkr_nope").hdr(hConfBasic),
		bad("refresh token of another client", "invalid_grant").with(hRefreshBody).hdr("Basic: {other}:{other.secret}"),
		bad("refresh widening the scope", "invalid_scope").with(hRefreshBody + "&scope=REPO_WRITE").hdr(hConfBasic),
		bad("refresh with an unknown scope", "invalid_scope").with(hRefreshBody + "&scope=REPO_READ%20NOPE").hdr(hConfBasic),
		bad("access token as a refresh token", "invalid_grant").with("grant_type=refresh_token&refresh_token={tok.alice}").hdr(hConfBasic),
		bad("code as a refresh token", "invalid_grant").with("grant_type=refresh_token&refresh_token={code}").hdr(hConfBasic),
		bad("refresh by a client without the grant", "unauthorized_client").with(hRefreshBody).hdr("Basic: {codeonly}:{codeonly.secret}"),
		bad("client_credentials not registered", "unauthorized_client").with("grant_type=client_credentials&scope=REPO_READ").hdr(hConfBasic),
		bad("device_code not registered", "unauthorized_client").with("grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code={device_code}").hdr(hConfBasic),
		bad("unknown device_code", "invalid_grant").with("grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=nope&client_id={dev}"),
		bad("no device_code", "invalid_request").with("grant_type=urn:ietf:params:oauth:grant-type:device_code&client_id={dev}"),
		bad("JSON refresh with an unknown token", "invalid_grant").with(`{"grant_type":"refresh_token","refresh_token":"lkr_nope"}`).hdr(hConfBasic, hJSONType),
		bad("JSON refresh widening the scope", "invalid_scope").with(`{"grant_type":"refresh_token","refresh_token":"{refresh}","scope":"ADMIN_WRITE"}`).hdr(hConfBasic, "Content-Type: application/json; charset=utf-8"),
		bad("JSON with a null value", "invalid_request").with(`{"grant_type":"refresh_token","refresh_token":null}`).hdr(hConfBasic, hJSONType),
		bad("JSON body with the form's Content-Type", "invalid_request").with(`{"grant_type":"refresh_token","refresh_token":"{refresh}"}`).hdr(hConfBasic),
		bad("client_credentials beyond the registration", "invalid_scope").with("grant_type=client_credentials&scope=ADMIN_WRITE").hdr("Basic: {svc}:{svc.secret}"),
		bad("client_credentials with an unknown scope", "invalid_scope").with("grant_type=client_credentials&scope=NOPE").hdr("Basic: {svc}:{svc.secret}"),
		bad("client_credentials with openid", "invalid_scope").with("grant_type=client_credentials&scope=openid").hdr("Basic: {svc}:{svc.secret}"),
		bad("client_credentials with a duplicated scope", "invalid_request").with("grant_type=client_credentials&scope=REPO_READ&scope=ADMIN_WRITE").hdr("Basic: {svc}:{svc.secret}"),
		unauth("client_credentials with a wrong secret").with("grant_type=client_credentials&scope=REPO_READ").hdr("Basic: {svc}:{conf.secret}"),
		unauth("device poll with a secret for a public client").with("grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code={device_code}&client_id={dev}&client_secret=x"),
	}
}

// hRevokeCases attack one revocation endpoint (RFC 7009). A token of
// another client is refused (§2.1: unauthorized_client); no token the
// server knows is answered 200 (§2.2). Neither revokes anything.
func hRevokeCases(path string) []hCase {
	e := func(name string, status int, code string) hCase {
		return h(name, http.MethodPost, path, status, hOAuth, code).named(path)
	}
	fine := func(name string) hCase { return h(name, http.MethodPost, path, http.StatusOK, hAnyOK, "").named(path) }
	foreign := func(name string) hCase { return e(name, http.StatusBadRequest, "unauthorized_client") }
	return []hCase{
		e("no client authentication", http.StatusUnauthorized, "invalid_client").with("token={tok.alice}"),
		e("wrong secret", http.StatusUnauthorized, "invalid_client").with("token={tok.alice}").hdr("Basic: {conf}:wrong"),
		e("suspended client", http.StatusUnauthorized, "invalid_client").with("token={tok.alice}").hdr("Basic: {susp}:{susp.secret}"),
		e("GET", http.StatusMethodNotAllowed, "invalid_request").verb(http.MethodGet).query("token={tok.alice}").hdr(hConfBasic),
		e("no token", http.StatusBadRequest, "invalid_request").with("token_type_hint=access_token").hdr(hConfBasic),
		e("duplicated token", http.StatusBadRequest, "invalid_request").with("token={tok.alice}&token={refresh}").hdr(hConfBasic),
		e("text/plain body", http.StatusBadRequest, "invalid_request").with("token={tok.alice}").hdr(hConfBasic, "Content-Type: text/plain"),
		foreign("access token presented by another client").with("token={tok.alice}").hdr("Basic: {other}:{other.secret}"),
		foreign("refresh token presented by another client").with("token={refresh}&token_type_hint=refresh_token").hdr("Basic: {other}:{other.secret}"),
		fine("unknown token").with("token=lka_nope").hdr(hConfBasic),
		fine("a code as the token").with("token={code}").hdr(hConfBasic),
		fine("a client secret as the token").with("token={conf.secret}").hdr(hConfBasic),
	}
}

// hIntrospectCases attack one introspection endpoint (RFC 7662): only
// confidential clients may ask, and another client's token is inactive.
func hIntrospectCases(path string) []hCase {
	e := func(name string, status int, code string) hCase {
		return h(name, http.MethodPost, path, status, hOAuth, code).named(path)
	}
	inactive := func(name string) hCase {
		return h(name, http.MethodPost, path, http.StatusOK, hJSON, `"active":false`).named(path)
	}
	return []hCase{
		e("no client authentication", http.StatusUnauthorized, "invalid_client").with("token={tok.alice}"),
		e("wrong secret", http.StatusUnauthorized, "invalid_client").with("token={tok.alice}").hdr("Basic: {conf}:wrong"),
		e("public client", http.StatusUnauthorized, "invalid_client").with("token={tok.alice}&client_id={pub}"),
		e("bearer token as client authentication", http.StatusUnauthorized, "invalid_client").with("token={tok.alice}").hdr("Authorization: Bearer {tok.root}"),
		e("GET", http.StatusMethodNotAllowed, "invalid_request").verb(http.MethodGet).query("token={tok.root}").hdr(hConfBasic),
		e("no token", http.StatusBadRequest, "invalid_request").with("token_type_hint=access_token").hdr(hConfBasic),
		inactive("another client's token").with("token={tok.alice}").hdr("Basic: {other}:{other.secret}"),
		inactive("unknown token").with("token=lka_nope").hdr(hConfBasic),
		inactive("a code as the token").with("token={code}").hdr(hConfBasic),
	}
}

// hDeviceCases attack the device authorization endpoint (RFC 8628) and
// the device pages.
func hDeviceCases() []hCase {
	const path = "/login/device/code"
	e := func(name string, status int, code string) hCase {
		return h(name, http.MethodPost, path, status, hOAuth, code).named(path)
	}
	page := func(name, method, target string, status int, want string) hCase {
		return h(name, method, target, status, hPage, want).by("alice")
	}
	const expired = "This form has expired or did not come from this site."
	return []hCase{
		e("unknown client", http.StatusUnauthorized, "invalid_client").with("client_id=nope"),
		e("no client_id", http.StatusUnauthorized, "invalid_client").with("scope=REPO_READ"),
		e("suspended client", http.StatusUnauthorized, "invalid_client").hdr("Basic: {susp}:{susp.secret}").with("scope=REPO_READ"),
		e("public client with a secret", http.StatusUnauthorized, "invalid_client").with("client_id={dev}&client_secret=x"),
		e("client without the device grant", http.StatusBadRequest, "unauthorized_client").hdr(hConfBasic).with("scope=REPO_READ"),
		e("unknown scope", http.StatusBadRequest, "invalid_scope").with("client_id={dev}&scope=NOPE"),
		e("scope beyond the registration", http.StatusBadRequest, "invalid_scope").with("client_id={dev}&scope=REPO_WRITE"),
		e("scope of 10 KB", http.StatusBadRequest, "invalid_scope").with("client_id={dev}&scope=" + hBig(10<<10)),
		e("duplicated client_id", http.StatusBadRequest, "invalid_request").with("client_id={dev}&client_id={pub}"),
		e("GET", http.StatusMethodNotAllowed, "invalid_request").verb(http.MethodGet).query("client_id={dev}"),
		e("text/plain body", http.StatusBadRequest, "invalid_request").with("client_id={dev}").hdr("Content-Type: text/plain"),
		e("body over 64 KiB", http.StatusBadRequest, "invalid_request").with("client_id={dev}&pad=" + hBig(64<<10)),
		page("confirm page with an unknown code", http.MethodGet, "/login/device/confirm?user_code=BCDF-GHJK", http.StatusBadRequest, "not valid"),
		page("confirm page with invalid UTF-8", http.MethodGet, "/login/device/confirm?user_code=%FF", http.StatusBadRequest, "not valid"),
		page("confirm page with a 10 KB code", http.MethodGet, "/login/device/confirm?user_code="+hBig(10<<10), http.StatusBadRequest, "not valid"),
		page("device form without CSRF", http.MethodPost, "/login/device", http.StatusForbidden, expired).with("user_code={user_code}"),
		page("confirm form without CSRF", http.MethodPost, "/login/device/confirm", http.StatusForbidden, expired).with("user_code={user_code}&decision=approve"),
		page("confirm form with a forged CSRF token", http.MethodPost, "/login/device/confirm", http.StatusForbidden, expired).with("user_code={user_code}&decision=approve&csrf_token=forged"),
	}
}

// hUserinfoCases attack userinfo with every form of a token (RFC 6750).
func hUserinfoCases() []hCase {
	const path = "/login/oauth/userinfo"
	e := func(name, method string, status int, code string) hCase {
		return h(name, method, path, status, hBearer, code).named(path)
	}
	return []hCase{
		e("no token", http.MethodGet, http.StatusUnauthorized, ""),
		e("no token (POST)", http.MethodPost, http.StatusUnauthorized, ""),
		e("unknown token", http.MethodGet, http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer lka_nope"),
		e("refresh token", http.MethodGet, http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer {refresh}"),
		e("code", http.MethodGet, http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer {code}"),
		e("client secret", http.MethodGet, http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer {conf.secret}"),
		e("token with junk appended", http.MethodGet, http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer {tok.alice}x"),
		e("token of 10 KB", http.MethodGet, http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer lka_" + hBig(10<<10)),
		e("token without openid", http.MethodGet, http.StatusForbidden, "insufficient_scope").hdr("Authorization: Bearer {tok.public}"),
		e("Bearer without a token", http.MethodGet, http.StatusBadRequest, "invalid_request").hdr("Authorization: Bearer"),
		e("Basic credentials (a scheme not taken here: RFC 7235 §3.1)", http.MethodGet, http.StatusUnauthorized, "").hdr("Basic: alice:alice-password"),
		e("Gitea token scheme (not taken here)", http.MethodGet, http.StatusUnauthorized, "").hdr("Authorization: token {tok.alice}"),
		e("a scheme name that is no token", http.MethodGet, http.StatusBadRequest, "invalid_request").hdr("Authorization: Dig(est x"),
		e("Bearer with two tokens", http.MethodGet, http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer {tok.alice} {tok.root}"),
		e("token in the query", http.MethodGet, http.StatusUnauthorized, "").query("access_token={tok.alice}"),
		e("token in a form body", http.MethodPost, http.StatusUnauthorized, "").with("access_token={tok.alice}"),
		e("two Authorization headers", http.MethodGet, http.StatusBadRequest, "invalid_request").hdr("Authorization: Bearer {tok.alice}", "Authorization: Bearer {tok.root}"),
		h("PUT", http.MethodPut, path, http.StatusMethodNotAllowed, hText, "Method Not Allowed").hdr("Authorization: Bearer {tok.alice}").named(path),
		h("DELETE", http.MethodDelete, path, http.StatusMethodNotAllowed, hText, "Method Not Allowed").named(path),
	}
}

// hMetadataCases send JWKS and the discovery documents methods they do
// not serve, and paths next to theirs.
func hMetadataCases() []hCase {
	var out []hCase
	for _, path := range []string{"/login/oauth/keys", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			out = append(out, h(m, m, path, http.StatusMethodNotAllowed, hText, "Method Not Allowed").with("x=1").named(path))
		}
		out = append(out, h("a path below", http.MethodGet, path+"/x", http.StatusNotFound, hText, "404").named(path))
	}
	return out
}

// hBitbucketCases attack the Bitbucket-shaped REST API: credentials,
// paths, bodies, paging parameters and permission names. A refused
// credential or scope is an RFC 6750 answer; everything else is
// Bitbucket's error body.
func hBitbucketCases() []hCase {
	const api = "/rest/api/latest"
	rest := func(name, method, path string, status int) hCase {
		return h(name, method, api+path, status, hREST, "").named("bitbucket")
	}
	bearer := func(name, method, path string, status int, code string) hCase {
		return h(name, method, api+path, status, hBearer, code).named("bitbucket")
	}
	alice, write, root, bob := hBearers()
	out := []hCase{
		rest("private project without a token", http.MethodGet, "/projects/PRJ", http.StatusNotFound),
		bearer("unknown token", http.MethodGet, "/projects/PRJ", http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer lka_nope"),
		bearer("refresh token as bearer", http.MethodGet, "/projects", http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer {refresh}"),
		bearer("client secret as bearer", http.MethodGet, "/projects", http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer {conf.secret}"),
		bearer("Basic credentials (a scheme not taken here)", http.MethodGet, "/projects", http.StatusUnauthorized, "").hdr("Basic: alice:alice-password"),
		bearer("create project with a read scope", http.MethodPost, "/projects", http.StatusForbidden, "insufficient_scope").hdr(alice, hJSONType).with(`{"key":"AL","name":"Al"}`),
		bearer("delete repository with a read scope", http.MethodDelete, "/projects/PRJ/repos/code", http.StatusForbidden, "insufficient_scope").hdr(alice),
		bearer("admin users as a user", http.MethodGet, "/admin/users", http.StatusForbidden, "insufficient_scope").hdr(write),
		bearer("signing keys with ADMIN_WRITE", http.MethodGet, "/admin/signing-keys", http.StatusForbidden, "insufficient_scope").hdr(root),
		bearer("rotate signing keys with ADMIN_WRITE", http.MethodPost, "/admin/signing-keys/rotate", http.StatusForbidden, "insufficient_scope").hdr(root),
		bearer("update current user with a read scope", http.MethodPut, "/users", http.StatusForbidden, "insufficient_scope").hdr(alice, hJSONType).with(`{"displayName":"x"}`),
		rest("private project of others", http.MethodGet, "/projects/PRJ", http.StatusNotFound).hdr(bob),
		rest("unknown project", http.MethodGet, "/projects/NOPE", http.StatusNotFound).hdr(alice),
		rest("unknown repository", http.MethodGet, "/projects/PRJ/repos/nope", http.StatusNotFound).hdr(alice),
		rest("encoded dot-dot project", http.MethodGet, "/projects/%2e%2e/repos", http.StatusNotFound).hdr(alice),
		rest("project key of 10 KB", http.MethodGet, "/projects/"+hBig(10<<10), http.StatusNotFound).hdr(alice),
		rest("create project without permission", http.MethodPost, "/projects", http.StatusForbidden).hdr(bob, hJSONType).with(`{"key":"BOB","name":"Bob"}`),
		rest("update project as repository admin", http.MethodPut, "/projects/PRJ", http.StatusForbidden).hdr(write, hJSONType).with(`{"name":"Mine"}`),
		rest("delete project as repository admin", http.MethodDelete, "/projects/PRJ", http.StatusForbidden).hdr(write),
		rest("update repository of others", http.MethodPut, "/projects/PRJ/repos/code", http.StatusNotFound).hdr(bob, hJSONType).with(`{"name":"x"}`),
		rest("create repository in a public project without permission", http.MethodPost, "/projects/OPEN/repos", http.StatusForbidden).hdr(bob, hJSONType).with(`{"name":"x"}`),
		rest("grant SYS_ADMIN as ADMIN", http.MethodPut, "/admin/permissions/users?name=bob&permission=SYS_ADMIN", http.StatusForbidden).hdr(root),
		rest("unknown user", http.MethodGet, "/users/nobody", http.StatusNotFound).hdr(alice),
	}
	out = append(out, hBitbucketBodies(rest, root, write)...)
	for _, q := range []string{"start=-1", "start=abc", "start=99999999999999999999", "limit=-5", "limit=abc", "limit=99999999999999999999", "start=1e3", "limit=%00"} {
		out = append(out, rest("paging "+q, http.MethodGet, "/repos?"+q, http.StatusBadRequest).hdr(alice))
		out = append(out, rest("admin paging "+q, http.MethodGet, "/admin/users?"+q, http.StatusBadRequest).hdr(root))
	}
	perm := func(q string, status int) hCase {
		return rest("repository permission "+q, http.MethodPut, "/projects/PRJ/repos/code/permissions/users?"+q, status).hdr(write)
	}
	out = append(out, perm("name=bob&permission=NOPE", 400), perm("name=bob&permission=PROJECT_ADMIN", 400), perm("name=bob&permission=", 400),
		perm("name=bob", 400), perm("permission=REPO_READ", 400), perm("name=nobody&permission=REPO_READ", 404), perm("name=bob%00&permission=REPO_READ", 404),
		perm("name=bob&name=nobody&permission=REPO_READ", 404), // Bitbucket takes several names; one unknown changes nothing
		perm("name=bob&permission=REPO_READ&permission=REPO_ADMIN", 400),
		rest("project permission as repository admin", http.MethodPut, "/projects/PRJ/permissions/users?name=bob&permission=PROJECT_ADMIN", http.StatusForbidden).hdr(write))
	for _, q := range []string{"name=bob&permission=SYS_ADMIN_X", "name=bob&permission=REPO_READ", "name=&permission=LICENSED_USER",
		"name=bob&name=root&permission=LICENSED_USER", "name=bob&permission=LICENSED_USER&permission=ADMIN"} {
		out = append(out, rest("global permission "+q, http.MethodPut, "/admin/permissions/users?"+q, http.StatusBadRequest).hdr(root))
	}
	return out
}

// hBearers are the Authorization headers of alice's read token, alice's
// write token, root's admin token and bob's token.
func hBearers() (alice, write, root, bob string) {
	return "Authorization: Bearer {tok.alice}", "Authorization: Bearer {tok.alice.write}", "Authorization: Bearer {tok.root}", "Authorization: Bearer {tok.bob}"
}

// hBitbucketBodies are REST requests whose bodies are wrong.
func hBitbucketBodies(rest func(string, string, string, int) hCase, root, write string) []hCase {
	create := func(name, body string, status int) hCase {
		return rest("create project: "+name, http.MethodPost, "/projects", status).hdr(root, hJSONType).with(body)
	}
	user := func(name, body string) hCase {
		return rest("update user: "+name, http.MethodPut, "/users", http.StatusBadRequest).hdr(write, hJSONType).with(body)
	}
	return []hCase{
		create("malformed JSON", `{"key":`, http.StatusBadRequest),
		create("empty key", `{"key":"","name":"x"}`, http.StatusBadRequest),
		create("numeric key", `{"key":123,"name":"x"}`, http.StatusBadRequest),
		create("key with a slash", `{"key":"A/B","name":"x"}`, http.StatusBadRequest),
		create("key of 1000 characters", `{"key":"`+hBig(1000)+`","name":"x"}`, http.StatusBadRequest),
		create("name with NUL", `{"key":"NUL","name":"a\u0000b"}`, http.StatusBadRequest),
		create("existing key", `{"key":"PRJ","name":"again"}`, http.StatusConflict),
		create("JSON array", `[{"key":"ARR"}]`, http.StatusBadRequest),
		create("trailing data", `{"key":"TRL","name":"x"} {"key":"TRL2"}`, http.StatusBadRequest),
		rest("create project as text/plain", http.MethodPost, "/projects", http.StatusUnsupportedMediaType).hdr(root, "Content-Type: text/plain").with(`{"key":"TXT","name":"x"}`),
		rest("create user: no name", http.MethodPost, "/admin/users?password=long-enough-password", http.StatusBadRequest).hdr(root),
		rest("create user: existing name", http.MethodPost, "/admin/users?name=alice&password=long-enough-password&displayName=A&emailAddress=a2@example.com", http.StatusConflict).hdr(root),
		rest("create user: malformed JSON", http.MethodPost, "/admin/users", http.StatusBadRequest).hdr(root, hJSONType).with(`{"name"`),
		user("email with a display name", `{"email":"Bob <bob@example.com>"}`),
		user("two addresses", `{"email":"a@example.com, b@example.com"}`),
		user("display name with NUL", `{"displayName":"admin\u0000 (bob)"}`),
		user("display name as a number", `{"displayName":5}`),
		user("malformed JSON", `{"displayName":`),
	}
}

// hGiteaCases attack the Gitea-shaped REST API.
func hGiteaCases() []hCase {
	rest := func(name, method, path string, status int) hCase {
		return h(name, method, "/api/v1"+path, status, hREST, "").named("gitea")
	}
	bearer := func(name, path string, status int, code string) hCase {
		return h(name, http.MethodGet, "/api/v1"+path, status, hBearer, code).named("gitea")
	}
	alice, _, _, bob := hBearers()
	out := []hCase{
		bearer("user without a token", "/user", http.StatusUnauthorized, ""),
		bearer("user with an unknown token", "/user", http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer lka_nope"),
		bearer("user with a refresh token", "/user", http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer {refresh}"),
		bearer("user with the Gitea token scheme and an unknown token", "/user", http.StatusUnauthorized, "invalid_token").hdr("Authorization: token lka_nope"),
		bearer("user with a foreign scheme", "/user", http.StatusUnauthorized, "").hdr("Authorization: Digest lka_nope"),
		bearer("user with a code", "/user/repos", http.StatusUnauthorized, "invalid_token").hdr("Authorization: Bearer {code}"),
		rest("private repository of others", http.MethodGet, "/repos/PRJ/code", http.StatusNotFound).hdr(bob),
		rest("unknown repository", http.MethodGet, "/repos/PRJ/nope", http.StatusNotFound).hdr(alice),
		rest("unknown organization", http.MethodGet, "/orgs/NOPE/repos", http.StatusNotFound).hdr(alice),
		rest("private repository anonymously", http.MethodGet, "/repos/PRJ/code", http.StatusNotFound),
		rest("private organization anonymously", http.MethodGet, "/orgs/PRJ/repos", http.StatusNotFound),
	}
	for _, q := range []string{"page=-3", "page=abc", "page=99999999999999999999", "limit=-1", "limit=abc", "limit=99999999999999999999", "page=%00"} {
		out = append(out, rest("repositories "+q, http.MethodGet, "/user/repos?"+q, http.StatusBadRequest).hdr(alice))
		out = append(out, rest("organization repositories "+q, http.MethodGet, "/orgs/OPEN/repos?"+q, http.StatusBadRequest).hdr(alice))
	}
	return out
}

// hGitCases attack git's smart HTTP: services, methods, paths and
// credentials. Refusals are plain text.
func hGitCases() []hCase {
	git := func(name, method, path string, status int, want string) hCase {
		return h(name, method, "/scm"+path, status, hGit, want).named("git")
	}
	refs := "/prj/code.git/info/refs?service="
	alice := "Basic: x-token:{tok.alice}"
	return []hCase{
		git("private repository anonymously", http.MethodGet, refs+"git-upload-pack", http.StatusUnauthorized, ""),
		git("wrong password", http.MethodGet, refs+"git-upload-pack", http.StatusUnauthorized, "").hdr("Basic: alice:wrong"),
		git("refresh token as password", http.MethodGet, refs+"git-upload-pack", http.StatusUnauthorized, "").hdr("Basic: x:{refresh}"),
		git("client secret as password", http.MethodGet, refs+"git-upload-pack", http.StatusUnauthorized, "").hdr("Basic: {conf}:{conf.secret}"),
		git("unknown bearer token", http.MethodGet, refs+"git-upload-pack", http.StatusUnauthorized, "").hdr("Authorization: Bearer lka_nope"),
		git("repository of others", http.MethodGet, refs+"git-upload-pack", http.StatusNotFound, "not found").hdr("Basic: x:{tok.bob}"),
		git("unknown repository", http.MethodGet, "/prj/nope.git/info/refs?service=git-upload-pack", http.StatusNotFound, "not found").hdr(alice),
		git("push advertisement with a read token", http.MethodGet, refs+"git-receive-pack", http.StatusForbidden, "").hdr(alice),
		git("push advertisement anonymously on a public repository", http.MethodGet, "/open/docs.git/info/refs?service=git-receive-pack", http.StatusUnauthorized, ""),
		git("upload-archive service", http.MethodGet, refs+"git-upload-archive", http.StatusNotFound, "smart HTTP").hdr(alice),
		git("unknown service", http.MethodGet, refs+"git-shell", http.StatusNotFound, "smart HTTP").hdr(alice),
		git("no service (dumb protocol)", http.MethodGet, "/prj/code.git/info/refs", http.StatusNotFound, "smart HTTP").hdr(alice),
		git("empty service", http.MethodGet, refs, http.StatusNotFound, "smart HTTP").hdr(alice),
		git("service twice, upload then receive", http.MethodGet, refs+"git-upload-pack&service=git-receive-pack", http.StatusBadRequest, "service").hdr(alice),
		git("service twice anonymously on a public repository", http.MethodGet, "/open/docs.git/info/refs?service=git-upload-pack&service=git-receive-pack", http.StatusBadRequest, "service"),
		git("service twice percent-encoded", http.MethodGet, refs+"git-upload-pack&%73ervice=git-receive-pack", http.StatusBadRequest, "service").hdr(alice),
		git("receive-pack POST with a read token", http.MethodPost, "/prj/code.git/git-receive-pack", http.StatusForbidden, "").hdr(alice, "Content-Type: application/x-git-receive-pack-request").with("0000"),
		git("receive-pack POST anonymously on a public repository", http.MethodPost, "/open/docs.git/git-receive-pack", http.StatusUnauthorized, "").hdr("Content-Type: application/x-git-receive-pack-request").with("0000"),
		git("POST of an unknown service", http.MethodPost, "/prj/code.git/git-shell", http.StatusNotFound, "smart HTTP").hdr(alice).with("0000"),
		git("POST to info/refs", http.MethodPost, "/prj/code.git/info/refs", http.StatusMethodNotAllowed, "Method Not Allowed").hdr(alice).with("0000"),
		git("dumb HEAD file", http.MethodGet, "/prj/code.git/HEAD", http.StatusMethodNotAllowed, "Method Not Allowed").hdr(alice),
		git("dumb object path", http.MethodGet, "/prj/code.git/objects/info/packs", http.StatusNotFound, "").hdr(alice),
		git("upload-pack POST with a refresh token", http.MethodPost, "/prj/code.git/git-upload-pack", http.StatusUnauthorized, "").hdr("Basic: x:{refresh}").with("0000"),
		git("project path of 10 KB", http.MethodGet, "/"+hBig(10<<10)+"/code.git/info/refs?service=git-upload-pack", http.StatusNotFound, "not found").hdr(alice),
		git("GET of upload-pack", http.MethodGet, "/prj/code.git/git-upload-pack", http.StatusMethodNotAllowed, "").hdr(alice),
		git("PUT of info/refs", http.MethodPut, refs+"git-upload-pack", http.StatusMethodNotAllowed, "").hdr(alice).with("x"),
		git("DELETE of a repository", http.MethodDelete, "/prj/code.git", http.StatusNotFound, "").hdr(alice),
	}
}

// hPageCases post every form without its CSRF token (or with a forged
// one) and ask pages for things that do not exist.
func hPageCases() []hCase {
	const expired = "This form has expired or did not come from this site."
	post := func(as, path, body string) hCase {
		return h("no CSRF token", http.MethodPost, path, http.StatusForbidden, hPage, expired).with(body).by(as).named(path)
	}
	forged := func(as, path, body string) hCase {
		return h("forged CSRF token", http.MethodPost, path, http.StatusForbidden, hPage, expired).with(body + "&csrf_token=forged").by(as).named(path)
	}
	get := func(name, as, path string, status int, want string) hCase {
		return h(name, http.MethodGet, path, status, hPage, want).by(as).named(path)
	}
	out := []hCase{
		post("", "/login", "username=alice&password=alice-password"),
		forged("", "/login", "username=alice&password=alice-password"),
		get("unknown application", "alice", "/user/settings/applications/nope", http.StatusNotFound, `role="alert"`),
		get("application of another user", "alice", "/user/settings/applications/{conf}", http.StatusNotFound, `role="alert"`),
		get("unknown user", "root", "/admin/users/99999", http.StatusNotFound, `role="alert"`),
		get("user id not a number", "root", "/admin/users/abc", http.StatusNotFound, `role="alert"`),
		get("user id overflowing", "root", "/admin/users/99999999999999999999", http.StatusNotFound, `role="alert"`),
		get("admin pages as a user", "alice", "/admin/users", http.StatusForbidden, `role="alert"`),
		get("email verification with a junk token", "alice", "/user/settings/email/verify?token=junk", http.StatusBadRequest, `role="alert"`),
		get("consent for an unknown client", "alice", "/plugins/servlet/oauth2/consent?response_type=code&client_id=nope", http.StatusBadRequest, `role="alert"`),
	}
	for _, p := range []struct{ as, path, body string }{
		{"alice", "/logout", "x=1"},
		{"alice", "/plugins/servlet/oauth2/consent", "client_id={conf}&redirect_uri=" + hAppURI + "&response_type=code&scope=ADMIN_WRITE&decision=approve"},
		{"alice", "/user/settings/applications", "name=Evil&redirect_uris=https://evil.example.net/cb"},
		{"alice", "/user/settings/applications/{conf}", "name=Renamed"},
		{"alice", "/user/settings/applications/{conf}/secret", "x=1"},
		{"alice", "/user/settings/applications/{conf}/delete", "x=1"},
		{"alice", "/user/settings/authorizations/{conf}/revoke", "x=1"},
		{"alice", "/user/settings/account", "current_password=alice-password&new_password=hijacked-password&confirm_password=hijacked-password"},
		{"alice", "/user/settings/account/email", "email=evil@example.net"},
		{"alice", "/user/settings/email/verify", "token=junk"},
		{"root", "/admin/applications/{conf}/suspend", "x=1"},
		{"root", "/admin/applications/{conf}/reinstate", "x=1"},
		{"root", "/admin/applications/{conf}/delete", "x=1"},
		{"root", "/admin/applications/{dev}/device-grant/off", "x=1"},
		{"root", "/admin/applications/{conf}/device-grant/on", "x=1"},
		{"root", "/admin/users/{id.bob}/disable", "x=1"},
		{"root", "/admin/users/{id.bob}/enable", "x=1"},
		{"root", "/admin/users/{id.bob}/email", "email=evil@example.net"},
		{"root", "/admin/users/{id.bob}/permissions", "permission=SYS_ADMIN&target=global"},
		{"root", "/admin/users/{id.alice}/permissions/revoke", "permission=REPO_ADMIN&target=repo&repo=PRJ/code"},
	} {
		out = append(out, post(p.as, p.path, p.body), forged(p.as, p.path, p.body))
	}
	return out
}
