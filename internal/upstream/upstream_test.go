package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"latchkey/internal/outbound"
	"latchkey/internal/testkit"
	"latchkey/internal/upstream"
)

const (
	clientID     = "latchkey"
	clientSecret = "upstream-secret"
	redirectURI  = "http://127.0.0.1:9/upstream/callback" // never dialled
)

var accounts = []testkit.UpstreamAccount{
	{
		Login: "alice", Password: "alice-password", Sub: "sub-alice",
		Claims: map[string]any{
			"preferred_username": "alice", "name": "Alice Liddell",
			"email": "alice@example.org", "email_verified": true,
			"groups": []string{"staff", "admins"},
		},
		AMR: []string{"pwd", "otp"}, ACR: "urn:example:mfa",
	},
	{
		Login: "bob", Password: "bob-password", Sub: "sub-bob",
		Claims: map[string]any{
			"preferred_username": "bob", "name": "Bob",
			"email": "bob@example.org", "email_verified": false,
			"groups": "solo",
		},
	},
	{
		// Carol's e-mail and groups come from userinfo alone, and her
		// provider sends email_verified as a string.
		Login: "carol", Password: "carol-password", Sub: "sub-carol",
		Claims: map[string]any{
			"name": "Carol", "email": "carol@example.org", "email_verified": "true",
			"groups": []string{"ops"},
		},
		UserinfoOnly: []string{"email", "email_verified", "groups"},
	},
}

// counter is a RoundTripper that counts requests by path and can be told
// to fail them.
type counter struct {
	next http.RoundTripper
	mu   sync.Mutex
	hits map[string]int
	fail bool
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.hits[req.URL.Path]++
	fail := c.fail
	c.mu.Unlock()
	if fail {
		return nil, errors.New("counter: failing on purpose")
	}
	return c.next.RoundTrip(req)
}

func (c *counter) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[path]
}

func (c *counter) setFail(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = v
}

// rewriteUserinfo replaces the body of the provider's userinfo answer.
type rewriteUserinfo struct {
	next http.RoundTripper
	body string
}

func (r rewriteUserinfo) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || req.URL.Path != "/me" {
		return resp, err
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(r.body))
	resp.ContentLength = int64(len(r.body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// guarded returns the outbound client's *http.Client allowing 127.0.0.1,
// wrapped in a counter.
func guarded(t *testing.T) (*http.Client, *counter) {
	t.Helper()
	allow, err := outbound.ParseAllowList("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	hc := outbound.New(outbound.Config{Allow: allow}).HTTPClient()
	cnt := &counter{next: hc.Transport, hits: map[string]int{}}
	hc.Transport = cnt
	return hc, cnt
}

// clock is an adjustable test clock.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

var formAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// signIn plays the browser: it follows authURL to the provider's login
// form, submits login and password, and follows the redirects up to the
// callback, whose code and state it returns.
func signIn(t *testing.T, authURL, login, password string) (code, state string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), redirectURI) {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	resp, body := fetch(t, browser, http.MethodGet, authURL, nil)
	m := formAction.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("no login form at %s: %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	action := resp.Request.URL.ResolveReference(&url.URL{Path: m[1]}).String()
	resp, body = fetch(t, browser, http.MethodPost, action, url.Values{"login": {login}, "password": {password}})
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI) {
		t.Fatalf("sign-in did not come back to the callback: %d %v %s", resp.StatusCode, loc, body)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		t.Fatalf("provider answered error %q %q", q.Get("error"), q.Get("error_description"))
	}
	return q.Get("code"), q.Get("state")
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = c.PostForm(u, form)
	} else {
		resp, err = c.Get(u)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestAgainstOIDCProvider signs in at a real oidc-provider (npm) with the
// Go client driving its login form.
func TestAgainstOIDCProvider(t *testing.T) {
	op := testkit.StartOIDCProvider(t,
		[]testkit.UpstreamClient{{ClientID: clientID, ClientSecret: clientSecret, RedirectURIs: []string{redirectURI}}},
		accounts)
	settings := upstream.Settings{Issuer: op.Issuer, ClientID: clientID, ClientSecret: clientSecret,
		Scopes: []string{"openid", "profile", "email", "groups"}, GroupsClaim: "groups"}
	ctx := context.Background()

	// run signs in as login and finishes with f adjusted by tamper.
	run := func(t *testing.T, c *upstream.Client, s upstream.Settings, login, password string, tamper func(*upstream.Flow)) (upstream.Identity, error) {
		t.Helper()
		authURL, f, err := c.Start(ctx, s, redirectURI)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		code, state := signIn(t, authURL, login, password)
		if err := f.CheckState(state); err != nil {
			t.Fatalf("CheckState of the provider's own state: %v", err)
		}
		if tamper != nil {
			tamper(&f)
		}
		return c.Finish(ctx, s, redirectURI, f, code)
	}

	t.Run("full sign-in", func(t *testing.T) {
		hc, cnt := guarded(t)
		c := upstream.New(hc, nil)
		before := time.Now().Add(-time.Minute)
		id, err := run(t, c, settings, "alice", "alice-password", nil)
		if err != nil {
			t.Fatalf("Finish: %v", err)
		}
		want := upstream.Identity{Subject: "sub-alice", Username: "alice", Name: "Alice Liddell",
			Email: "alice@example.org", EmailVerified: true, Groups: []string{"staff", "admins"},
			AMR: []string{"pwd", "otp"}, ACR: "urn:example:mfa"}
		got := id
		got.AuthTime = time.Time{}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("identity\n got %+v\nwant %+v", got, want)
		}
		if id.AuthTime.Before(before) || id.AuthTime.After(time.Now().Add(time.Minute)) {
			t.Errorf("auth_time %v is not about now", id.AuthTime)
		}
		for _, p := range []string{"/.well-known/openid-configuration", "/token", "/jwks", "/me"} {
			if cnt.count(p) == 0 {
				t.Errorf("no request to %s went through the given client", p)
			}
		}
	})

	t.Run("userinfo fills what the ID token lacks", func(t *testing.T) {
		hc, _ := guarded(t)
		id, err := run(t, upstream.New(hc, nil), settings, "carol", "carol-password", nil)
		if err != nil {
			t.Fatalf("Finish: %v", err)
		}
		if id.Email != "carol@example.org" || !id.EmailVerified || !slices.Equal(id.Groups, []string{"ops"}) || id.Name != "Carol" {
			t.Errorf("identity %+v: want e-mail (verified) and groups from userinfo, name from the ID token", id)
		}
		if id.Username != "" {
			t.Errorf("Username %q: want empty without a preferred_username claim", id.Username)
		}
	})

	t.Run("email_verified false", func(t *testing.T) {
		hc, _ := guarded(t)
		id, err := run(t, upstream.New(hc, nil), settings, "bob", "bob-password", nil)
		if err != nil {
			t.Fatalf("Finish: %v", err)
		}
		if id.Email != "bob@example.org" || id.EmailVerified {
			t.Errorf("e-mail %q verified %v: want bob@example.org, not verified", id.Email, id.EmailVerified)
		}
		if !slices.Equal(id.Groups, []string{"solo"}) || id.AMR != nil || id.ACR != "" {
			t.Errorf("groups %q amr %q acr %q: want [solo], none, none", id.Groups, id.AMR, id.ACR)
		}
	})

	t.Run("ID token carries the scope claims", func(t *testing.T) {
		// The harness puts scope claims in the ID token as well as in
		// userinfo (except UserinfoOnly ones): with a userinfo that
		// says nothing but sub, what remains is the ID token's.
		hc, _ := guarded(t)
		hc.Transport = rewriteUserinfo{hc.Transport, `{"sub":"sub-alice"}`}
		id, err := run(t, upstream.New(hc, nil), settings, "alice", "alice-password", nil)
		if err != nil || id.Email != "alice@example.org" || !id.EmailVerified || len(id.Groups) != 2 || id.Username != "alice" {
			t.Errorf("identity from the ID token alone: %+v %v", id, err)
		}
		hc.Transport = rewriteUserinfo{hc.Transport.(rewriteUserinfo).next, `{"sub":"sub-carol"}`}
		id, err = run(t, upstream.New(hc, nil), settings, "carol", "carol-password", nil)
		if err != nil || id.Email != "" || id.Groups != nil || id.Name != "Carol" {
			t.Errorf("carol from the ID token alone: %+v %v, want no e-mail or groups", id, err)
		}
	})

	t.Run("provider requires PKCE", func(t *testing.T) {
		hc, _ := guarded(t)
		authURL, _, err := upstream.New(hc, nil).Start(ctx, settings, redirectURI)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(authURL)
		q := u.Query()
		q.Del("code_challenge")
		q.Del("code_challenge_method")
		u.RawQuery = q.Encode()
		noRedirect := &http.Client{Timeout: 20 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, _ := fetch(t, noRedirect, http.MethodGet, u.String(), nil)
		loc, err := resp.Location()
		if err != nil || loc.Query().Get("error") != "invalid_request" {
			t.Fatalf("authorization without PKCE: %d %v, want an invalid_request redirect", resp.StatusCode, loc)
		}
	})

	t.Run("userinfo of another subject", func(t *testing.T) {
		hc, _ := guarded(t)
		hc.Transport = rewriteUserinfo{hc.Transport, `{"sub":"sub-mallory","email":"mallory@example.org","email_verified":true}`}
		_, err := run(t, upstream.New(hc, nil), settings, "alice", "alice-password", nil)
		if err == nil || !strings.Contains(err.Error(), "another subject") {
			t.Fatalf("Finish with userinfo for another sub: %v, want an error", err)
		}
	})

	t.Run("forged state", func(t *testing.T) {
		hc, _ := guarded(t)
		_, f, err := upstream.New(hc, nil).Start(ctx, settings, redirectURI)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []string{"forged", "", f.State + "x", f.State[:len(f.State)-1]} {
			if err := f.CheckState(got); !errors.Is(err, upstream.ErrState) {
				t.Errorf("CheckState(%q) = %v, want ErrState", got, err)
			}
		}
		if err := (upstream.Flow{}).CheckState(""); !errors.Is(err, upstream.ErrState) {
			t.Errorf("empty flow, empty state: %v, want ErrState", err)
		}
	})

	t.Run("wrong nonce", func(t *testing.T) {
		hc, _ := guarded(t)
		_, err := run(t, upstream.New(hc, nil), settings, "alice", "alice-password", func(f *upstream.Flow) { f.Nonce = "another-nonce" })
		if !errors.Is(err, upstream.ErrNonce) {
			t.Fatalf("Finish with another nonce: %v, want ErrNonce", err)
		}
	})

	t.Run("wrong client secret", func(t *testing.T) {
		hc, _ := guarded(t)
		s := settings
		s.ClientSecret = "not-the-secret"
		_, err := run(t, upstream.New(hc, nil), s, "alice", "alice-password", nil)
		if err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("Finish with a wrong secret: %v, want an error naming invalid_client", err)
		}
		if errors.Is(err, upstream.ErrUnavailable) {
			t.Errorf("a refusal is not unavailability: %v", err)
		}
	})

	t.Run("wrong password shows the form again", func(t *testing.T) {
		hc, _ := guarded(t)
		authURL, _, err := upstream.New(hc, nil).Start(ctx, settings, redirectURI)
		if err != nil {
			t.Fatal(err)
		}
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
		resp, body := fetch(t, browser, http.MethodGet, authURL, nil)
		m := formAction.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no login form: %s", body)
		}
		action := resp.Request.URL.ResolveReference(&url.URL{Path: m[1]}).String()
		resp, body = fetch(t, browser, http.MethodPost, action, url.Values{"login": {"alice"}, "password": {"wrong"}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `class="error"`) || !formAction.MatchString(body) {
			t.Fatalf("wrong password: %d %s, want the form again with an error", resp.StatusCode, body)
		}
	})

	t.Run("outbound refuses loopback unless allowed", func(t *testing.T) {
		c := upstream.New(outbound.New(outbound.Config{}).HTTPClient(), nil)
		_, _, err := c.Start(ctx, settings, redirectURI)
		if !outbound.IsRefused(err) || !errors.Is(err, upstream.ErrUnavailable) {
			t.Fatalf("Start without an allow list: %v, want a refusal wrapped in ErrUnavailable", err)
		}
	})

	t.Run("discovery is cached, failures are not", func(t *testing.T) {
		hc, cnt := guarded(t)
		clk := &clock{}
		c := upstream.New(hc, clk.now)
		const disc = "/.well-known/openid-configuration"
		cnt.setFail(true)
		if _, _, err := c.Start(ctx, settings, redirectURI); !errors.Is(err, upstream.ErrUnavailable) {
			t.Fatalf("Start with a failing network: %v, want ErrUnavailable", err)
		}
		cnt.setFail(false)
		for i := range 2 {
			if _, _, err := c.Start(ctx, settings, redirectURI); err != nil {
				t.Fatalf("Start %d: %v", i, err)
			}
		}
		if n := cnt.count(disc); n != 2 {
			t.Fatalf("%d discovery requests, want 2 (the failed one, then one cached)", n)
		}
		clk.advance(upstream.DiscoveryTTL + time.Second)
		if _, _, err := c.Start(ctx, settings, redirectURI); err != nil {
			t.Fatal(err)
		}
		if n := cnt.count(disc); n != 3 {
			t.Fatalf("%d discovery requests after the TTL, want 3", n)
		}
	})
}
