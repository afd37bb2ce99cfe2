package oauth

// Fuzz targets for the parsers and validators that see untrusted input
// first: protocol parameters, HTTP Basic client credentials, authorization
// requests and redirect URI matching. Each asserts that nothing panics and
// that every outcome is one of the few the protocol allows.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/store/sqlite"
)

// fzWantError asserts that err is a protocol error with code and status.
func fzWantError(t *testing.T, err error, status int, codes ...string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *oauth.Error", err, err)
	}
	if e.Status != status || !slices.Contains(codes, e.Code) || e.Description == "" {
		t.Fatalf("error %q status %d (%q), want one of %v with status %d", e.Code, e.Status, e.Description, codes, status)
	}
	return e
}

func FuzzReadParams(f *testing.F) {
	const form, js = "application/x-www-form-urlencoded", "application/json"
	f.Add([]byte("grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb"), form, "")
	f.Add([]byte("grant_type=refresh_token"), form, "client_id=x&client_secret=y")
	f.Add([]byte("code=1&code=2"), form, "")
	f.Add([]byte("code=1"), form, "code=2")
	f.Add([]byte("code=&code=2"), form, "state=")
	f.Add([]byte("a=%zz"), form, "")
	f.Add([]byte("a=1;b=2"), form, "")
	f.Add([]byte(`{"grant_type":"refresh_token","refresh_token":"lkr_x"}`), js, "")
	f.Add([]byte(`{"grant_type":"refresh_token"}`), "application/json; charset=utf-8", "grant_type=x")
	f.Add([]byte(`{"code":123}`), js, "")
	f.Add([]byte(`{"code":null,"x":{"y":"z"}}`), js, "")
	f.Add([]byte(`{"a":"b"} {"c":"d"}`), js, "")
	f.Add([]byte(`{"a":"b"}}`), js, "")
	f.Add([]byte(`{"a":"b","a":"c"}`), js, "")
	f.Add([]byte(`["a","b"]`), js, "")
	f.Add([]byte(`{"a":"b"`), js, "")
	f.Add([]byte(`  {"a":"\u00e9\ud800"}  `), js, "")
	f.Add([]byte("grant_type=password"), "text/plain", "")
	f.Add([]byte("grant_type=password"), "", "")
	f.Add([]byte("grant_type=password"), "multipart/form-data; boundary=x", "")
	f.Add([]byte(" \r\n\t"), "bogus", "x=1&x=2")
	f.Add([]byte{}, "", "%")
	f.Add(bytes.Repeat([]byte("a"), MaxBodyBytes+1), form, "")
	f.Fuzz(func(t *testing.T, body []byte, contentType, query string) {
		r := &http.Request{
			Method: http.MethodPost,
			URL:    &url.URL{Path: "/token", RawQuery: query},
			Header: http.Header{},
			Body:   io.NopCloser(bytes.NewReader(body)),
		}
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		params, err := ReadParams(httptest.NewRecorder(), r)
		if err != nil {
			fzWantError(t, err, http.StatusBadRequest, CodeInvalidRequest)
			return
		}
		if len(body) > MaxBodyBytes {
			t.Fatalf("a body of %d bytes was accepted", len(body))
		}
		for name, value := range params {
			if value == "" {
				t.Fatalf("parameter %q kept with an empty value", name)
			}
		}
		// Every parameter sent with a value arrives, unchanged.
		fromQuery, err := url.ParseQuery(query)
		if err != nil {
			t.Fatalf("a malformed query %q was accepted", query)
		}
		fzWantSubset(t, "query", fromQuery, params)
		if len(bytes.TrimSpace(body)) == 0 {
			return
		}
		mediaType, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			t.Fatalf("a body with Content-Type %q was accepted", contentType)
		}
		switch mediaType {
		case "application/x-www-form-urlencoded":
			fromBody, err := url.ParseQuery(string(body))
			if err != nil {
				t.Fatalf("a malformed form body was accepted: %q", body)
			}
			fzWantSubset(t, "form body", fromBody, params)
		case "application/json":
			var members map[string]any
			if err := json.Unmarshal(body, &members); err != nil {
				t.Fatalf("a JSON body that is not one object was accepted: %q: %v", body, err)
			}
			for name, v := range members {
				s, ok := v.(string)
				if !ok {
					t.Fatalf("JSON member %q of type %T was accepted", name, v)
				}
				if s != "" && params[name] != s {
					t.Fatalf("JSON member %q = %q arrived as %q", name, s, params[name])
				}
			}
		default:
			t.Fatalf("a body of type %q was accepted", mediaType)
		}
	})
}

// fzWantSubset asserts that every non-empty value of vs is in params.
func fzWantSubset(t *testing.T, where string, vs url.Values, params Params) {
	t.Helper()
	for name, values := range vs {
		for _, v := range values {
			if v != "" && params[name] != v {
				t.Fatalf("%s parameter %q = %q arrived as %q", where, name, v, params[name])
			}
		}
	}
}

func FuzzParseBasic(f *testing.F) {
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("client:secret")), "client", "secret")
	f.Add("basic "+base64.StdEncoding.EncodeToString([]byte("a%3Ab:c%3Ad")), "a:b", "c:d")
	f.Add("BASIC "+base64.StdEncoding.EncodeToString([]byte(":only-secret")), "", "only-secret")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("no-colon")), "x y", "+/=")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("%zz:x")), "%zz", "%")
	f.Add("Basic "+base64.RawStdEncoding.EncodeToString([]byte("id:s")), "é", "\x00")
	f.Add("Basic  "+base64.StdEncoding.EncodeToString([]byte("id:")), "id", "")
	f.Add("Basic", "a", "b")
	f.Add("Basic ", "a", "b")
	f.Add("Basic !!!", "a", "b")
	f.Add("Bearer lka_token", "a", "b")
	f.Add("", "a", "b")
	f.Fuzz(func(t *testing.T, header, id, sec string) {
		creds, err := parseBasic(header)
		if err != nil {
			fzWantError(t, err, http.StatusUnauthorized, CodeInvalidClient)
		} else if creds.id == "" {
			t.Fatalf("header %q accepted with an empty client id", header)
		}

		// The same header through the path AuthenticateClient takes.
		r := &http.Request{Header: http.Header{}}
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		presented, perr := presentedCredentials(r, Params{})
		switch {
		case r.Header.Get("Authorization") == "":
			fzWantError(t, perr, http.StatusUnauthorized, CodeInvalidClient)
		case (err == nil) != (perr == nil):
			t.Fatalf("header %q: parseBasic error %v, presentedCredentials error %v", header, err, perr)
		case perr != nil:
			fzWantError(t, perr, http.StatusUnauthorized, CodeInvalidClient)
		case presented != creds:
			t.Fatalf("header %q: presented %+v, parsed %+v", header, presented, creds)
		}

		// Credentials encoded as RFC 6749 §2.3.1 says come back unchanged.
		encoded := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec)))
		got, err := parseBasic(encoded)
		switch {
		case id == "":
			fzWantError(t, err, http.StatusUnauthorized, CodeInvalidClient)
		case err != nil:
			t.Fatalf("client %q secret %q: %v", id, sec, err)
		case got.id != id || got.secret != sec:
			t.Fatalf("client %q secret %q came back as %q %q", id, sec, got.id, got.secret)
		}
	})
}

// fzClients are registered in the store FuzzValidateAuthorize runs on.
var fzClients = []store.Client{
	{
		ID: "fuzz-confidential", Name: "Fuzz App", SecretHash: secret.Hash("lks_fuzz"),
		RedirectURIs:  []string{"https://app.example.com/cb", "https://app.example.com/cb?tenant=1", "http://127.0.0.1:8400/callback", "com.example.app:/oauth"},
		Scopes:        scope.MustParse("PUBLIC_REPOS REPO_READ REPO_WRITE openid"),
		DefaultScopes: scope.MustParse("PUBLIC_REPOS"),
		GrantTypes:    []string{GrantAuthorizationCode, GrantRefreshToken},
	},
	{
		ID: "fuzz-public", Name: "Fuzz CLI", Public: true, PKCERequired: true,
		RedirectURIs:  []string{"http://[::1]/cb"},
		Scopes:        scope.MustParse("PUBLIC_REPOS REPO_READ"),
		DefaultScopes: scope.MustParse("REPO_READ"),
		GrantTypes:    []string{GrantAuthorizationCode},
	},
	{
		ID: "fuzz-refresh-only", Name: "Fuzz Refresher", SecretHash: secret.Hash("lks_other"),
		RedirectURIs:  []string{"https://other.example.com/cb"},
		Scopes:        scope.MustParse("REPO_READ"),
		DefaultScopes: scope.MustParse("REPO_READ"),
		GrantTypes:    []string{GrantRefreshToken},
	},
	{
		ID: "fuzz-suspended", Name: "Fuzz Suspended", SecretHash: secret.Hash("lks_susp"), Suspended: true,
		RedirectURIs:  []string{"https://app.example.com/cb"},
		Scopes:        scope.MustParse("REPO_READ"),
		DefaultScopes: scope.MustParse("REPO_READ"),
		GrantTypes:    []string{GrantAuthorizationCode},
	},
}

// fzProvider is a Provider on a fresh SQLite store holding fzClients.
func fzProvider(f *testing.F) *Provider {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatalf("open store: %v", err)
	}
	f.Cleanup(func() { st.Close() })
	for _, c := range fzClients {
		if _, err := st.CreateClient(ctx, c); err != nil {
			f.Fatalf("create client %s: %v", c.ID, err)
		}
	}
	return New(Config{Store: st, Issuer: "https://latchkey.example/"})
}

func fzClient(id string) (store.Client, bool) {
	for _, c := range fzClients {
		if c.ID == id {
			return c, true
		}
	}
	return store.Client{}, false
}

func FuzzValidateAuthorize(f *testing.F) {
	challenge := S256Challenge(strings.Repeat("v", 43))
	for _, q := range []string{
		"response_type=code&client_id=fuzz-confidential&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&state=xyz&scope=REPO_READ",
		"response_type=code&client_id=fuzz-confidential&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback&scope=openid+REPO_WRITE&nonce=n",
		"response_type=code&client_id=fuzz-confidential&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Ftenant%3D1&scope=REPO_ADMIN",
		"response_type=token&client_id=fuzz-confidential&redirect_uri=com.example.app%3A%2Foauth&state=s",
		"response_type=code&client_id=fuzz-confidential&redirect_uri=https%3A%2F%2Fevil.example.net%2Fcb",
		"response_type=code&client_id=fuzz-confidential&code_challenge=" + challenge + "&code_challenge_method=S256",
		"response_type=code&client_id=fuzz-confidential&code_challenge=short&code_challenge_method=plain&prompt=none+login",
		"response_type=code&client_id=fuzz-public&code_challenge=" + challenge + "&code_challenge_method=s256&redirect_uri=http%3A%2F%2F%5B%3A%3A1%5D%3A4242%2Fcb",
		"response_type=code&client_id=fuzz-public&redirect_uri=http%3A%2F%2F%5B%3A%3A1%5D%2Fcb&max_age=60",
		"response_type=code&client_id=fuzz-refresh-only",
		"response_type=code&client_id=fuzz-confidential&scope=REPO_READ&request=e30.e30.&request_uri=https%3A%2F%2Fx%2Fr&state=s",
		"response_type=code&client_id=fuzz-confidential&scope=REPO_READ&response_mode=form_post",
		"response_type=code&client_id=fuzz-confidential&scope=REPO_READ&response_mode=query&registration=%7B%7D",
		"response_type=code&client_id=fuzz-suspended&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb",
		"response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb",
		"response_type=code&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb",
		"client_id=fuzz-confidential&state=" + strings.Repeat("s", 2049),
		"client_id=fuzz-confidential&client_id=fuzz-public",
		"client_id=%zz",
		"",
	} {
		f.Add(q)
	}
	p := fzProvider(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, query string) {
		params, err := ParseQuery(query)
		if err != nil {
			fzWantError(t, err, http.StatusBadRequest, CodeInvalidRequest)
			return
		}
		req, err := p.ValidateAuthorize(ctx, params)
		client, known := fzClient(params.Get("client_id"))
		var pageErr *PageError
		var redirErr *RedirectError
		switch {
		case errors.As(err, &pageErr):
			if req != nil || pageErr.Status != http.StatusBadRequest || pageErr.Message == "" {
				t.Fatalf("page error %+v with request %v", pageErr, req)
			}
		case errors.As(err, &redirErr):
			if req != nil || !known || client.Suspended {
				t.Fatalf("redirect error for client %q (known %v): %v", params.Get("client_id"), known, err)
			}
			fzWantRegistered(t, client, redirErr.RedirectURI)
			e := fzWantError(t, redirErr.Err, http.StatusBadRequest,
				CodeInvalidRequest, CodeUnsupportedResponseType, CodeInvalidScope, CodeUnauthorizedClient,
				CodeRequestNotSupported, CodeRequestURINotSupported, CodeRegistrationNotSupported)
			if redirErr.State != "" && redirErr.State != params.Get("state") {
				t.Fatalf("state %q comes back as %q", params.Get("state"), redirErr.State)
			}
			back, perr := url.Parse(p.ErrorRedirectURL(redirErr))
			if perr != nil || back.Query().Get("error") != e.Code || back.Query().Get("iss") != p.Issuer() ||
				back.Query().Get("state") != redirErr.State {
				t.Fatalf("error redirect %q (%v) does not carry error, iss and state", p.ErrorRedirectURL(redirErr), perr)
			}
		case err != nil:
			t.Fatalf("ValidateAuthorize(%q) failed with %T: %v", query, err, err)
		default:
			fzCheckValid(t, client, known, params, req)
		}
	})
}

// fzCheckValid asserts what an accepted authorization request must hold.
func fzCheckValid(t *testing.T, client store.Client, known bool, params Params, req *AuthRequest) {
	t.Helper()
	switch {
	case req == nil:
		t.Fatal("no error and no request")
	case !known || client.Suspended || req.Client.ID != client.ID:
		t.Fatalf("accepted for client %q (known %v)", req.Client.ID, known)
	case params.Get("response_type") != "code" || !slices.Contains(client.GrantTypes, GrantAuthorizationCode):
		t.Fatalf("accepted response_type %q for grants %v", params.Get("response_type"), client.GrantTypes)
	case params.Has("request") || params.Has("request_uri") || params.Has("registration") ||
		(params.Has("response_mode") && params.Get("response_mode") != "query"):
		t.Fatalf("a request with an unsupported feature was accepted: %v", params)
	case len(req.Scopes) == 0 || !scope.Set(client.Scopes).Covers(req.Scopes):
		t.Fatalf("scopes %q granted to a client registered for %q", req.Scopes, client.Scopes)
	case (client.Public || client.PKCERequired) && req.CodeChallenge == "":
		t.Fatal("a PKCE-required client was accepted without code_challenge")
	case req.CodeChallenge != "" && !fzValidChallenge(req.CodeChallenge, req.ChallengeMethod):
		t.Fatalf("challenge %q accepted for method %q", req.CodeChallenge, req.ChallengeMethod)
	case req.State != params.Get("state") || len(req.State) > maxStateLen:
		t.Fatalf("state %q kept as %q", params.Get("state"), req.State)
	}
	fzWantRegistered(t, client, req.RedirectURI)
	if params.Has("redirect_uri") && req.RedirectURI != params.Get("redirect_uri") {
		t.Fatalf("redirect_uri %q answered at %q", params.Get("redirect_uri"), req.RedirectURI)
	}
}

// fzValidChallenge restates RFC 7636 §4.2: S256 is the unpadded base64url
// of 32 bytes; plain is a verifier, 43 to 128 unreserved characters.
func fzValidChallenge(challenge, method string) bool {
	unreserved := func(r rune) bool {
		return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)
	}
	if strings.IndexFunc(challenge, func(r rune) bool { return !unreserved(r) }) >= 0 {
		return false
	}
	switch method {
	case MethodS256:
		return len(challenge) == 43 && !strings.ContainsAny(challenge, ".~")
	case MethodPlain:
		return len(challenge) >= 43 && len(challenge) <= 128
	}
	return false
}

// fzWantRegistered fails unless uri is registered for client, or is a
// loopback variant of a registered URI.
func fzWantRegistered(t *testing.T, client store.Client, uri string) {
	t.Helper()
	if slices.Contains(client.RedirectURIs, uri) {
		return
	}
	for _, r := range client.RedirectURIs {
		if fzLoopbackVariant(uri, r) {
			return
		}
	}
	t.Fatalf("redirect URI %q is not registered for %s (%q)", uri, client.ID, client.RedirectURIs)
}

// fzSplitLoopback cuts an http(s) URL on a loopback IP literal into the
// part before the port, the port, and the rest. ok is false for any other
// URL, including one with user info.
func fzSplitLoopback(raw string) (head, port, rest string, ok bool) {
	scheme, after, found := strings.Cut(raw, "://")
	if !found || (scheme != "http" && scheme != "https") {
		return "", "", "", false
	}
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	host, rest := after[:end], after[end:]
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host, port = host[:i], host[i+1:]
	}
	if strings.Trim(port, "0123456789") != "" {
		return "", "", "", false
	}
	inner := host
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		inner = host[1 : len(host)-1]
	} else if strings.Contains(host, ":") {
		return "", "", "", false
	}
	ip := net.ParseIP(inner)
	if (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return "", "", "", false
	}
	return scheme + "://" + host, port, rest, true
}

// fzLoopbackVariant reports whether requested is registered with only its
// port changed (RFC 8252 §7.3): the same string apart from the port. An
// empty path and "/" are taken as the same.
func fzLoopbackVariant(requested, registered string) bool {
	h1, _, r1, ok1 := fzSplitLoopback(requested)
	h2, _, r2, ok2 := fzSplitLoopback(registered)
	norm := func(rest string) string {
		if rest == "" || rest[0] != '/' {
			return "/" + rest
		}
		return rest
	}
	return ok1 && ok2 && h1 == h2 && norm(r1) == norm(r2) && !strings.Contains(requested, "#")
}

// fzPlainLoopback matches loopback redirect URIs as native apps register
// them: http, 127.0.0.1, [::1] or localhost, a port, a plain path and query.
var fzPlainLoopback = regexp.MustCompile(`^http://(127\.0\.0\.1|\[::1\]|localhost)(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?(\?[A-Za-z0-9._~=&-]*)?$`)

func FuzzMatchRedirectURI(f *testing.F) {
	f.Add("https://app.example.com/cb\nhttp://127.0.0.1:9999/callback", "http://127.0.0.1:5000/callback", uint16(5000))
	f.Add("http://127.0.0.1/callback", "http://127.0.0.1:1/callback", uint16(80))
	f.Add("http://[::1]:8080/cb?x=1", "http://[::1]:9090/cb?x=1", uint16(0))
	f.Add("http://[::1]:8080/cb?x=1", "http://[::1]:9090/cb?x=2", uint16(1))
	f.Add("http://127.0.0.1:9999/callback", "HTTP://127.0.0.1:9999/callback", uint16(2))
	f.Add("http://127.0.0.1:9999/callback", "http://127.0.0.1:5/callback?", uint16(3))
	f.Add("http://127.0.0.1:9999/a%20b", "http://127.0.0.1:5/a b", uint16(4))
	f.Add("http://127.0.0.1:9999/callback", "http://127.0.0.1:5/%63allback", uint16(5))
	f.Add("http://127.0.0.1:9999/callback", "http://user@127.0.0.1:5/callback", uint16(6))
	f.Add("http://127.0.0.1:9999/callback", "http://127.0.0.1:5/callback#x", uint16(7))
	f.Add("http://127.0.0.1:9999/callback", "http://localhost:5/callback", uint16(8))
	f.Add("http://127.0.0.1:9999/callback", "http://127.0.0.2:9999/callback", uint16(9))
	f.Add("http://localhost:9999/callback", "http://localhost:5/callback", uint16(10))
	f.Add("https://app.example.com:8443/cb", "https://app.example.com:9443/cb", uint16(11))
	f.Add("https://app.example.com/cb", "https://app.example.com/cb/", uint16(12))
	f.Add("com.example.app:/oauth", "com.example.app:/oauth", uint16(13))
	f.Add("http://127.0.0.1:9999", "http://127.0.0.1:5/", uint16(14))
	f.Add("http://[::ffff:127.0.0.1]:1/x", "http://[::ffff:127.0.0.1]:2/x", uint16(15))
	f.Add("", "", uint16(16))
	f.Fuzz(func(t *testing.T, registeredList, requested string, port uint16) {
		registered := strings.Split(registeredList, "\n")
		got, err := MatchRedirectURI(registered, requested)
		switch {
		case err != nil && got != "":
			t.Fatalf("error %v with result %q", err, got)
		case err != nil && slices.Contains(registered, requested):
			t.Fatalf("registered URI %q refused", requested)
		case err == nil && got != requested:
			t.Fatalf("requested %q, matched %q", requested, got)
		case err == nil && !slices.Contains(registered, requested) &&
			!slices.ContainsFunc(registered, func(r string) bool { return fzLoopbackVariant(requested, r) }):
			t.Fatalf("%q matched none of %q", requested, registered)
		}

		// A well-formed http URI on a loopback IP literal matches on any port.
		for _, r := range registered {
			head, _, rest, ok := fzSplitLoopback(r)
			if !ok || !fzPlainLoopback.MatchString(r) {
				continue
			}
			variant := head + ":" + strconv.Itoa(int(port)) + rest
			if got, err := MatchRedirectURI(registered, variant); err != nil || got != variant {
				t.Fatalf("%q, a port variant of registered %q, got %q %v", variant, r, got, err)
			}
		}
	})
}
