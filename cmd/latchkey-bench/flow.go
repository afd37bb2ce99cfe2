package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// redirectURI is the code client's registered redirect URI. Nothing
// listens there: the code is read from the authorization endpoint's
// Location header.
const redirectURI = "http://127.0.0.1/callback"

// creds is a confidential client.
type creds struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// fixture is what setup created on a node.
type fixture struct {
	base          string
	user, pass    string
	code, service creds // the authorization-code client, the client_credentials one
	tokenURL      string
	introspectURL string
	authorizeURL  string
	browser       *http.Client // signed in as user
}

// setup creates the bench user, a project with a repository, and the two
// clients through the latchkey CLI (before the node starts).
func setup(ctx context.Context, n *node) (*fixture, error) {
	f := &fixture{user: "bench", pass: randomString(18)}
	steps := []struct {
		stdin string
		out   any
		args  []string
	}{
		{f.pass + "\n", nil, []string{"user", "create", "--username", f.user, "--email", "bench@example.com", "--admin", "--password-stdin"}},
		{"", nil, []string{"project", "create", "--key", "PRJ", "--name", "Bench"}},
		{"", nil, []string{"repo", "create", "--project", "PRJ", "--slug", "repo"}},
		{"", nil, []string{"permission", "grant", "--user", f.user, "--project", "PRJ", "--permission", "PROJECT_READ"}},
		{"", &f.code, []string{"client", "create", "--name", "Bench web application", "--redirect-uri", redirectURI,
			"--scopes", "REPO_READ", "--default-scopes", "REPO_READ", "--pkce-required"}},
		{"", &f.service, []string{"client", "create", "--name", "Bench service", "--redirect-uri", "http://127.0.0.1/unused",
			"--grant-types", "client_credentials", "--scopes", "REPO_READ", "--default-scopes", "REPO_READ"}},
	}
	for _, s := range steps {
		if err := n.cli(ctx, s.stdin, s.out, s.args...); err != nil {
			return nil, err
		}
	}
	if err := n.cli(ctx, "", nil, "client", "trust", "--client-id", f.code.ID, "--on"); err != nil {
		return nil, err
	}
	if err := n.cli(ctx, "", nil, "permission", "grant", "--client", f.service.ID, "--repo", "PRJ/repo", "--permission", "REPO_READ"); err != nil {
		return nil, err
	}
	return f, nil
}

// connect reads the node's discovery document and signs the bench user in
// through the login form.
func (f *fixture) connect(ctx context.Context, base string) error {
	f.base = base
	var disc struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		Introspection string `json:"introspection_endpoint"`
	}
	if err := getJSON(ctx, http.DefaultClient, base+"/.well-known/oauth-authorization-server", &disc); err != nil {
		return err
	}
	if disc.Token == "" || disc.Authorization == "" || disc.Introspection == "" {
		return fmt.Errorf("discovery lacks an endpoint: %+v", disc)
	}
	f.authorizeURL, f.tokenURL, f.introspectURL = disc.Authorization, disc.Token, disc.Introspection
	jar, _ := cookiejar.New(nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	f.browser = &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return f.signIn(ctx)
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// signIn posts the login form with the CSRF token from the page.
func (f *fixture) signIn(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/login", nil)
	var page []byte
	if status, err := send(f.browser, req, &page); err != nil || status != http.StatusOK {
		return fmt.Errorf("GET /login: status %d: %v", status, err)
	}
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("GET /login: no csrf_token in the form")
	}
	form := url.Values{"csrf_token": {html.UnescapeString(string(m[1]))}, "next": {"/"}, "username": {f.user}, "password": {f.pass}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, f.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.base)
	status, err := send(f.browser, req, &page)
	if err != nil || status != http.StatusSeeOther && status != http.StatusFound {
		return fmt.Errorf("POST /login: status %d: %v: %.300s", status, err, page)
	}
	return nil
}

// authCode is a single-use authorization code with its PKCE verifier.
type authCode struct{ code, verifier string }

// mintCode gets one code through the real authorization endpoint: the
// signed-in browser asks, the trusted client skips consent, and the code
// is read from the redirect.
func (f *fixture) mintCode(ctx context.Context) (authCode, error) {
	verifier := randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {f.code.ID}, "redirect_uri": {redirectURI},
		"scope": {"REPO_READ"}, "state": {"bench"}, "code_challenge_method": {"S256"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.authorizeURL+"?"+q.Encode(), nil)
	resp, err := f.browser.Do(req)
	if err != nil {
		return authCode{}, fmt.Errorf("authorize: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return authCode{}, fmt.Errorf("authorize: status %d, Location %q: no code", resp.StatusCode, resp.Header.Get("Location"))
	}
	return authCode{loc.Query().Get("code"), verifier}, nil
}

// mintCodes gets n codes from parallel browser requests.
func (f *fixture) mintCodes(ctx context.Context, n, parallel int) ([]authCode, error) {
	codes := make([]authCode, n)
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for i := range next {
				c, err := f.mintCode(ctx)
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					continue
				}
				codes[i] = c
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
		if i%256 == 0 {
			mu.Lock()
			stop := firstErr != nil
			mu.Unlock()
			if stop {
				break
			}
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return codes, ctx.Err()
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// tokenReply is the token endpoint's answer.
type tokenReply struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// exchangeRequest is the token request that redeems c.
func (f *fixture) exchangeRequest(ctx context.Context, c authCode) *http.Request {
	return f.tokenRequest(ctx, f.code, url.Values{"grant_type": {"authorization_code"}, "code": {c.code},
		"redirect_uri": {redirectURI}, "code_verifier": {c.verifier}})
}

// tokenRequest is a POST to the token endpoint, the client authenticated
// with HTTP Basic.
func (f *fixture) tokenRequest(ctx context.Context, c creds, form url.Values) *http.Request {
	return f.formPost(ctx, f.tokenURL, c, form)
}

func (f *fixture) formPost(ctx context.Context, endpoint string, c creds, form url.Values) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	return req
}

// grant mints a code and redeems it: a fresh access and refresh token.
func (f *fixture) grant(ctx context.Context) (tokenReply, error) {
	c, err := f.mintCode(ctx)
	if err != nil {
		return tokenReply{}, err
	}
	var body []byte
	status, err := send(f.browser, f.exchangeRequest(ctx, c), &body)
	if err != nil || status != http.StatusOK {
		return tokenReply{}, fmt.Errorf("code exchange: status %d: %v: %.300s", status, err, body)
	}
	var t tokenReply
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return tokenReply{}, fmt.Errorf("code exchange: answer %.300s", body)
	}
	return t, nil
}

// getJSON GETs url and decodes its JSON answer.
func getJSON(ctx context.Context, hc *http.Client, u string, out any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	var body []byte
	status, err := send(hc, req, &body)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %v", u, status, err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// randomString is n random bytes in unpadded base64url.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
