package e2e

// The hostile suite: several hundred distinct bad inputs, one table of
// data, sent to every kind of endpoint a node serves (the authorization,
// token, revocation, introspection and device endpoints, userinfo, JWKS
// and discovery, the REST API in both dialects, git, the pages) on SQLite
// and on PostgreSQL. Each case names the exact answer: the status and the
// error code of the endpoint's protocol (RFC 6749 JSON, an RFC 6750
// challenge, the dialect's REST error body, an HTML page, plain text for
// git). Around every case the suite reads the state of every table and
// fails when the case changed any of it.
//
// These tables are left out of the comparison on purpose (hLeftOut):
// audit_events, because some refusals are audited by design (a failed client
// authentication, a reused code or refresh token), rate_limits, the
// limiter's own bookkeeping (rate limits are off in these nodes anyway),
// and throttle_counters, the sign-in throttle's (a wrong password or user
// code is counted by design); schema_migrations is not data, nor is
// cache_invalidations (SQLite's log of changes for the read cache, which
// records touches of last_used_at too). A case
// checks that every other table of the schema is compared.
// Columns that record use rather than state are left out too:
// token_families.last_used_at and device_codes.last_polled_at (polling a
// pending device code records the poll, RFC 8628 §3.5 slow_down), and
// the progress of a webhook delivery (its state, attempts, lease and
// last answer, which the delivery worker writes in the background):
// which deliveries exist, and what they carry, is compared; the same
// for back-channel logout deliveries.

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
)

// hAnswer is the form a refusal must take.
type hAnswer int

const (
	hOAuth    hAnswer = iota + 1 // RFC 6749 §5.2 JSON: want is the error code
	hBearer                      // RFC 6750 challenge: want is its error ("" for none)
	hREST                        // the dialect's REST error body: want is a body substring
	hPage                        // an HTML page: want is a body substring
	hGit                         // plain text for git: want is a body substring
	hRedirect                    // a 302 to the registered URI: want is the error code
	hJSON                        // a JSON answer that is not an error (RFC 7009, 7662): want is a body substring
	hText                        // plain text (405, 404 of the mux): want is a body substring
	hAnyOK                       // 200 with an empty or JSON body (RFC 7009 §2.2)
)

// hCase is one hostile input. path carries the query; placeholders
// ({conf}, {tok.alice}, ...) are expanded from the fixture. header lists
// "Name: value" lines; a body without a Content-Type header is sent as a
// form. as names the browser session the request carries ("" for none).
type hCase struct {
	name   string
	method string
	path   string
	header []string
	body   string
	as     string
	status int
	answer hAnswer
	want   string
	skip   string // a finding: the expected answer is the correct one, not today's
	// fresh gives the case its own unused code of conf as {code}: the case
	// presents it as its own client would, and a failed redemption by the
	// code's own client burns the code by design (store.RedeemAuthCode), so
	// auth_codes may change (used_at of that code, nothing else).
	fresh bool
}

// key is what makes a case a distinct input.
func (c hCase) key() string {
	return strings.Join([]string{c.method, c.path, strings.Join(c.header, "\n"), c.body, c.as}, "\x00")
}

const (
	hAppURI      = "https://app.example.com/cb"
	hLoopbackURI = "http://127.0.0.1:9999/callback"
	hAllScopes   = "PUBLIC_REPOS REPO_READ REPO_WRITE REPO_ADMIN PROJECT_ADMIN ADMIN_WRITE ACCOUNT_WRITE openid profile email"
)

// hFixture is one node on one backend with the state the cases attack:
// users alice (REPO_ADMIN on PRJ/code), root (ADMIN) and bob (nothing),
// the private project PRJ with repository code, the public project OPEN
// with repository docs, clients, tokens, an unused code and a pending
// device code, and browser sessions of alice and root.
type hFixture struct {
	env      *testkit.Env
	vars     map[string]string
	plain    *http.Client
	sessions map[string]*http.Client
	alice    store.User
	db       *sql.DB // a connection of the test's own, for snapshots
}

// hOpenDB opens the node's database with the driver its backend
// registered: the snapshots read it over a connection of their own, as
// an operator's psql or sqlite3 would.
func hOpenDB(dsn string) (*sql.DB, error) {
	if backend.IsPostgres(dsn) {
		return sql.Open("pgx", dsn)
	}
	return sql.Open("sqlite", dsn)
}

func newHFixture(t *testing.T, opts ...testkit.Option) *hFixture {
	t.Helper()
	env := testkit.New(t, opts...)
	db, err := hOpenDB(env.Config.DSN())
	if err != nil {
		t.Fatalf("open the database for snapshots: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	f := &hFixture{env: env, vars: map[string]string{"{base}": env.URL}, plain: env.HTTPClient(),
		sessions: map[string]*http.Client{}, db: db}
	users := map[string]store.User{}
	for _, name := range []string{"alice", "root", "bob"} {
		users[name] = env.User(name, name+"-password")
		f.vars["{id."+name+"}"] = fmt.Sprint(users[name].ID)
	}
	env.Grant("root", admin.Target{Global: true}, "ADMIN")
	env.Project("PRJ", false)
	env.Repo("PRJ", "code", false)
	env.Project("OPEN", true)
	env.Repo("OPEN", "docs", true)
	env.Grant("alice", admin.Target{Repo: "PRJ/code"}, "REPO_ADMIN")
	f.alice = users["alice"]
	f.clients(t)
	f.tokens(t, users)
	for _, name := range []string{"alice", "root"} {
		b := env.Browser(name, name+"-password")
		if err := b.SignIn(); err != nil {
			t.Fatalf("sign in %s: %v", name, err)
		}
		b.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		f.sessions[name] = b.Client
	}
	f.deviceCode(t)
	return f
}

// clients registers the clients the cases name.
func (f *hFixture) clients(t *testing.T) {
	t.Helper()
	add := func(key string, nc admin.NewClient) string {
		nc.Name = "Hostile " + key
		id, secret := f.env.Client(nc)
		f.vars["{"+key+"}"], f.vars["{"+key+".secret}"] = id, secret
		return id
	}
	add("conf", admin.NewClient{RedirectURIs: []string{hAppURI}, Scopes: hAllScopes})
	add("other", admin.NewClient{RedirectURIs: []string{"https://other.example.com/cb"}, Scopes: hAllScopes})
	add("pub", admin.NewClient{RedirectURIs: []string{hLoopbackURI}, Scopes: "PUBLIC_REPOS REPO_READ", Public: true})
	add("dev", admin.NewClient{RedirectURIs: []string{"http://127.0.0.1/cb"}, Scopes: "REPO_READ openid", Public: true, GrantTypes: deviceGrants})
	add("svc", admin.NewClient{RedirectURIs: []string{hAppURI}, Scopes: "REPO_READ", DefaultScopes: "REPO_READ", GrantTypes: "client_credentials"})
	add("codeonly", admin.NewClient{RedirectURIs: []string{hAppURI}, Scopes: hAllScopes, GrantTypes: "authorization_code"})
	susp := add("susp", admin.NewClient{RedirectURIs: []string{hAppURI}, Scopes: hAllScopes})
	if _, err := f.env.Store.UpdateClient(context.Background(), susp, func(c store.Client) (store.Client, error) {
		c.Suspended = true
		return c, nil
	}); err != nil {
		t.Fatalf("suspend client: %v", err)
	}
	f.vars["{challenge}"] = oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
}

// tokens mints the tokens and the unused code the cases present.
func (f *hFixture) tokens(t *testing.T, users map[string]store.User) {
	t.Helper()
	for name, grant := range map[string]struct{ user, scopes string }{
		"alice": {"alice", "REPO_READ openid profile email"}, "alice.write": {"alice", "REPO_ADMIN ACCOUNT_WRITE PROJECT_ADMIN"},
		"root": {"root", "ADMIN_WRITE"}, "bob": {"bob", "REPO_WRITE PROJECT_ADMIN ACCOUNT_WRITE"}, "public": {"alice", "PUBLIC_REPOS"},
	} {
		f.vars["{tok."+name+"}"], _ = f.exchange(t, f.issue(t, users[grant.user], grant.scopes))
	}
	_, f.vars["{refresh}"] = f.exchange(t, f.issue(t, users["alice"], "REPO_READ"))
	f.vars["{code}"] = f.issue(t, users["alice"], "REPO_READ")
}

// issue validates an authorization request of conf and issues its code
// for the user, as the consent page does.
func (f *hFixture) issue(t *testing.T, user store.User, scopes string) string {
	t.Helper()
	ctx := context.Background()
	p := f.env.Server.Provider
	req, err := p.ValidateAuthorize(ctx, map[string]string{"response_type": "code", "client_id": f.vars["{conf}"],
		"redirect_uri": hAppURI, "scope": scopes, "state": "s"})
	if err != nil {
		t.Fatalf("authorize %q: %v", scopes, err)
	}
	target, err := p.IssueCode(ctx, req, user.ID, f.env.Clock.Now(), store.SignIn{})
	if err != nil {
		t.Fatalf("issue code: %v", err)
	}
	u, _ := url.Parse(target)
	return u.Query().Get("code")
}

// exchange redeems a code of conf and returns the access and refresh token.
func (f *hFixture) exchange(t *testing.T, code string) (string, string) {
	t.Helper()
	conf := &oauth2.Config{ClientID: f.vars["{conf}"], ClientSecret: f.vars["{conf.secret}"], RedirectURL: hAppURI,
		Endpoint: oauth2.Endpoint{TokenURL: f.env.URL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := conf.Exchange(context.Background(), code)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok.AccessToken, tok.RefreshToken
}

// deviceCode starts a device authorization of dev that stays pending.
func (f *hFixture) deviceCode(t *testing.T) {
	t.Helper()
	conf := &oauth2.Config{ClientID: f.vars["{dev}"], Scopes: []string{"REPO_READ"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: f.env.URL + "/login/device/code", TokenURL: f.env.URL + "/login/oauth/access_token"}}
	da, err := conf.DeviceAuth(context.Background())
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	f.vars["{device_code}"], f.vars["{user_code}"] = da.DeviceCode, da.UserCode
}

func (f *hFixture) expand(s string) string {
	pairs := make([]string, 0, 2*len(f.vars))
	for k, v := range f.vars {
		pairs = append(pairs, k, v)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// hTables are the tables and columns whose content the suite compares
// around every case: the state, not the bookkeeping of use.
var hTables = map[string]string{
	"users":                 "id, username, email, display_name, password_hash, disabled, email_verified, source_id",
	"projects":              "id, key, name, description, public",
	"repos":                 "id, project_id, slug, name, public",
	"permissions":           "user_id, target, target_id, name, source_id",
	"clients":               "id, name, secret_hash, public, redirect_uris, scopes, grant_types, suspended, origin, registration_token_hash",
	"consents":              "user_id, client_id, scopes, granted_at",
	"sessions":              "id, user_id, auth_time, expires_at, source_id",
	"token_families":        "id, client_id, user_id, scopes, generation, revoked_at, resources",
	"tokens":                "hash, kind, family_id, generation, scopes, expires_at, resources",
	"auth_codes":            "hash, client_id, used_at, family_id, resources",
	"device_codes":          "hash, user_code, client_id, scopes, status, user_id, family_id",
	"email_verifications":   "hash, user_id, email",
	"signing_keys":          "id, activate_at, retire_at",
	"secrets":               "name",
	"webhooks":              "id, repo_id, kind, name, url, secret, events, config, active, creator_id, created_at, updated_at",
	"webhook_deliveries":    "id, hook_id, repo_id, event, guid, payload, headers, created_at",
	"commit_statuses":       "id, repo_id, sha, context, state, name, target_url, description, creator_id, created_at",
	"resource_servers":      "uri, name, scopes, introspection_client_id",
	"initial_access_tokens": "hash, label, expires_at",
	"user_factors":          "id, user_id, kind, name, secret, credential_id, last_step",
	"recovery_codes":        "user_id, hash, used_at",
	"pending_logins":        "hash, user_id, amr, expires_at",
	"used_once":             "key, expires_at",
	"logout_deliveries":     "id, client_id, subject, sid, jti, created_at",
	"identity_sources":      "id, name, display_name, kind, enabled, position, config, secret",
	"external_identities":   "source_id, subject, user_id",
}

// hLeftOut are the tables the suite does not compare, on purpose (see the
// top of this file).
var hLeftOut = []string{"audit_events", "rate_limits", "throttle_counters", "schema_migrations", "cache_invalidations"}

// checkEveryTable fails when a table of the schema is neither compared
// (hTables) nor left out on purpose (hLeftOut): a new table must be one
// or the other.
func (f *hFixture) checkEveryTable(t *testing.T) {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if backend.IsPostgres(f.env.Config.DSN()) {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	var tables []string
	err := hReadOnly(f.db, func(tx *sql.Tx) error {
		rows, err := tx.Query(q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			tables = append(tables, name)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	if len(tables) < len(hTables) {
		t.Fatalf("the schema lists %d tables %q, fewer than the %d compared", len(tables), tables, len(hTables))
	}
	for _, table := range tables {
		if _, ok := hTables[table]; !ok && !slices.Contains(hLeftOut, table) {
			t.Errorf("table %s is neither compared (hTables) nor left out on purpose (hLeftOut)", table)
		}
	}
}

// snapshot reads every compared table: per table, its row count and its
// rows in primary-key order.
func (f *hFixture) snapshot(t *testing.T) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := hReadOnly(f.db, func(tx *sql.Tx) error {
		for table, cols := range hTables {
			rows, err := tx.Query("SELECT " + cols + " FROM " + table + " ORDER BY " + cols)
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			var b strings.Builder
			n, err := hDump(rows, &b)
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			snap[table] = fmt.Sprintf("%d rows\n%s", n, b.String())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return snap
}

// hReadOnly runs fn in one read-only transaction: one consistent view.
func hReadOnly(db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// hDump writes the rows, one line each, and returns how many there were.
func hDump(rows *sql.Rows, b *strings.Builder) (int, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		for _, v := range vals {
			if raw, ok := v.([]byte); ok {
				v = string(raw)
			}
			fmt.Fprintf(b, "%v|", v)
		}
		b.WriteByte('\n')
		n++
	}
	return n, rows.Err()
}

// request builds the HTTP request of a case.
func (f *hFixture) request(t *testing.T, c hCase) *http.Request {
	t.Helper()
	body := f.expand(c.body)
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(c.method, f.env.URL+f.expand(c.path), rd)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	typed := false
	for _, h := range c.header {
		name, value, _ := strings.Cut(f.expand(h), ":")
		value = strings.TrimSpace(value)
		switch name {
		case "Basic": // "Basic: id:secret", encoded after expansion
			id, secret, _ := strings.Cut(value, ":")
			req.Header.Add("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
		case "Content-Type":
			typed = true
			if value != "" { // "Content-Type:" sends none
				req.Header.Add(name, value)
			}
		default:
			req.Header.Add(name, value)
		}
	}
	if body != "" && !typed {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

// send runs a case and returns the answer.
func (f *hFixture) send(t *testing.T, c hCase) (*http.Response, []byte) {
	t.Helper()
	client := f.plain
	if c.as != "" {
		client = f.sessions[c.as]
	}
	resp, err := client.Do(f.request(t, c))
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

// TestHostileInputsAreRefusedInTheirProtocolAndChangeNothing runs every
// case against one node per backend.
func TestHostileInputsAreRefusedInTheirProtocolAndChangeNothing(t *testing.T) {
	cases := hostileCases()
	seen := map[string]string{}
	for _, c := range cases {
		if prev, dup := seen[c.key()]; dup {
			t.Fatalf("cases %q and %q send the same input", prev, c.name)
		}
		seen[c.key()] = c.name
	}
	if len(cases) < 300 {
		t.Fatalf("%d distinct hostile inputs, want at least 300", len(cases))
	}
	t.Run("sqlite", func(t *testing.T) { runHostile(t, newHFixture(t), cases) })
	t.Run("postgres", func(t *testing.T) { runHostile(t, newHFixture(t, testkit.OnFreshPostgres(t)), cases) })
}

func runHostile(t *testing.T, f *hFixture, cases []hCase) {
	t.Run("no presented secret is stored in clear", func(t *testing.T) { f.checkNoSecretInClear(t) })
	t.Run("every table is compared or left out on purpose", func(t *testing.T) { f.checkEveryTable(t) })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			vars := f.vars
			if c.fresh {
				f.vars = maps.Clone(vars)
				f.vars["{code}"] = f.issue(t, f.alice, "REPO_READ")
				defer func() { f.vars = vars }()
			}
			before := f.snapshot(t)
			resp, body := f.send(t, c)
			f.check(t, c, resp, body)
			after := f.snapshot(t)
			for table, was := range before {
				if after[table] != was && !(c.fresh && table == "auth_codes" && f.onlyBurned(was, after[table])) {
					t.Errorf("the case changed table %s:\nbefore: %.600s\nafter:  %.600s", table, was, after[table])
				}
			}
		})
	}
}

// checkNoSecretInClear fails when a token, code, device code or client
// secret the fixture holds appears as it is in any compared table: they
// are kept as SHA-256 hashes (docs/security.md, "Secrets").
func (f *hFixture) checkNoSecretInClear(t *testing.T) {
	t.Helper()
	snap := f.snapshot(t)
	for name, value := range f.vars {
		secretLike := strings.HasPrefix(name, "{tok.") || strings.HasSuffix(name, ".secret}") ||
			name == "{refresh}" || name == "{code}" || name == "{device_code}"
		if !secretLike || value == "" { // a public client has no secret
			continue
		}
		for table, dump := range snap {
			if strings.Contains(dump, value) {
				t.Errorf("table %s holds %s in clear", table, name)
			}
		}
		if !strings.Contains(snap["tokens"]+snap["auth_codes"]+snap["device_codes"]+snap["clients"], secret.Hash(value)) {
			t.Errorf("no table holds the hash of %s", name)
		}
	}
}

// onlyBurned reports whether the auth_codes dump after differs from the
// one before only in the used_at of the case's own code.
func (f *hFixture) onlyBurned(before, after string) bool {
	code := f.vars["{code}"]
	hash := secret.TokenKey(code)
	strip := func(dump string) string {
		var keep []string
		for _, line := range strings.Split(dump, "\n") {
			if !strings.HasPrefix(line, hash+"|") {
				keep = append(keep, line)
			}
		}
		return strings.Join(keep, "\n")
	}
	return strings.Contains(before, hash+"|") && strings.Contains(after, hash+"|") && strip(before) == strip(after)
}

// check asserts the status and the form of the answer.
func (f *hFixture) check(t *testing.T, c hCase, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != c.status {
		t.Errorf("status %d, want %d; Location %q WWW-Authenticate %q body %.400s", resp.StatusCode, c.status,
			resp.Header.Get("Location"), resp.Header.Get("WWW-Authenticate"), body)
	}
	brCheckNoLeak(t, "answer", body)
	ct := resp.Header.Get("Content-Type")
	switch c.answer {
	case hOAuth:
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error != c.want || !strings.HasPrefix(ct, "application/json") {
			t.Errorf("answer %q (%s), want RFC 6749 JSON with error %q", body, ct, c.want)
		}
	case hBearer:
		f.checkChallenge(t, c, resp)
	case hREST:
		f.checkREST(t, c, resp, body)
	case hPage:
		f.checkBody(t, c, "text/html", ct, body)
		f.checkPageHeaders(t, resp)
	case hGit, hText:
		f.checkBody(t, c, "text/plain", ct, body)
	case hJSON:
		f.checkBody(t, c, "application/json", ct, body)
	case hRedirect:
		f.checkRedirect(t, c, resp)
		f.checkPageHeaders(t, resp)
	case hAnyOK:
		if len(body) > 0 && !json.Valid(body) {
			t.Errorf("answer %.300q, want an empty or JSON body", body)
		}
	default:
		t.Fatalf("case %q has no answer form", c.name)
	}
}

// checkPageHeaders asserts what keeps a page's URL and content where they
// belong: no Referer to other sites (RFC 9700 §4.2) and no framing (§4.16).
func (f *hFixture) checkPageHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want no-referrer", got)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options %q, want DENY", got)
	}
}

func (f *hFixture) checkBody(t *testing.T, c hCase, wantCT, ct string, body []byte) {
	t.Helper()
	if !strings.HasPrefix(ct, wantCT) || !strings.Contains(string(body), c.want) {
		t.Errorf("answer (%s) %.500q, want %s containing %q", ct, body, wantCT, c.want)
	}
}

// checkChallenge asserts an RFC 6750 §3 challenge carrying c.want as its
// error, or no error at all when c.want is empty (no credentials sent).
func (f *hFixture) checkChallenge(t *testing.T, c hCase, resp *http.Response) {
	t.Helper()
	got := resp.Header.Get("WWW-Authenticate")
	switch {
	case !strings.HasPrefix(got, "Bearer"):
		t.Errorf("WWW-Authenticate %q, want a Bearer challenge", got)
	case c.want == "" && strings.Contains(got, "error="):
		t.Errorf("WWW-Authenticate %q carries an error, want none (RFC 6750 §3.1)", got)
	case c.want != "" && !strings.Contains(got, `error="`+c.want+`"`):
		t.Errorf("WWW-Authenticate %q, want error %q", got, c.want)
	}
}

// checkREST asserts the error body of the path's dialect: Bitbucket's
// {"errors":[{"message":…}]} or Gitea's {"message":…}.
func (f *hFixture) checkREST(t *testing.T, c hCase, resp *http.Response, body []byte) {
	t.Helper()
	var e struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
		Message string `json:"message"`
	}
	err := json.Unmarshal(body, &e)
	gitea := strings.HasPrefix(c.path, "/api/v1/")
	switch {
	case err != nil:
		t.Errorf("REST error body is not JSON: %.300q", body)
	case gitea && e.Message == "":
		t.Errorf("REST error body %s, want Gitea's {\"message\":…}", body)
	case !gitea && (len(e.Errors) == 0 || e.Errors[0].Message == ""):
		t.Errorf("REST error body %s, want Bitbucket's {\"errors\":[…]}", body)
	case !strings.Contains(string(body), c.want):
		t.Errorf("REST error body %s lacks %q", body, c.want)
	}
	if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
	}
}

// checkRedirect asserts a 302 to the client's registered URI carrying the
// error code and the issuer.
func (f *hFixture) checkRedirect(t *testing.T, c hCase, resp *http.Response) {
	t.Helper()
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Errorf("Location %q: want a redirect", resp.Header.Get("Location"))
		return
	}
	q := u.Query()
	base := u.Scheme + "://" + u.Host + u.Path
	if base != hAppURI && base != hLoopbackURI || q.Get("error") != c.want || q.Get("iss") != f.env.URL || q.Has("code") {
		t.Errorf("redirect %s, want %s with error %q and iss", u, hAppURI, c.want)
	}
}
