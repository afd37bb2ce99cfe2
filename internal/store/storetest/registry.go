package storetest

import (
	"testing"
	"time"

	"latchkey/internal/store"
)

// registryTests cover what issue 14 added: resource lists on codes,
// device codes, families and tokens; how a client came to be known;
// external resource servers; initial access tokens; and the clean-up of
// self-registered clients nobody uses.
var registryTests = []test{
	{"ResourcesRoundTrip", testResourcesRoundTrip},
	{"ClientOriginRoundTrip", testClientOriginRoundTrip},
	{"ResourceServers", testResourceServers},
	{"InitialAccessTokens", testInitialAccessTokens},
	{"DeleteUnusedClients", testDeleteUnusedClients},
}

func testResourcesRoundTrip(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	res := []string{"https://code.example.com", "https://mcp.example.com/mcp?x=1"}
	at := now()
	code := store.AuthCode{Hash: newHash(), ClientID: c.ID, UserID: u.ID, RedirectURI: "https://app.example.com/callback",
		Scopes: []string{"REPO_READ"}, CreatedAt: at, ExpiresAt: at.Add(time.Minute), Resources: res}
	must(t, "create code", s.CreateAuthCode(ctx(t), code))
	got, err := s.GetAuthCode(ctx(t), code.Hash)
	must(t, "get code", err)
	same(t, "code resources", got.Resources, res)

	d := store.DeviceCode{Hash: newHash(), UserCode: "ABCDWXYZ", ClientID: c.ID, Status: store.DevicePending,
		Interval: 5 * time.Second, CreatedAt: at, ExpiresAt: at.Add(time.Minute), Resources: res[:1]}
	must(t, "create device code", s.CreateDeviceCode(ctx(t), d))
	gd, err := s.GetDeviceCode(ctx(t), d.Hash)
	must(t, "get device code", err)
	same(t, "device resources", gd.Resources, res[:1])

	toks := newTokens([]string{"REPO_READ"})
	toks[0].Resources, toks[1].Resources = res[1:], res
	iss, err := s.CreateFamily(ctx(t), store.Issue{
		Family: store.TokenFamily{ClientID: c.ID, UserID: u.ID, Scopes: []string{"REPO_READ"}, CreatedAt: at, Resources: res},
		Tokens: toks,
	}, at)
	must(t, "create family", err)
	b, err := s.GetBearer(ctx(t), toks[0].Hash)
	must(t, "get bearer", err)
	same(t, "access token resources", b.Token.Resources, res[1:])
	same(t, "family resources", b.Family.Resources, res)
	rt, fam, err := s.GetToken(ctx(t), toks[1].Hash)
	must(t, "get refresh token", err)
	same(t, "refresh token resources", rt.Resources, res)
	same(t, "family ID", fam.ID, iss.Family.ID)

	plain := mkFamily(t, s, c, u, at)
	b, err = s.GetBearer(ctx(t), plain.Tokens[0].Hash)
	must(t, "get bearer", err)
	if len(b.Token.Resources) != 0 || len(b.Family.Resources) != 0 {
		t.Fatalf("a token issued without resources reads back with %v / %v", b.Token.Resources, b.Family.Resources)
	}
}

func testClientOriginRoundTrip(t *testing.T, s store.Store) {
	at := now()
	in := store.Client{ID: "https://agent.example.com/client.json", Name: "Agent", Public: true,
		RedirectURIs: []string{"http://127.0.0.1/callback"}, GrantTypes: []string{"authorization_code"},
		CreatedAt: at, Origin: store.OriginMetadata, ApplicationType: store.ApplicationNative,
		ClientURI: "https://agent.example.com/", MetadataExpiresAt: at.Add(time.Hour)}
	_, err := s.CreateClient(ctx(t), in)
	must(t, "create client", err)
	got, err := s.GetClient(ctx(t), in.ID)
	must(t, "get client", err)
	same(t, "client", got, in)
	upd, err := s.UpdateClient(ctx(t), in.ID, func(c store.Client) (store.Client, error) {
		c.Origin, c.RegistrationTokenHash, c.MetadataExpiresAt = store.OriginRegistered, newHash(), at.Add(2*time.Hour)
		return c, nil
	})
	must(t, "update client", err)
	got, err = s.GetClient(ctx(t), in.ID)
	must(t, "get client", err)
	same(t, "updated client", got, upd)
}

func testResourceServers(t *testing.T, s store.Store) {
	at := now()
	a := store.ResourceServer{URI: "https://mcp.example.com/mcp", Name: "MCP", Scopes: []string{"mcp:tools", "REPO_READ"},
		IntrospectionClientID: "rs-mcp", CreatedAt: at}
	b := store.ResourceServer{URI: "https://api.example.com", Name: "API", CreatedAt: at}
	for _, rs := range []store.ResourceServer{a, b} {
		got, err := s.CreateResourceServer(ctx(t), rs)
		must(t, "create resource server", err)
		same(t, "created resource server", got, rs)
	}
	_, err := s.CreateResourceServer(ctx(t), a)
	wantErr(t, "create a taken URI", err, store.ErrAlreadyExists)
	got, err := s.GetResourceServer(ctx(t), a.URI)
	must(t, "get resource server", err)
	same(t, "resource server", got, a)
	_, err = s.GetResourceServer(ctx(t), "https://MCP.example.com/mcp")
	wantErr(t, "get by another spelling", err, store.ErrNotFound)
	list, err := s.ListResourceServers(ctx(t))
	must(t, "list resource servers", err)
	same(t, "resource servers", list, []store.ResourceServer{b, a})
	must(t, "delete resource server", s.DeleteResourceServer(ctx(t), a.URI))
	wantErr(t, "delete again", s.DeleteResourceServer(ctx(t), a.URI), store.ErrNotFound)
	_, err = s.GetResourceServer(ctx(t), a.URI)
	wantErr(t, "get deleted", err, store.ErrNotFound)
}

func testInitialAccessTokens(t *testing.T, s store.Store) {
	at := now()
	old := store.InitialAccessToken{Hash: newHash(), Label: "ci", CreatedAt: at.Add(-time.Hour)}
	young := store.InitialAccessToken{Hash: newHash(), Label: "agents", CreatedAt: at, ExpiresAt: at.Add(24 * time.Hour)}
	for _, tok := range []store.InitialAccessToken{old, young} {
		must(t, "create initial access token", s.CreateInitialAccessToken(ctx(t), tok))
	}
	got, err := s.GetInitialAccessToken(ctx(t), young.Hash)
	must(t, "get initial access token", err)
	same(t, "initial access token", got, young)
	list, err := s.ListInitialAccessTokens(ctx(t))
	must(t, "list initial access tokens", err)
	same(t, "initial access tokens", list, []store.InitialAccessToken{young, old})
	must(t, "delete", s.DeleteInitialAccessToken(ctx(t), old.Hash))
	wantErr(t, "delete again", s.DeleteInitialAccessToken(ctx(t), old.Hash), store.ErrNotFound)
	_, err = s.GetInitialAccessToken(ctx(t), old.Hash)
	wantErr(t, "get deleted", err, store.ErrNotFound)
}

func testDeleteUnusedClients(t *testing.T, s store.Store) {
	u := mkUser(t, s, "alice")
	cutoff := now().Add(-24 * time.Hour)
	reg := func(id string, created time.Time, origin store.ClientOrigin) store.Client {
		c, err := s.CreateClient(ctx(t), store.Client{ID: id, Name: id, Public: true, Origin: origin, CreatedAt: created,
			RedirectURIs: []string{"http://127.0.0.1/cb"}})
		must(t, "create client", err)
		return c
	}
	idle := reg("idle", cutoff.Add(-time.Hour), store.OriginRegistered)
	young := reg("young", cutoff.Add(time.Hour), store.OriginRegistered)
	usedRecently := reg("used", cutoff.Add(-time.Hour), store.OriginRegistered)
	usedLongAgo := reg("used-long-ago", cutoff.Add(-2*time.Hour), store.OriginRegistered)
	admin := reg("admin", cutoff.Add(-time.Hour), store.OriginAdmin)
	mkFamily(t, s, usedLongAgo, u, cutoff.Add(-time.Hour))
	fam := mkFamily(t, s, usedRecently, u, cutoff.Add(-time.Hour))
	must(t, "touch family", s.TouchFamily(ctx(t), fam.Family.ID, cutoff.Add(time.Minute)))

	n, err := s.DeleteUnusedClients(ctx(t), store.OriginRegistered, cutoff, 1)
	must(t, "delete unused clients", err)
	if n != 1 {
		t.Fatalf("deleted %d clients with batch 1", n)
	}
	n, err = s.DeleteUnusedClients(ctx(t), store.OriginRegistered, cutoff, 10)
	must(t, "delete unused clients", err)
	if n != 1 {
		t.Fatalf("deleted %d more clients, want 1", n)
	}
	for _, c := range []store.Client{idle, usedLongAgo} {
		_, err := s.GetClient(ctx(t), c.ID)
		wantErr(t, "get deleted client "+c.ID, err, store.ErrNotFound)
	}
	for _, c := range []store.Client{young, usedRecently, admin} {
		_, err := s.GetClient(ctx(t), c.ID)
		must(t, "get kept client "+c.ID, err)
	}
}
