package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/server"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// metadataAgent is an agent whose client_id is the URL of its client ID
// metadata document, served over real TLS by the test.
type metadataAgent struct {
	docs  *httptest.Server
	id    string
	body  atomic.Value // string
	hits  atomic.Int64
	env   *testkit.Env
	oauth *oauth2.Config
}

func newMetadataAgent(t *testing.T, opts ...testkit.Option) *metadataAgent {
	a := &metadataAgent{}
	a.docs = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/agent.json" {
			http.NotFound(w, r)
			return
		}
		a.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprint(w, a.body.Load().(string))
	}))
	t.Cleanup(a.docs.Close)
	a.id = a.docs.URL + "/agent.json"
	a.body.Store(fmt.Sprintf(`{"client_id":%q,"client_name":"Doc Agent","redirect_uris":[%q],
		"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`, a.id, redirectURI))
	roots := a.docs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	opts = append([]testkit.Option{func(c *config.Config) { c.ClientMetadata.AllowedInternalHosts = "127.0.0.1" }}, opts...)
	a.env = testkit.NewWithServerOptions(t, server.Options{OutboundRootCAs: roots}, opts...)
	a.env.User("alice", "alice-password")
	a.env.Project("PRIV", false)
	a.env.Repo("PRIV", "secret-repo", false)
	a.env.Grant("alice", admin.Target{Project: "PRIV"}, "PROJECT_READ")
	d := dialects[1]
	a.oauth = &oauth2.Config{ClientID: a.id, RedirectURL: redirectURI, Scopes: []string{"REPO_READ"},
		Endpoint: oauth2.Endpoint{AuthURL: a.env.URL + d.authorize, TokenURL: a.env.URL + d.token, AuthStyle: oauth2.AuthStyleInParams}}
	return a
}

func TestClientMetadataDocumentAuthorizeConsentTokenRefresh(t *testing.T) {
	a := newMetadataAgent(t)
	b := a.env.Browser("alice", "alice-password")
	verifier := oauth2.GenerateVerifier()
	cb, err := b.Authorize(a.oauth.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	if q := cb.Query(); q.Get("error") != "" || q.Get("state") != "st-1" || q.Get("code") == "" {
		t.Fatalf("callback %s", cb)
	}
	var consent string
	for _, p := range b.Pages {
		if strings.Contains(p, `name="decision"`) {
			consent = p
		}
	}
	docHost := strings.TrimPrefix(a.docs.URL, "https://")
	for _, want := range []string{"Doc Agent", "Not verified by the administrator", docHost, "http://127.0.0.1:9999"} {
		if !strings.Contains(consent, want) {
			t.Errorf("the consent page does not show %q:\n%s", want, consent)
		}
	}
	tok, err := a.oauth.Exchange(t.Context(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if status, _, body := apiGet(t, a.env.URL, "/rest/api/latest/projects/PRIV/repos", tok.AccessToken); status != http.StatusOK ||
		!strings.Contains(fmt.Sprint(body), "secret-repo") {
		t.Fatalf("API with the token: %d %v", status, body)
	}
	c, err := a.env.Store.GetClient(t.Context(), a.id)
	if err != nil || c.Origin != store.OriginMetadata || !c.PKCERequired {
		t.Fatalf("stored client %+v, %v", c, err)
	}
	// The user's and the administrators' lists mark it too.
	if status, page, err := b.Get("/user/settings/applications"); err != nil || status != http.StatusOK ||
		!strings.Contains(page, "Doc Agent <span class=\"badge warn\"") || !strings.Contains(page, "not verified by the administrator") {
		t.Fatalf("authorized applications page: %d %v\n%s", status, err, page)
	}
	a.env.User("root", "root-password")
	a.env.Grant("root", admin.Target{Global: true}, "SYS_ADMIN")
	root := a.env.Browser("root", "root-password")
	if err := root.SignIn(); err != nil {
		t.Fatal(err)
	}
	if status, page, err := root.Get("/admin/applications"); err != nil || status != http.StatusOK ||
		!strings.Contains(page, "not verified by the administrator") || !strings.Contains(page, "its metadata document") ||
		!strings.Contains(page, a.id) {
		t.Fatalf("admin applications page: %d %v\n%s", status, err, page)
	}
	// A refresh within the document's max-age fetches nothing.
	fresh, err := a.oauth.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || fresh.AccessToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %+v, %v", fresh, err)
	}
	if n := a.hits.Load(); n != 1 {
		t.Fatalf("%d fetches of the document, want 1 (cached for its max-age)", n)
	}
	// After the max-age the document is fetched again; if it no longer
	// names this client, the client cannot refresh.
	a.env.Clock.Advance(61 * time.Minute)
	a.body.Store(strings.Replace(a.body.Load().(string), `"client_id":"`, `"client_id":"https://elsewhere.example/x`, 1))
	_, err = a.oauth.TokenSource(t.Context(), &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || !strings.Contains(re.ErrorDescription, "is not its URL") {
		t.Fatalf("refresh with an invalid document: %v", err)
	}
	if n := a.hits.Load(); n != 2 {
		t.Fatalf("%d fetches of the document, want 2", n)
	}
}

func TestClientMetadataDocumentNeedsPKCEAndCanBeSwitchedOff(t *testing.T) {
	a := newMetadataAgent(t)
	b := a.env.Browser("alice", "alice-password")
	cb, err := b.Authorize(a.oauth.AuthCodeURL("st-2"))
	if err != nil {
		t.Fatal(err)
	}
	if q := cb.Query(); q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "code_challenge") {
		t.Fatalf("without PKCE: %s", cb)
	}

	off := newMetadataAgent(t, func(c *config.Config) { c.ClientMetadata.Documents = "off" })
	_, err = off.env.Browser("alice", "alice-password").Authorize(off.oauth.AuthCodeURL("st-3", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if !errors.Is(err, testkit.ErrStuck) || !strings.Contains(err.Error(), "switched them off") {
		t.Fatalf("switched off: %v", err)
	}
	if off.hits.Load() != 0 {
		t.Fatal("a document was fetched while switched off")
	}
	resp, err := http.Get(off.env.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "client_id_metadata_document_supported") {
		t.Fatal("discovery claims client ID metadata documents while they are off")
	}
}

func TestSelfRegisteredClientIsMarkedOnConsentAndAdminPages(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	env.User("root", "root-password")
	env.Grant("root", admin.Target{Global: true}, "SYS_ADMIN")
	c, err := env.Store.CreateClient(t.Context(), store.Client{ID: "dyn-123", Name: "Self Made", Public: true, PKCERequired: true,
		RedirectURIs: []string{redirectURI}, Scopes: []string{"PUBLIC_REPOS", "REPO_READ"}, DefaultScopes: []string{"PUBLIC_REPOS"},
		GrantTypes: []string{"authorization_code"}, Origin: store.OriginRegistered, ApplicationType: store.ApplicationNative,
		CreatedAt: env.Clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: c.ID, RedirectURL: redirectURI, Scopes: []string{"REPO_READ"},
		Endpoint: oauth2.Endpoint{AuthURL: env.URL + dialects[1].authorize, TokenURL: env.URL + dialects[1].token, AuthStyle: oauth2.AuthStyleInParams}}
	b := env.Browser("alice", "alice-password")
	if _, err := b.Authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range b.Pages {
		found = found || strings.Contains(p, "Self-registered, not verified by the administrator") && strings.Contains(p, "http://127.0.0.1:9999")
	}
	if !found {
		t.Fatalf("no consent page marks the self-registered client: %q", b.Pages)
	}
	root := env.Browser("root", "root-password")
	if err := root.SignIn(); err != nil {
		t.Fatal(err)
	}
	if _, page, err := root.Get("/admin/applications"); err != nil || !strings.Contains(page, "self-registered, not verified by the administrator") {
		t.Fatalf("admin page: %v\n%s", err, page)
	}
	// A client an administrator registered is not marked.
	id, _ := env.Client(admin.NewClient{Name: "Vetted", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ", Public: true})
	conf.ClientID = id
	b = env.Browser("alice", "alice-password")
	if _, err := b.Authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); err != nil {
		t.Fatal(err)
	}
	for _, p := range b.Pages {
		if strings.Contains(p, "verified by the administrator") {
			t.Fatalf("an administrator's client is marked as not verified:\n%s", p)
		}
	}
}
