package clientmeta_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"latchkey/internal/clientmeta"
	"latchkey/internal/oauth"
	"latchkey/internal/outbound"
	"latchkey/internal/scope"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
)

// docServer is a real HTTPS server that serves metadata documents; the
// handler of a path may be swapped by a test.
type docServer struct {
	*httptest.Server
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	hits     atomic.Int64
}

func newDocServer(t *testing.T) *docServer {
	d := &docServer{handlers: map[string]http.HandlerFunc{}}
	d.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		d.mu.Lock()
		h := d.handlers[r.URL.Path]
		d.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *docServer) handle(path string, h http.HandlerFunc) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.handlers[path] = h
	return d.URL + path
}

// serveDoc serves body as JSON with the given headers.
func serveDoc(body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		fmt.Fprint(w, body)
	}
}

func goodDoc(id string) string {
	return fmt.Sprintf(`{"client_id":%q,"client_name":"Test Agent","redirect_uris":["http://127.0.0.1/callback","https://agent.example/cb"],
		"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none","client_uri":"https://agent.example/"}`, id)
}

func openStore(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := backend.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type fixture struct {
	docs  *docServer
	st    store.Store
	clock *testkit.Clock
	src   *clientmeta.Source
	cfg   clientmeta.Config
}

func newFixture(t *testing.T, adjust ...func(*clientmeta.Config)) *fixture {
	t.Helper()
	f := &fixture{docs: newDocServer(t), clock: &testkit.Clock{}}
	dsn := os.Getenv("LATCHKEY_TEST_POSTGRES")
	if dsn == "" {
		dsn = filepath.Join(t.TempDir(), "latchkey.db")
	} else {
		dsn = testkit.FreshPostgres(t)
	}
	f.st = openStore(t, dsn)
	allow, err := outbound.ParseAllowList("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = clientmeta.Config{Store: f.st, Now: f.clock.Now, Allow: allow, RootCAs: rootCAs(f.docs.Server)}
	for _, a := range adjust {
		a(&f.cfg)
	}
	f.src = clientmeta.New(f.cfg)
	return f
}

func rootCAs(s *httptest.Server) *x509.CertPool {
	return s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

// refusal asserts an *oauth.UnusableClientError whose reason holds want.
func refusal(t *testing.T, err error, want string) {
	t.Helper()
	var u *oauth.UnusableClientError
	if !errors.As(err, &u) {
		t.Fatalf("err = %v, want an UnusableClientError", err)
	}
	if !strings.Contains(u.Reason, want) {
		t.Fatalf("reason %q does not say %q", u.Reason, want)
	}
}

func TestGoodDocumentStoredAsMetadataClient(t *testing.T) {
	f := newFixture(t)
	id := f.docs.URL + "/client.json"
	f.docs.handle("/client.json", serveDoc(goodDoc(id), "Cache-Control", "max-age=600"))
	c, err := f.src.Client(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || c.Name != "Test Agent" || !c.Public || !c.PKCERequired || c.Origin != store.OriginMetadata ||
		c.ApplicationType != store.ApplicationNative || c.ClientURI != "https://agent.example/" || len(c.RedirectURIs) != 2 {
		t.Fatalf("client = %+v", c)
	}
	if got := c.MetadataExpiresAt.Sub(f.clock.Now()); got < 9*time.Minute || got > 10*time.Minute {
		t.Fatalf("expires in %v, want about 10m (max-age=600)", got)
	}
	stored, err := f.st.GetClient(t.Context(), id)
	if err != nil || stored.Origin != store.OriginMetadata || !stored.MetadataExpiresAt.Equal(c.MetadataExpiresAt) {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, func(c *clientmeta.Config) { c.Timeout = 500 * time.Millisecond })
	big := strings.Repeat(" ", clientmeta.DefaultMaxBytes)
	cases := []struct {
		name, path string
		handler    func(id string) http.HandlerFunc
		want       string
	}{
		{"client_id differs", "/differs.json", func(id string) http.HandlerFunc { return serveDoc(goodDoc(id + "x")) }, "is not its URL"},
		{"redirect", "/moved.json", func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/client.json", http.StatusFound) }
		}, "redirect (HTTP 302)"},
		{"not found", "/missing.json", nil, "HTTP 404"},
		{"too large", "/big.json", func(id string) http.HandlerFunc { return serveDoc(goodDoc(id) + big) }, "larger than 5120 bytes"},
		{"slow", "/slow.json", func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-time.After(3 * time.Second):
				case <-r.Context().Done():
				}
			}
		}, "took longer than 500ms"},
		{"not JSON", "/html.json", func(id string) http.HandlerFunc { return serveDoc("<html>hello</html>") }, "not a JSON object"},
		{"not JSON type", "/text.json", func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprint(w, goodDoc(id))
			}
		}, "must be application/json"},
		{"secret", "/secret.json", func(id string) http.HandlerFunc {
			return serveDoc(strings.Replace(goodDoc(id), `"client_name"`, `"client_secret":"s3cret","client_name"`, 1))
		}, `must not contain "client_secret"`},
		{"secret auth method", "/basic.json", func(id string) http.HandlerFunc {
			return serveDoc(strings.Replace(goodDoc(id), `"none"`, `"client_secret_basic"`, 1))
		}, "must be public"},
		{"bad redirect URI", "/badredirect.json", func(id string) http.HandlerFunc {
			return serveDoc(strings.Replace(goodDoc(id), `"https://agent.example/cb"`, `"http://agent.example/cb"`, 1))
		}, "must use https"},
		{"web with loopback", "/web.json", func(id string) http.HandlerFunc {
			return serveDoc(strings.Replace(goodDoc(id), `"client_name"`, `"application_type":"web","client_name"`, 1))
		}, "only a native application"},
		{"no redirect URIs", "/noredirect.json", func(id string) http.HandlerFunc {
			return serveDoc(fmt.Sprintf(`{"client_id":%q}`, id))
		}, "no redirect_uris"},
		{"device grant", "/grant.json", func(id string) http.HandlerFunc {
			return serveDoc(strings.Replace(goodDoc(id), `"refresh_token"]`, `"urn:ietf:params:oauth:grant-type:device_code"]`, 1))
		}, "is not allowed"},
		{"http client_uri", "/clienturi.json", func(id string) http.HandlerFunc {
			return serveDoc(strings.Replace(goodDoc(id), `"https://agent.example/"`, `"http://agent.example/"`, 1))
		}, "client_uri"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := f.docs.URL + tc.path
			if tc.handler != nil {
				f.docs.handle(tc.path, tc.handler(id))
			}
			_, err := f.src.Client(t.Context(), id)
			refusal(t, err, tc.want)
			if _, err := f.st.GetClient(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a refused document was stored: %v", err)
			}
		})
	}
}

func TestClientIDRules(t *testing.T) {
	f := newFixture(t)
	base := f.docs.URL
	for id, want := range map[string]string{
		base + "/client.json#frag":          "fragment",
		base:                                "must contain a path",
		base + "?x=1":                       "must contain a path",
		base + "/a/../client.json":          `"." or ".."`,
		base + "/a/./client.json":           `"." or ".."`,
		base + "/a/%2E%2e/client.json":      `"." or ".."`,
		"https://user:pw@" + base[8:] + "/": "user name or password",
		base + "/a b":                       "space",
		"https:///client.json":              "no host",
	} {
		_, err := f.src.Client(t.Context(), id)
		refusal(t, err, want)
	}
	if f.docs.hits.Load() != 0 {
		t.Fatalf("%d requests for invalid client_id URLs", f.docs.hits.Load())
	}
	// A plain http URL goes to the store, which does not know it; the
	// reason says why.
	_, err := f.src.Client(t.Context(), "http://"+base[8:]+"/client.json")
	refusal(t, err, "must be served over https")
	// Anything else is the store's.
	if _, err := f.src.Client(t.Context(), "some-client"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if err := clientmeta.CheckClientID(base + "/client.json?v=1"); err != nil {
		t.Fatalf("a query is allowed (SHOULD NOT, not MUST NOT): %v", err)
	}
}

func TestPrivateAddressRefusedWithoutAllowance(t *testing.T) {
	f := newFixture(t, func(c *clientmeta.Config) { c.Allow = nil })
	id := f.docs.URL + "/client.json"
	f.docs.handle("/client.json", serveDoc(goodDoc(id)))
	_, err := f.src.Client(t.Context(), id)
	refusal(t, err, "resolves to a loopback address")
	refusal(t, err, "--client-metadata-allowed-internal-hosts")
	if f.docs.hits.Load() != 0 {
		t.Fatal("the refused address was reached")
	}
}

func TestHostListAndSwitch(t *testing.T) {
	f := newFixture(t, func(c *clientmeta.Config) { c.Hosts = []string{"agents.example.com"} })
	id := f.docs.URL + "/client.json"
	f.docs.handle("/client.json", serveDoc(goodDoc(id)))
	_, err := f.src.Client(t.Context(), id)
	refusal(t, err, "127.0.0.1 is not one of them")

	off := clientmeta.New(clientmeta.Config{Store: f.st, Off: true})
	_, err = off.Client(t.Context(), id)
	refusal(t, err, "switched them off")
	if f.docs.hits.Load() != 0 {
		t.Fatal("a document was fetched although not allowed")
	}
	// A client an administrator registered under its URL is the store's.
	pre := store.Client{ID: id, Name: "Pre-registered", Public: true, RedirectURIs: []string{"https://x.example/cb"},
		GrantTypes: []string{"authorization_code"}, CreatedAt: time.Now()}
	if _, err := f.st.CreateClient(t.Context(), pre); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*clientmeta.Source{f.src, off} {
		if c, err := s.Client(t.Context(), id); err != nil || c.Name != "Pre-registered" {
			t.Fatalf("pre-registered: %+v, %v", c, err)
		}
	}
}

func TestCaching(t *testing.T) {
	f := newFixture(t)
	id := f.docs.URL + "/client.json"
	var name atomic.Value
	name.Store("First")
	f.docs.handle("/client.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=600")
		fmt.Fprint(w, strings.Replace(goodDoc(id), "Test Agent", name.Load().(string), 1))
	})
	c, err := f.src.Client(t.Context(), id)
	if err != nil || c.Name != "First" {
		t.Fatalf("%+v %v", c, err)
	}
	name.Store("Second")
	f.clock.Advance(9 * time.Minute)
	if c, err = f.src.Client(t.Context(), id); err != nil || c.Name != "First" || f.docs.hits.Load() != 1 {
		t.Fatalf("within max-age: %+v %v, %d requests", c, err, f.docs.hits.Load())
	}
	// A second provider on the same database (another node) uses the copy.
	other := clientmeta.New(f.cfg)
	if c, err = other.Client(t.Context(), id); err != nil || c.Name != "First" || f.docs.hits.Load() != 1 {
		t.Fatalf("other node: %+v %v, %d requests", c, err, f.docs.hits.Load())
	}
	f.clock.Advance(2 * time.Minute)
	if c, err = f.src.Client(t.Context(), id); err != nil || c.Name != "Second" || f.docs.hits.Load() != 2 {
		t.Fatalf("after expiry: %+v %v, %d requests", c, err, f.docs.hits.Load())
	}
	// The other node sees the refreshed copy without fetching.
	if c, err = other.Client(t.Context(), id); err != nil || c.Name != "Second" || f.docs.hits.Load() != 2 {
		t.Fatalf("other node after refresh: %+v %v, %d requests", c, err, f.docs.hits.Load())
	}
	// Expired, and the document is now broken: refused, not kept stale.
	f.docs.handle("/client.json", serveDoc(goodDoc(id+"-moved")))
	f.clock.Advance(11 * time.Minute)
	_, err = f.src.Client(t.Context(), id)
	refusal(t, err, "is not its URL")
	// A suspended client is returned as stored, without a fetch.
	if _, err := f.st.UpdateClient(t.Context(), id, func(c store.Client) (store.Client, error) {
		c.Suspended = true
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	hits := f.docs.hits.Load()
	if c, err = f.src.Client(t.Context(), id); err != nil || !c.Suspended || f.docs.hits.Load() != hits {
		t.Fatalf("suspended: %+v %v", c, err)
	}
}

func TestConcurrentUsesShareOneFetch(t *testing.T) {
	f := newFixture(t)
	id := f.docs.URL + "/client.json"
	release := make(chan struct{})
	f.docs.handle("/client.json", func(w http.ResponseWriter, r *http.Request) {
		<-release
		serveDoc(goodDoc(id))(w, r)
	})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := f.src.Client(t.Context(), id)
			errs <- err
		})
	}
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.docs.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestLifetime(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		header http.Header
		want   time.Duration
	}{
		{h(), clientmeta.DefaultCache},
		{h("Cache-Control", "max-age=600"), 10 * time.Minute},
		{h("Cache-Control", "max-age=10"), clientmeta.MinCache},
		{h("Cache-Control", "max-age=999999999999"), clientmeta.MaxCache},
		{h("Cache-Control", "no-store"), clientmeta.MinCache},
		{h("Cache-Control", "max-age=7200, no-cache"), clientmeta.MinCache},
		{h("Cache-Control", "max-age=abc"), clientmeta.MinCache},
		{h("Cache-Control", "public"), clientmeta.DefaultCache},
		{h("Expires", now.Add(2*time.Hour).Format(http.TimeFormat)), 2 * time.Hour},
		{h("Expires", "0"), clientmeta.MinCache},
		{h("Expires", now.Add(3*time.Hour).Format(http.TimeFormat), "Date", now.Add(time.Hour).Format(http.TimeFormat)), 2 * time.Hour},
		{h("Cache-Control", "max-age=1800", "Expires", now.Add(5*time.Hour).Format(http.TimeFormat)), 30 * time.Minute},
	} {
		if got := clientmeta.Lifetime(tc.header, now); got != tc.want {
			t.Errorf("Lifetime(%v) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestScopes(t *testing.T) {
	const id = "https://agent.example/client.json"
	doc := func(extra string) []byte {
		return []byte(`{"client_id":"` + id + `","redirect_uris":["https://agent.example/cb"]` + extra + `}`)
	}
	c, err := clientmeta.Parse(id, doc(""))
	if err != nil {
		t.Fatal(err)
	}
	for _, asked := range []string{"REPO_READ", "read:repository", "public-only read:repository", "openid profile email offline_access", "all", "SYSTEM_ADMIN"} {
		if !scope.Set(c.Scopes).Covers(scope.MustParse(asked)) {
			t.Errorf("without a scope member the client may not ask for %q", asked)
		}
	}
	if c.Name != "agent.example" || c.ApplicationType != store.ApplicationWeb || len(c.GrantTypes) != 1 {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = clientmeta.Parse(id, doc(`,"scope":"read:repository openid mcp:tools"`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Scopes, []string{"openid", "read:repository"}) || !slices.Equal(c.DefaultScopes, c.Scopes) {
		t.Fatalf("scopes %v default %v", c.Scopes, c.DefaultScopes)
	}
	if scope.Set(c.Scopes).Covers(scope.MustParse("write:repository")) {
		t.Fatal("the document's scope does not limit the client")
	}
	if _, err := clientmeta.Parse(id, doc(`,"scope":"mcp:tools"`)); err == nil || !strings.Contains(err.Error(), "none of this server's scopes") {
		t.Fatalf("unknown scopes only: %v", err)
	}
}
