package rp

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"latchkey/internal/config"
	"latchkey/internal/server"
	"latchkey/internal/testkit"
)

// clientDocs serves client ID metadata documents
// (draft-ietf-oauth-client-id-metadata-document) over HTTPS on a loopback
// port, as an MCP client's vendor would publish them.
type clientDocs struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	docs    map[string][]byte
	fetched atomic.Int64
}

func newClientDocs(t *testing.T) *clientDocs {
	t.Helper()
	d := &clientDocs{t: t, docs: map[string][]byte{}}
	d.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		doc, ok := d.docs[r.URL.Path]
		d.mu.Unlock()
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		d.fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// publish serves a document for a public native client with the one
// redirect URI at /clients/name.json and returns its URL, the client_id.
func (d *clientDocs) publish(name, redirectURI string) string {
	id := d.srv.URL + "/clients/" + name + ".json"
	doc, err := json.Marshal(map[string]any{
		"client_id":                  id,
		"client_name":                "MCP SDK e2e (" + name + ")",
		"client_uri":                 d.srv.URL + "/",
		"redirect_uris":              []string{redirectURI},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
		"application_type":           "native",
	})
	if err != nil {
		d.t.Fatal(err)
	}
	d.mu.Lock()
	d.docs["/clients/"+name+".json"] = doc
	d.mu.Unlock()
	return id
}

// fetches says how many times a document was fetched.
func (d *clientDocs) fetches() int64 { return d.fetched.Load() }

// options configure the node to fetch these documents: verify the test
// server's certificate against its own CA (server.Options.OutboundRootCAs)
// and allow its loopback address (--client-metadata-allowed-internal-hosts).
func (d *clientDocs) options() (server.Options, []testkit.Option) {
	roots := x509.NewCertPool()
	roots.AddCert(d.srv.Certificate())
	return server.Options{OutboundRootCAs: roots}, []testkit.Option{func(c *config.Config) {
		c.ClientMetadata.AllowedInternalHosts = "127.0.0.1"
	}}
}

// dynamicRegistrationOptions switch RFC 7591 registration on with the open
// policy (--registration open).
func dynamicRegistrationOptions() []testkit.Option {
	return []testkit.Option{func(c *config.Config) { c.Registration = "open" }}
}
