package clientmeta_test

import (
	"encoding/json"
	"strings"
	"testing"

	"latchkey/internal/clientmeta"
	"latchkey/internal/oauth"
	"latchkey/internal/store"
)

// FuzzParse feeds arbitrary documents and client_id URLs to the parser
// and validator: it must never panic, and what it accepts must keep its
// promises.
func FuzzParse(f *testing.F) {
	const id = "https://agent.example/client.json"
	f.Add(id, `{"client_id":"https://agent.example/client.json","redirect_uris":["http://127.0.0.1/cb"]}`)
	f.Add(id, `{"client_id":"https://agent.example/client.json","redirect_uris":["com.example.app:/cb"],"scope":"openid read:repository nope","grant_types":["refresh_token","authorization_code"]}`)
	f.Add(id, `{"client_id":"https://agent.example/client.json","client_secret":"x","redirect_uris":["https://a/cb"]}`)
	f.Add("https://a.example/../x", `{"client_id":1}`)
	f.Add("https://a.example/x#f", `[]`)
	f.Add(id, `{"client_id":"https://agent.example/client.json","redirect_uris":["https://a.example/cb"],"client_name":"\u202eevil","application_type":"web"}`)
	f.Fuzz(func(t *testing.T, id, body string) {
		idErr := clientmeta.CheckClientID(id)
		if idErr == nil && (!strings.HasPrefix(id, "https://") || strings.Contains(id, "#") || len(id) > clientmeta.MaxClientIDLength) {
			t.Fatalf("CheckClientID accepted %q", id)
		}
		c, err := clientmeta.Parse(id, []byte(body))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty reason")
			}
			return
		}
		if c.ID != id || !c.Public || !c.PKCERequired || c.SecretHash != "" || c.Origin != store.OriginMetadata {
			t.Fatalf("accepted client breaks the rules: %+v", c)
		}
		if len(c.RedirectURIs) == 0 || len(c.Scopes) == 0 || c.Name == "" {
			t.Fatalf("accepted client lacks redirect URIs, scopes or a name: %+v", c)
		}
		for _, r := range c.RedirectURIs {
			if err := oauth.CheckRedirectURI(r, false); err != nil {
				t.Fatalf("accepted redirect URI %q: %v", r, err)
			}
			if !strings.HasPrefix(r, "https://") && c.ApplicationType != store.ApplicationNative {
				t.Fatalf("non-https redirect %q for a %q client", r, c.ApplicationType)
			}
		}
		for _, g := range c.GrantTypes {
			if g != oauth.GrantAuthorizationCode && g != oauth.GrantRefreshToken {
				t.Fatalf("grant %q accepted", g)
			}
		}
		var members map[string]any
		if json.Unmarshal([]byte(body), &members) == nil {
			if _, ok := members["client_secret"]; ok {
				t.Fatalf("a document with client_secret was accepted: %s", body)
			}
		}
	})
}
