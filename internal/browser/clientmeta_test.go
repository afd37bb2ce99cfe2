package browser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/server"
	"latchkey/internal/testkit"
)

// TestConsentForAClientKnownByItsMetadataDocument: an agent whose
// client_id is the URL of its client ID metadata document (served by the
// test over TLS) is shown in Chromium as not verified by the
// administrator, with the document's host and the redirect host; the page
// passes the accessibility audit on a desktop and a phone, and the flow
// completes with PKCE.
func TestConsentForAClientKnownByItsMetadataDocument(t *testing.T) {
	cb := newCallback(t)
	var id string
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"client_id":%q,"client_name":"Docs Agent","redirect_uris":[%q],"grant_types":["authorization_code","refresh_token"]}`, id, cb.URI())
	}))
	t.Cleanup(docs.Close)
	id = docs.URL + "/agent.json"
	roots := docs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	env := testkit.NewWithServerOptions(t, server.Options{OutboundRootCAs: roots},
		func(c *config.Config) { c.ClientMetadata.AllowedInternalHosts = "127.0.0.1" })
	env.User("alice", "alice-password")
	env.Project("PROJ", false)
	env.Grant("alice", admin.Target{Project: "PROJ"}, "PROJECT_READ")
	conf := oauthConfig(env, id, "", cb.URI(), "REPO_READ")
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams

	b := newTab(t, env)
	b.open("/login")
	b.signIn("alice", "alice-password")
	verifier, state := oauth2.GenerateVerifier(), "st-meta"
	start := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	for _, width := range []int64{1100, 360} {
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, 800)); err != nil {
			t.Fatalf("set the viewport: %v", err)
		}
		b.open(start)
		b.wantText("consent page", "Authorize Docs Agent", "Not verified by the administrator",
			strings.TrimPrefix(docs.URL, "https://"), strings.TrimSuffix(cb.URI(), "/cb"))
		auditPage(t, b, width, "consent of a metadata document client")
	}
	b.click(`button[name="decision"][value="approve"]`)
	code := codeFrom(t, b.location(), state)
	tok, err := conf.Exchange(context.WithoutCancel(t.Context()), code, oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %+v, %v", tok, err)
	}
	b.open("/user/settings/applications")
	b.wantText("authorized applications", "Docs Agent", "not verified by the administrator")
}
