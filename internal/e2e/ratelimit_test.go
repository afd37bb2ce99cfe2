package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/oauth"
	"latchkey/internal/testkit"
)

// limitWindow is long enough that no request is paid back while a test
// runs on the real clock; the tests move their nodes' clocks instead.
const limitWindow = time.Hour

// withLimits sets the rate limits (0 leaves one off) and trusts the
// loopback proxy, so that tests choose their source address with
// X-Forwarded-For.
func withLimits(perClient, perAddress int) testkit.Option {
	return func(c *config.Config) {
		c.RateLimitWindow, c.RateLimitPerClient, c.RateLimitPerAddress = limitWindow, perClient, perAddress
		c.TrustedProxies = "127.0.0.1,::1"
	}
}

// answer is one response of a limited endpoint.
type answer struct {
	status     int
	retryAfter string
	body       string
}

// errorCode is the RFC 6749 error of a JSON answer.
func (a answer) errorCode() string {
	var e struct{ Error string }
	_ = json.Unmarshal([]byte(a.body), &e)
	return e.Error
}

// send makes one request from source (through the trusted proxy); a form
// makes it a POST.
func send(t *testing.T, method, target, source string, form url.Values) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-For", source)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
}

// bogusRefresh is a refresh with a refresh token that does not exist, by
// a pre-registered public client: what anyone can send.
func bogusRefresh(clientID string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"lkr_bogus"}, "client_id": {clientID}}
}

// wantRefused checks a 429 in RFC 6749 form with a Retry-After of want seconds.
func wantRefused(t *testing.T, what string, a answer, code string, want int) {
	t.Helper()
	if a.status != http.StatusTooManyRequests || a.errorCode() != code {
		t.Fatalf("%s: %d %s, want 429 with error %s", what, a.status, a.body, code)
	}
	if got, err := strconv.Atoi(a.retryAfter); err != nil || got != want {
		t.Fatalf("%s: Retry-After %q, want %d", what, a.retryAfter, want)
	}
}

// wantPassed checks that the endpoint itself answered (not the limit).
func wantPassed(t *testing.T, what string, a answer) {
	t.Helper()
	if a.status == http.StatusTooManyRequests || a.status >= 500 {
		t.Fatalf("%s: %d %s, want the endpoint's own answer", what, a.status, a.body)
	}
}

const gcoID = "a4792ccc-144e-407e-86c9-5e7d8d9c3269" // git-credential-oauth, pre-registered

func TestTwoNodesOnPostgreSQLShareOneLimitPerClient(t *testing.T) {
	dsn := testkit.FreshPostgres(t)
	onShared := func(c *config.Config) { c.DB, c.KeyEncryptionKey = dsn, testkit.TestKeyEncryptionKey }
	const limit = 6
	a := testkit.New(t, onShared, withLimits(limit, 0))
	b := testkit.New(t, onShared, withLimits(limit, 0))
	nodes := []*testkit.Env{a, b}
	for i := range limit {
		n := nodes[i%2]
		got := send(t, http.MethodPost, n.URL+"/login/oauth/access_token", "203.0.113.1", bogusRefresh(gcoID))
		if got.status != http.StatusBadRequest || got.errorCode() != oauth.CodeInvalidGrant {
			t.Fatalf("request %d of %d (node %d): %d %s, want 400 invalid_grant", i+1, limit, i%2, got.status, got.body)
		}
	}
	interval := int(limitWindow.Seconds()) / limit
	for i, n := range nodes {
		got := send(t, http.MethodPost, n.URL+"/rest/oauth2/latest/token", "203.0.113.2", bogusRefresh(gcoID))
		wantRefused(t, "request over the shared limit at node "+strconv.Itoa(i), got, oauth.CodeTemporarilyUnavailable, interval)
	}
	for _, n := range nodes {
		n.Clock.Advance(time.Duration(interval) * time.Second)
	}
	wantPassed(t, "after Retry-After", send(t, http.MethodPost, b.URL+"/login/oauth/access_token", "203.0.113.1", bogusRefresh(gcoID)))
	wantRefused(t, "the next one", send(t, http.MethodPost, a.URL+"/login/oauth/access_token", "203.0.113.1", bogusRefresh(gcoID)),
		oauth.CodeTemporarilyUnavailable, interval)
	for _, n := range nodes {
		n.Clock.Advance(limitWindow)
	}
	for i := range limit {
		wantPassed(t, "after a whole window, request "+strconv.Itoa(i+1),
			send(t, http.MethodPost, nodes[i%2].URL+"/login/oauth/access_token", "203.0.113.1", bogusRefresh(gcoID)))
	}
}

func TestANodeOnSQLiteLimitsInItsOwnMemory(t *testing.T) {
	const limit = 4
	env := testkit.New(t, withLimits(limit, 0))
	for i := range limit {
		wantPassed(t, "request "+strconv.Itoa(i+1), send(t, http.MethodPost, env.URL+"/login/device/code", "203.0.113.1",
			url.Values{"client_id": {gcoID}}))
	}
	wantRefused(t, "request over the limit", send(t, http.MethodPost, env.URL+"/login/device/code", "203.0.113.1",
		url.Values{"client_id": {gcoID}}), oauth.CodeTemporarilyUnavailable, int(limitWindow.Seconds())/limit)
	env.Clock.Advance(limitWindow)
	wantPassed(t, "after the window", send(t, http.MethodPost, env.URL+"/login/device/code", "203.0.113.1",
		url.Values{"client_id": {gcoID}}))
}

func TestALimitPerClientDoesNotThrottleAnotherClient(t *testing.T) {
	env := testkit.New(t, withLimits(3, 0))
	other := "e90ee53c-94e2-48ac-9358-a874fb9e0662" // Git Credential Manager, pre-registered
	for range 3 {
		wantPassed(t, "first client", send(t, http.MethodPost, env.URL+"/login/oauth/access_token", "203.0.113.1", bogusRefresh(gcoID)))
	}
	wantRefused(t, "first client over its limit", send(t, http.MethodPost, env.URL+"/login/oauth/access_token", "203.0.113.1",
		bogusRefresh(gcoID)), oauth.CodeTemporarilyUnavailable, int(limitWindow.Seconds())/3)
	for range 3 {
		wantPassed(t, "second client from the same address",
			send(t, http.MethodPost, env.URL+"/login/oauth/access_token", "203.0.113.1", bogusRefresh(other)))
	}
}

func TestALimitPerAddressDoesNotThrottleAnotherAddress(t *testing.T) {
	env := testkit.New(t, withLimits(0, 3))
	for range 3 {
		wantPassed(t, "first address", send(t, http.MethodPost, env.URL+"/login/oauth/revoke", "198.51.100.7",
			url.Values{"token": {"lka_bogus"}, "client_id": {gcoID}}))
	}
	wantRefused(t, "first address over its limit", send(t, http.MethodPost, env.URL+"/login/oauth/revoke", "198.51.100.7",
		url.Values{"token": {"lka_bogus"}, "client_id": {gcoID}}), oauth.CodeTemporarilyUnavailable, int(limitWindow.Seconds())/3)
	for range 3 {
		wantPassed(t, "second address, same client", send(t, http.MethodPost, env.URL+"/login/oauth/revoke", "198.51.100.8",
			url.Values{"token": {"lka_bogus"}, "client_id": {gcoID}}))
	}
	// An IPv6 subscriber counts by its /64: another address in it is not a fresh budget.
	for range 3 {
		wantPassed(t, "IPv6", send(t, http.MethodPost, env.URL+"/login/oauth/revoke", "2001:db8:1:2::1",
			url.Values{"token": {"lka_bogus"}}))
	}
	if got := send(t, http.MethodPost, env.URL+"/login/oauth/revoke", "2001:db8:1:2::ffff", url.Values{"token": {"lka_bogus"}}); got.status != http.StatusTooManyRequests {
		t.Fatalf("another address of the same IPv6 /64: %d, want 429", got.status)
	}
}

// TestEveryUnauthenticatedEndpointIsLimitedInBothDialects walks each
// limited endpoint with a limit of one request per address: the paths of
// both dialects share one budget per endpoint, JSON endpoints answer RFC
// 6749 JSON and the authorization endpoint a page for the person.
func TestEveryUnauthenticatedEndpointIsLimitedInBothDialects(t *testing.T) {
	env := testkit.New(t, withLimits(0, 1))
	id, secret := env.Client(admin.NewClient{Name: "Limited App", RedirectURIs: []string{"https://app.example/cb"}})
	creds := url.Values{"client_id": {id}, "client_secret": {secret}, "token": {"lka_bogus"}}
	authorize := "?response_type=code&client_id=" + id + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=s"
	endpoints := []struct {
		name   string
		method string
		paths  []string
		form   url.Values
	}{
		{"token", http.MethodPost, []string{"/login/oauth/access_token", "/rest/oauth2/latest/token"}, bogusRefresh(gcoID)},
		{"revoke", http.MethodPost, []string{"/login/oauth/revoke", "/rest/oauth2/latest/revoke"}, creds},
		{"introspect", http.MethodPost, []string{"/login/oauth/introspect", "/rest/oauth2/latest/introspect"}, creds},
		{"device", http.MethodPost, []string{"/login/device/code", "/login/device/code"}, url.Values{"client_id": {gcoID}}},
		{"authorize", http.MethodGet, []string{"/login/oauth/authorize" + authorize, "/rest/oauth2/latest/authorize" + authorize}, nil},
	}
	for _, e := range endpoints {
		wantPassed(t, e.name+" first request", send(t, e.method, env.URL+e.paths[0], "192.0.2.1", e.form))
		got := send(t, e.method, env.URL+e.paths[1], "192.0.2.1", e.form)
		if e.method == http.MethodGet {
			if got.status != http.StatusTooManyRequests || got.retryAfter != "3600" || !strings.Contains(got.body, "Too many sign-in requests") {
				t.Fatalf("%s over the limit: %d Retry-After %q %s", e.name, got.status, got.retryAfter, got.body)
			}
			continue
		}
		wantRefused(t, e.name+" over the limit (the other dialect's path)", got, oauth.CodeTemporarilyUnavailable, 3600)
	}
	// A device client polling too fast is told to slow down, which
	// device clients follow, rather than an error that ends the flow.
	poll := url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {"lkd_bogus"}, "client_id": {gcoID}}
	wantRefused(t, "device poll over the limit", send(t, http.MethodPost, env.URL+"/login/oauth/access_token", "192.0.2.1", poll),
		oauth.CodeSlowDown, 3600)
}
