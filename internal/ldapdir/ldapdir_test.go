package ldapdir_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"latchkey/internal/ldapdir"
	"latchkey/internal/testkit"
)

// transports are the two ways to encrypt: StartTLS on ldap:// and LDAPS.
func transports(s *testkit.Slapd) map[string]ldapdir.Config {
	startTLS := s.Config()
	ldaps := s.Config()
	ldaps.URL, ldaps.StartTLS = s.LDAPSURL, false
	return map[string]ldapdir.Config{"starttls": startTLS, "ldaps": ldaps}
}

// noSecret fails t if err's message contains secret.
func noSecret(t *testing.T, err error, secret string) {
	t.Helper()
	if err != nil && secret != "" && strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains the password", err)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	s := testkit.StartSlapd(t)
	for name, c := range transports(s) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e, err := ldapdir.Authenticate(ctx, c, "ada", "ada-secret-1")
			if err != nil {
				t.Fatalf("ada: %v", err)
			}
			want := ldapdir.Entry{
				DN: s.UserDN("ada"), Username: "ada", DisplayName: "Ada Lovelace",
				Email:  "ada@example.org",
				Groups: []string{s.GroupDN("developers"), "developers"},
			}
			checkEntry(t, e, want)

			e, err = ldapdir.Authenticate(ctx, c, "GRACE", "grace-secret-1")
			if err != nil {
				t.Fatalf("grace: %v", err)
			}
			checkEntry(t, e, ldapdir.Entry{
				DN: s.UserDN("grace"), Username: "grace", DisplayName: "Grace Hopper",
				Email: "grace@example.org",
				Groups: []string{s.GroupDN("admins"), s.GroupDN("developers"),
					"admins", "developers"},
			})

			e, err = ldapdir.Authenticate(ctx, c, "linus", "linus-secret-1")
			if err != nil {
				t.Fatalf("linus: %v", err)
			}
			checkEntry(t, e, ldapdir.Entry{
				DN: s.UserDN("linus"), Username: "linus", DisplayName: "Linus Torvalds",
			})
		})
	}
}

// checkEntry compares e to want, groups in any order.
func checkEntry(t *testing.T, e, want ldapdir.Entry) {
	t.Helper()
	slices.Sort(e.Groups)
	slices.Sort(want.Groups)
	if e.DN != want.DN || e.Username != want.Username || e.DisplayName != want.DisplayName ||
		e.Email != want.Email || !slices.Equal(e.Groups, want.Groups) {
		t.Errorf("entry\n got %+v\nwant %+v", e, want)
	}
}

func TestAuthenticateRefusals(t *testing.T) {
	t.Parallel()
	s := testkit.StartSlapd(t)
	ctx := context.Background()
	for name, c := range transports(s) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct{ name, user, password string }{
				{"wrong password", "ada", "grace-secret-1"},
				{"unknown user", "nobody", "ada-secret-1"},
				{"empty password", "ada", ""},
				{"wildcard", "*", "ada-secret-1"},
				{"prefix wildcard", "ad*", "ada-secret-1"},
				{"filter injection", "ada)(uid=*", "ada-secret-1"},
				{"or injection", "*)(|(uid=*", "grace-secret-1"},
				{"nul byte", "ada\x00", "ada-secret-1"},
				{"empty user", "", "ada-secret-1"},
			} {
				_, err := ldapdir.Authenticate(ctx, c, tc.user, tc.password)
				if !errors.Is(err, ldapdir.ErrInvalidCredentials) {
					t.Errorf("%s: got %v, want ErrInvalidCredentials", tc.name, err)
				}
				noSecret(t, err, tc.password)
			}
		})
	}
}

// An empty password is refused before the directory is contacted: even an
// unreachable directory gives ErrInvalidCredentials, not ErrUnavailable.
func TestEmptyPasswordContactsNothing(t *testing.T) {
	t.Parallel()
	c := ldapdir.Config{URL: "ldap://127.0.0.1:1", UserBase: "dc=example,dc=org", Timeout: time.Second}
	_, err := ldapdir.Authenticate(context.Background(), c, "ada", "")
	if !errors.Is(err, ldapdir.ErrInvalidCredentials) {
		t.Fatalf("got %v, want ErrInvalidCredentials", err)
	}
}

// The filter escaping itself, apart from the user name check: a user
// filter built for "*" finds nothing in the real directory, "ada" finds ada.
func TestUserFilterEscapesAgainstDirectory(t *testing.T) {
	t.Parallel()
	s := testkit.StartSlapd(t)
	c := s.Config().WithDefaults()
	conn, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(s.BindDN, s.BindPassword); err != nil {
		t.Fatal(err)
	}
	count := func(username string) int {
		req := ldap.NewSearchRequest(s.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, 0, false, ldapdir.UserFilter(c, username), []string{"1.1"}, nil)
		res, err := conn.Search(req)
		if err != nil {
			t.Fatalf("search %q: %v", username, err)
		}
		return len(res.Entries)
	}
	// The harness's service account reads people but not their passwords.
	req := ldap.NewSearchRequest(s.UserDN("ada"), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"uid", "userPassword"}, nil)
	if res, err := conn.Search(req); err != nil || len(res.Entries) != 1 ||
		res.Entries[0].GetAttributeValue("uid") != "ada" || len(res.Entries[0].GetAttributeValues("userPassword")) != 0 {
		t.Errorf("service account reading ada: %v", err)
	}
	for user, want := range map[string]int{
		"ada": 1, "*": 0, "ad*": 0, "ada)(uid=*": 0, "*)(|(uid=*": 0, `\2a`: 0,
	} {
		if got := count(user); got != want {
			t.Errorf("%q: %d entries, want %d", user, got, want)
		}
	}
}

func TestAmbiguous(t *testing.T) {
	t.Parallel()
	s := testkit.StartSlapd(t)
	ctx := context.Background()
	for name, filter := range map[string]string{
		"two":   "(|(uid=%s)(uid=grace))",                 // two entries
		"three": "(|(uid=%s)(objectClass=inetOrgPerson))", // beyond the size limit
	} {
		t.Run(name, func(t *testing.T) {
			c := s.Config()
			c.UserFilter = filter
			_, err := ldapdir.Authenticate(ctx, c, "ada", "ada-secret-1")
			if !errors.Is(err, ldapdir.ErrInvalidCredentials) {
				t.Errorf("Authenticate: got %v, want ErrInvalidCredentials", err)
			}
			_, err = ldapdir.Lookup(ctx, c, "ada")
			if !errors.Is(err, ldapdir.ErrAmbiguous) {
				t.Errorf("Lookup: got %v, want ErrAmbiguous", err)
			}
		})
	}
}

func TestLookupAndChanges(t *testing.T) {
	t.Parallel()
	s := testkit.StartSlapd(t)
	ctx := context.Background()
	c := s.Config()
	e, err := ldapdir.Lookup(ctx, c, "grace")
	if err != nil {
		t.Fatal(err)
	}
	checkEntry(t, e, ldapdir.Entry{
		DN: s.UserDN("grace"), Username: "grace", DisplayName: "Grace Hopper",
		Email:  "grace@example.org",
		Groups: []string{s.GroupDN("admins"), s.GroupDN("developers"), "admins", "developers"},
	})
	if _, err := ldapdir.Lookup(ctx, c, "nobody"); !errors.Is(err, ldapdir.ErrNoSuchUser) {
		t.Errorf("nobody: got %v, want ErrNoSuchUser", err)
	}
	if _, err := ldapdir.Lookup(ctx, c, "*"); !errors.Is(err, ldapdir.ErrNoSuchUser) {
		t.Errorf("*: got %v, want ErrNoSuchUser", err)
	}

	s.SetGroupMembers(t, "admins")
	s.SetGroupMembers(t, "developers", "ada")
	s.AddGroup(t, "ops", "grace", "linus")
	e, err = ldapdir.Lookup(ctx, c, "grace")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{s.GroupDN("ops"), "ops"}; !slices.Equal(sorted(e.Groups), sorted(want)) {
		t.Errorf("grace's groups after changes: %v, want %v", e.Groups, want)
	}

	s.SetPassword(t, "grace", "grace-secret-2")
	if _, err := ldapdir.Authenticate(ctx, c, "grace", "grace-secret-1"); !errors.Is(err, ldapdir.ErrInvalidCredentials) {
		t.Errorf("old password: got %v, want ErrInvalidCredentials", err)
	}
	if _, err := ldapdir.Authenticate(ctx, c, "grace", "grace-secret-2"); err != nil {
		t.Errorf("new password: %v", err)
	}

	s.AddUser(t, "margaret", "Margaret Hamilton", "margaret@example.org", "m-secret-1")
	if e, err := ldapdir.Lookup(ctx, c, "margaret"); err != nil || e.Email != "margaret@example.org" || len(e.Groups) != 0 {
		t.Errorf("margaret: %+v, %v", e, err)
	}

	s.DeleteUser(t, "grace")
	if _, err := ldapdir.Lookup(ctx, c, "grace"); !errors.Is(err, ldapdir.ErrNoSuchUser) {
		t.Errorf("deleted grace: got %v, want ErrNoSuchUser", err)
	}
	if _, err := ldapdir.Authenticate(ctx, c, "grace", "grace-secret-2"); !errors.Is(err, ldapdir.ErrInvalidCredentials) {
		t.Errorf("deleted grace signs in: got %v, want ErrInvalidCredentials", err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestWrongCA(t *testing.T) {
	t.Parallel()
	s := testkit.StartSlapd(t)
	for name, c := range transports(s) {
		for caName, ca := range map[string]string{"other CA": otherCA(t), "system roots": ""} {
			t.Run(name+"/"+caName, func(t *testing.T) {
				c.CACert = ca
				_, err := ldapdir.Authenticate(context.Background(), c, "ada", "ada-secret-1")
				if !errors.Is(err, ldapdir.ErrUnavailable) {
					t.Fatalf("got %v, want ErrUnavailable", err)
				}
				if msg := err.Error(); !strings.Contains(msg, "TLS") && !strings.Contains(msg, "tls") ||
					!strings.Contains(msg, "certificate") {
					t.Errorf("message %q does not say TLS certificate", msg)
				}
				noSecret(t, err, "ada-secret-1")
				if err := ldapdir.Check(context.Background(), c); !errors.Is(err, ldapdir.ErrUnavailable) {
					t.Errorf("Check: got %v, want ErrUnavailable", err)
				}
			})
		}
	}
}

// otherCA is the PEM of a CA that signed nothing slapd has.
func otherCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestServiceBindRefused(t *testing.T) {
	t.Parallel()
	s := testkit.StartSlapd(t)
	for name, c := range transports(s) {
		t.Run(name, func(t *testing.T) {
			c.BindPassword = "not-the-service-password"
			for op, err := range map[string]error{
				"Authenticate": second(ldapdir.Authenticate(context.Background(), c, "ada", "ada-secret-1")),
				"Lookup":       second(ldapdir.Lookup(context.Background(), c, "ada")),
				"Check":        ldapdir.Check(context.Background(), c),
			} {
				if !errors.Is(err, ldapdir.ErrUnavailable) {
					t.Errorf("%s: got %v, want ErrUnavailable", op, err)
					continue
				}
				if !strings.Contains(err.Error(), "service account's bind was refused") {
					t.Errorf("%s: message %q does not say the service bind was refused", op, err)
				}
				noSecret(t, err, "ada-secret-1")
				noSecret(t, err, c.BindPassword)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func TestCheck(t *testing.T) {
	t.Parallel()
	s := testkit.StartSlapd(t)
	ctx := context.Background()
	for name, c := range transports(s) {
		t.Run(name, func(t *testing.T) {
			if err := ldapdir.Check(ctx, c); err != nil {
				t.Fatalf("Check: %v", err)
			}
			bad := c
			bad.UserBase = "ou=nobody,dc=example,dc=org"
			err := ldapdir.Check(ctx, bad)
			if !errors.Is(err, ldapdir.ErrUnavailable) || !strings.Contains(err.Error(), "does not exist") {
				t.Errorf("missing user base: got %v", err)
			}
			bad = c
			bad.BindPassword = ""
			if err := ldapdir.Check(ctx, bad); !errors.Is(err, ldapdir.ErrUnavailable) {
				t.Errorf("no service password: got %v", err)
			}
			bad = c
			bad.URL = "ldap://"
			if err := ldapdir.Check(ctx, bad); !errors.Is(err, ldapdir.ErrUnavailable) ||
				!strings.Contains(err.Error(), "invalid configuration") {
				t.Errorf("invalid configuration: got %v", err)
			}
		})
	}
}

func TestDirectoryDown(t *testing.T) {
	t.Parallel()
	s := testkit.StartSlapd(t)
	configs := transports(s)
	s.Stop(t)
	for name, c := range configs {
		t.Run(name, func(t *testing.T) {
			c.Timeout = 2 * time.Second
			start := time.Now()
			_, err := ldapdir.Authenticate(context.Background(), c, "ada", "ada-secret-1")
			if !errors.Is(err, ldapdir.ErrUnavailable) || !strings.Contains(err.Error(), "cannot connect to "+c.URL) {
				t.Errorf("Authenticate: got %v, want ErrUnavailable: cannot connect", err)
			}
			if err := ldapdir.Check(context.Background(), c); !errors.Is(err, ldapdir.ErrUnavailable) {
				t.Errorf("Check: got %v, want ErrUnavailable", err)
			}
			if _, err := ldapdir.Lookup(context.Background(), c, "ada"); !errors.Is(err, ldapdir.ErrUnavailable) {
				t.Errorf("Lookup: got %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 3*c.Timeout {
				t.Errorf("took %v", d)
			}
		})
	}
}

// blackHole accepts connections and never answers.
func blackHole(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; conn.Close() }()
		}
	}()
	return l.Addr().String()
}

// A server that accepts but never answers costs about Timeout (StartTLS
// request, LDAPS handshake), or less when the context ends first.
func TestSilentServerTimesOut(t *testing.T) {
	t.Parallel()
	addr := blackHole(t)
	base := ldapdir.Config{UserBase: "dc=example,dc=org", Timeout: time.Second}
	starttls, ldaps, plain := base, base, base
	starttls.URL, starttls.StartTLS = "ldap://"+addr, true
	ldaps.URL = "ldaps://" + addr
	plain.URL, plain.BindDN, plain.BindPassword = "ldap://"+addr, "cn=x,dc=example,dc=org", "x"
	for name, c := range map[string]ldapdir.Config{"starttls": starttls, "ldaps": ldaps, "bind": plain} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			err := ldapdir.Check(context.Background(), c)
			if !errors.Is(err, ldapdir.ErrUnavailable) {
				t.Errorf("got %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v with a 1s timeout", d)
			}

			c.Timeout = 30 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start = time.Now()
			err = ldapdir.Check(ctx, c)
			if !errors.Is(err, ldapdir.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("with a context deadline: got %v, want ErrUnavailable and DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v with a 300ms context", d)
			}
		})
	}
}

// stallAfterStartTLS accepts connections, says yes to the first request
// (the StartTLS extended operation) and then never answers the TLS
// handshake.
func stallAfterStartTLS(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 512)
				// LDAPMessage: 30 len 02 01 <id> ...; the client's first ID fits a byte.
				if n, err := conn.Read(buf); err != nil || n < 5 || buf[2] != 0x02 || buf[3] != 0x01 {
					return
				}
				// ExtendedResponse [APPLICATION 24] { success, "", "" }
				resp := []byte{0x30, 0x0c, 0x02, 0x01, buf[4], 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00}
				if _, err := conn.Write(resp); err != nil {
					return
				}
				<-done
			}()
		}
	}()
	return l.Addr().String()
}

// The TLS handshake after a successful StartTLS is bounded by Timeout too.
func TestStalledStartTLSHandshake(t *testing.T) {
	t.Parallel()
	c := ldapdir.Config{URL: "ldap://" + stallAfterStartTLS(t), StartTLS: true,
		UserBase: "dc=example,dc=org", Timeout: time.Second}
	start := time.Now()
	err := ldapdir.Check(context.Background(), c)
	if !errors.Is(err, ldapdir.ErrUnavailable) || !strings.Contains(err.Error(), "StartTLS") {
		t.Errorf("got %v, want ErrUnavailable about StartTLS", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v with a 1s timeout", d)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := ldapdir.Config{
		URL:        "ldap://ldap.example.org:389",
		StartTLS:   true,
		BindDN:     "cn=svc,dc=example,dc=org",
		UserBase:   "ou=people,dc=example,dc=org",
		UserFilter: "(&(objectClass=inetOrgPerson)(uid=%s))",
		GroupBase:  "ou=groups,dc=example,dc=org",
	}
	tests := []struct {
		name   string
		change func(*ldapdir.Config)
		errHas string // "" = valid
	}{
		{"good", func(*ldapdir.Config) {}, ""},
		{"ldaps", func(c *ldapdir.Config) { c.URL, c.StartTLS = "ldaps://ldap.example.org", false }, ""},
		{"plain ldap to another host", func(c *ldapdir.Config) { c.StartTLS = false }, "in clear"},
		{"plain ldap on loopback", func(c *ldapdir.Config) { c.URL, c.StartTLS = "ldap://127.0.0.1:3389", false }, ""},
		{"ipv6", func(c *ldapdir.Config) { c.URL = "ldap://[::1]:389/" }, ""},
		{"anonymous", func(c *ldapdir.Config) { c.BindDN = "" }, ""},
		{"default filters", func(c *ldapdir.Config) { c.UserFilter = "" }, ""},
		{"no groups", func(c *ldapdir.Config) { c.GroupBase = "" }, ""},
		{"timeouts", func(c *ldapdir.Config) { c.Timeout = 60 * time.Second }, ""},
		{"no url", func(c *ldapdir.Config) { c.URL = "" }, "URL is required"},
		{"http url", func(c *ldapdir.Config) { c.URL = "http://ldap.example.org" }, "ldap:// or ldaps://"},
		{"no host", func(c *ldapdir.Config) { c.URL = "ldap://:389" }, "must name a host"},
		{"bad port", func(c *ldapdir.Config) { c.URL = "ldap://h:99999" }, "invalid port"},
		{"path", func(c *ldapdir.Config) { c.URL = "ldap://h/dc=x" }, "no path"},
		{"starttls ldaps", func(c *ldapdir.Config) { c.URL = "ldaps://h" }, "StartTLS is only for ldap://"},
		{"bad CA", func(c *ldapdir.Config) { c.CACert = "not pem" }, "CA certificate"},
		{"bad bind DN", func(c *ldapdir.Config) { c.BindDN = "no equals" }, "bind DN"},
		{"no user base", func(c *ldapdir.Config) { c.UserBase = "" }, "user base DN is required"},
		{"bad user base", func(c *ldapdir.Config) { c.UserBase = "ou=people,,x" }, "user base"},
		{"bad group base", func(c *ldapdir.Config) { c.GroupBase = "=x" }, "group base"},
		{"no %s", func(c *ldapdir.Config) { c.UserFilter = "(uid=ada)" }, "exactly once"},
		{"two %s", func(c *ldapdir.Config) { c.UserFilter = "(|(uid=%s)(mail=%s))" }, "exactly once"},
		{"user filter syntax", func(c *ldapdir.Config) { c.UserFilter = "(uid=%s" }, "does not parse"},
		{"group filter no %s", func(c *ldapdir.Config) { c.GroupFilter = "(member=x)" }, "group filter must contain"},
		{"group filter syntax", func(c *ldapdir.Config) { c.GroupFilter = "member=%s)(" }, "does not parse"},
		{"group filter without base", func(c *ldapdir.Config) { c.GroupBase, c.GroupFilter = "", "(member=%s)" }, "group base is empty"},
		{"bad attribute", func(c *ldapdir.Config) { c.EmailAttr = "mail)(x" }, "email attribute"},
		{"short timeout", func(c *ldapdir.Config) { c.Timeout = 500 * time.Millisecond }, "timeout"},
		{"long timeout", func(c *ldapdir.Config) { c.Timeout = 61 * time.Second }, "timeout"},
		{"negative timeout", func(c *ldapdir.Config) { c.Timeout = -time.Second }, "timeout"},
	}
	for _, tc := range tests {
		c := good
		tc.change(&c)
		err := c.Validate()
		switch {
		case tc.errHas == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.errHas != "" && err == nil:
			t.Errorf("%s: valid, want an error with %q", tc.name, tc.errHas)
		case tc.errHas != "" && !strings.Contains(err.Error(), tc.errHas):
			t.Errorf("%s: error %q does not contain %q", tc.name, err, tc.errHas)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	c := ldapdir.Config{GroupBase: "ou=groups,dc=x"}.WithDefaults()
	if c.UsernameAttr != "uid" || c.DisplayNameAttr != "cn" || c.EmailAttr != "mail" ||
		c.GroupNameAttr != "cn" || c.Timeout != 10*time.Second ||
		c.UserFilter != "(uid=%s)" || c.GroupFilter != "(member=%s)" {
		t.Errorf("defaults: %+v", c)
	}
	if c := (ldapdir.Config{}).WithDefaults(); c.GroupFilter != "" {
		t.Errorf("group filter without a group base: %q", c.GroupFilter)
	}
}
