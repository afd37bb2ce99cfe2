package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"latchkey/internal/ldapdir"
)

// SlapdBinary is where Debian's slapd package installs the server.
const SlapdBinary = "/usr/sbin/slapd"

// slapdSchemaDir holds the schemas the test directory loads.
const slapdSchemaDir = "/etc/ldap/schema"

// Slapd is a throwaway OpenLDAP server started by StartSlapd: an mdb
// database in a temporary directory, listening on loopback only, with a
// certificate from its own test CA. It is seeded with:
//
//   - users (inetOrgPerson, DN uid=<uid>,<UserBase>): ada ("Ada Lovelace",
//     ada@example.org, password "ada-secret-1"), grace ("Grace Hopper",
//     grace@example.org, "grace-secret-1") and linus ("Linus Torvalds", no
//     mail, "linus-secret-1");
//   - groups (groupOfNames, DN cn=<cn>,<GroupBase>): developers (ada,
//     grace) and admins (grace);
//   - the service account BindDN, which may read people and groups (not
//     passwords).
type Slapd struct {
	URL          string // ldap://127.0.0.1:PORT (StartTLS offered)
	LDAPSURL     string // ldaps://127.0.0.1:PORT2
	CACert       string // PEM of the test CA that signed the server certificate (SANs 127.0.0.1, localhost)
	BaseDN       string // dc=example,dc=org
	UserBase     string // ou=people,dc=example,dc=org
	GroupBase    string // ou=groups,dc=example,dc=org
	BindDN       string // cn=latchkey,ou=services,dc=example,dc=org
	BindPassword string

	rootDN, rootPassword string
	dir                  string
	log                  *SyncBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartSlapd starts a seeded OpenLDAP server for t and stops it when t ends.
// Without /usr/sbin/slapd it skips t, or fails it when CI=true.
func StartSlapd(t testing.TB) *Slapd {
	t.Helper()
	if _, err := os.Stat(SlapdBinary); err != nil {
		msg := SlapdBinary + " is missing; install Debian's slapd package (apt-get install slapd) to run this test"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Slapd{
		BaseDN:       "dc=example,dc=org",
		UserBase:     "ou=people,dc=example,dc=org",
		GroupBase:    "ou=groups,dc=example,dc=org",
		BindDN:       "cn=latchkey,ou=services,dc=example,dc=org",
		BindPassword: "svc-" + rand.Text(),
		rootDN:       "cn=admin,dc=example,dc=org",
		rootPassword: "root-" + rand.Text(),
		dir:          t.TempDir(),
		log:          &SyncBuffer{},
	}
	t.Cleanup(func() { s.Stop(t) })
	s.writeFiles(t)
	s.start(t)
	s.seed(t)
	return s
}

// Config returns a ready ldapdir.Config for s: ldap:// with StartTLS and the
// test CA, the service account, uid / cn / mail, and groupOfNames groups
// found by member.
func (s *Slapd) Config() ldapdir.Config {
	return ldapdir.Config{
		URL:             s.URL,
		StartTLS:        true,
		CACert:          s.CACert,
		BindDN:          s.BindDN,
		BindPassword:    s.BindPassword,
		UserBase:        s.UserBase,
		UserFilter:      "(&(objectClass=inetOrgPerson)(uid=%s))",
		UsernameAttr:    "uid",
		DisplayNameAttr: "cn",
		EmailAttr:       "mail",
		GroupBase:       s.GroupBase,
		GroupFilter:     "(&(objectClass=groupOfNames)(member=%s))",
		GroupNameAttr:   "cn",
		Timeout:         5 * time.Second,
	}
}

// UserDN is the DN of the user uid.
func (s *Slapd) UserDN(uid string) string {
	return "uid=" + ldap.EscapeDN(uid) + "," + s.UserBase
}

// GroupDN is the DN of the group cn.
func (s *Slapd) GroupDN(cn string) string {
	return "cn=" + ldap.EscapeDN(cn) + "," + s.GroupBase
}

// AddUser adds an inetOrgPerson uid with the display name cn, the address
// mail (none if empty) and password.
func (s *Slapd) AddUser(t testing.TB, uid, cn, mail, password string) {
	t.Helper()
	req := ldap.NewAddRequest(s.UserDN(uid), nil)
	req.Attribute("objectClass", []string{"inetOrgPerson"})
	req.Attribute("uid", []string{uid})
	req.Attribute("cn", []string{cn})
	req.Attribute("sn", []string{lastWord(cn)})
	req.Attribute("userPassword", []string{password})
	if mail != "" {
		req.Attribute("mail", []string{mail})
	}
	s.write(t, "add user "+uid, func(c *ldap.Conn) error { return c.Add(req) })
}

// DeleteUser removes the user uid (not its group memberships).
func (s *Slapd) DeleteUser(t testing.TB, uid string) {
	t.Helper()
	req := ldap.NewDelRequest(s.UserDN(uid), nil)
	s.write(t, "delete user "+uid, func(c *ldap.Conn) error { return c.Del(req) })
}

// SetPassword replaces the password of the user uid.
func (s *Slapd) SetPassword(t testing.TB, uid, password string) {
	t.Helper()
	req := ldap.NewModifyRequest(s.UserDN(uid), nil)
	req.Replace("userPassword", []string{password})
	s.write(t, "set password of "+uid, func(c *ldap.Conn) error { return c.Modify(req) })
}

// AddGroup adds the groupOfNames cn with the users memberUIDs.
func (s *Slapd) AddGroup(t testing.TB, cn string, memberUIDs ...string) {
	t.Helper()
	req := ldap.NewAddRequest(s.GroupDN(cn), nil)
	req.Attribute("objectClass", []string{"groupOfNames"})
	req.Attribute("cn", []string{cn})
	req.Attribute("member", s.members(memberUIDs))
	s.write(t, "add group "+cn, func(c *ldap.Conn) error { return c.Add(req) })
}

// SetGroupMembers replaces the members of the group cn by memberUIDs.
func (s *Slapd) SetGroupMembers(t testing.TB, cn string, memberUIDs ...string) {
	t.Helper()
	req := ldap.NewModifyRequest(s.GroupDN(cn), nil)
	req.Replace("member", s.members(memberUIDs))
	s.write(t, "set members of "+cn, func(c *ldap.Conn) error { return c.Modify(req) })
}

// members lists the DNs of uids; groupOfNames requires a member, so an
// empty group holds the empty DN, which matches no user.
func (s *Slapd) members(uids []string) []string {
	if len(uids) == 0 {
		return []string{""}
	}
	dns := make([]string, len(uids))
	for i, uid := range uids {
		dns[i] = s.UserDN(uid)
	}
	return dns
}

// Stop kills the server and waits for it to exit: the directory becomes
// unreachable. Stopping twice is harmless.
func (s *Slapd) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Errorf("slapd (pid %d) did not exit after being killed", cmd.Process.Pid)
	}
}

// Log returns what slapd printed so far.
func (s *Slapd) Log() string { return s.log.String() }

func lastWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[len(f)-1]
	}
	return s
}

// write runs op on a connection bound as the root DN.
func (s *Slapd) write(t testing.TB, what string, op func(*ldap.Conn) error) {
	t.Helper()
	conn, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatalf("slapd: %s: %v", what, err)
	}
	defer conn.Close()
	conn.SetTimeout(5 * time.Second)
	if err := conn.Bind(s.rootDN, s.rootPassword); err != nil {
		t.Fatalf("slapd: %s: bind as root DN: %v", what, err)
	}
	if err := op(conn); err != nil {
		t.Fatalf("slapd: %s: %v", what, err)
	}
}

// writeFiles writes the certificates and slapd.conf into s.dir.
func (s *Slapd) writeFiles(t testing.TB) {
	t.Helper()
	caPEM, certPEM, keyPEM, err := slapdCertificates()
	if err != nil {
		t.Fatalf("slapd certificates: %v", err)
	}
	s.CACert = string(caPEM)
	files := map[string][]byte{
		"ca.pem":     caPEM,
		"server.pem": certPEM,
		"server.key": keyPEM,
		"slapd.conf": []byte(s.slapdConf()),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
}

// slapdConf is the server's configuration: the schemas, TLS, one mdb
// database, and access rules giving the service account read access to
// people and groups while passwords are only usable to bind.
func (s *Slapd) slapdConf() string {
	d := s.dir
	var b strings.Builder
	for _, schema := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&b, "include %s/%s.schema\n", slapdSchemaDir, schema)
	}
	fmt.Fprintf(&b, `pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/server.pem
TLSCertificateKeyFile %[1]s/server.key
database mdb
maxsize 16777216
suffix "%[2]s"
rootdn "%[3]s"
rootpw "%[4]s"
directory %[1]s/db
access to attrs=userPassword
  by anonymous auth
  by * none
access to dn.subtree="%[5]s"
  by dn.exact="%[7]s" read
  by self read
  by * none
access to dn.subtree="%[6]s"
  by dn.exact="%[7]s" read
  by * none
access to *
  by * none
`, d, s.BaseDN, s.rootDN, s.rootPassword, s.UserBase, s.GroupBase, s.BindDN)
	return b.String()
}

// start runs slapd in the foreground on free loopback ports, retrying with
// other ports if one was taken meanwhile, and waits until it answers.
func (s *Slapd) start(t testing.TB) {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			t.Fatalf("slapd: free ports: %v", err)
		}
		s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", ports[0])
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", ports[1])
		if lastErr = s.run(); lastErr == nil {
			return
		}
		s.Stop(t)
	}
	t.Fatalf("slapd did not start: %v\nslapd output:\n%s", lastErr, s.log.String())
}

// run starts the process and waits up to 15 s for an answer on both URLs.
func (s *Slapd) run() error {
	cmd := exec.Command(SlapdBinary, "-d", "0",
		"-h", s.URL+"/ "+s.LDAPSURL+"/",
		"-f", filepath.Join(s.dir, "slapd.conf"))
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("slapd exited: %v", cmd.ProcessState)
		default:
		}
		err := s.answers()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("slapd does not answer: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answers binds as the root DN over ldap:// and checks LDAPS's handshake.
func (s *Slapd) answers() error {
	dialer := &net.Dialer{Timeout: time.Second}
	conn, err := ldap.DialURL(s.URL, ldap.DialWithDialer(dialer))
	if err != nil {
		return err
	}
	conn.SetTimeout(time.Second)
	err = conn.Bind(s.rootDN, s.rootPassword)
	conn.Close()
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(s.CACert))
	tlsConn, err := tls.DialWithDialer(dialer, "tcp", strings.TrimPrefix(s.LDAPSURL, "ldaps://"),
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	return tlsConn.Close()
}

// seed adds the organisation, the service account, the users and groups.
func (s *Slapd) seed(t testing.TB) {
	t.Helper()
	add := func(dn string, attrs map[string][]string) {
		req := ldap.NewAddRequest(dn, nil)
		for name, values := range attrs {
			req.Attribute(name, values)
		}
		s.write(t, "add "+dn, func(c *ldap.Conn) error { return c.Add(req) })
	}
	add(s.BaseDN, map[string][]string{
		"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"},
	})
	for _, ou := range []string{"people", "groups", "services"} {
		add("ou="+ou+","+s.BaseDN, map[string][]string{
			"objectClass": {"organizationalUnit"}, "ou": {ou},
		})
	}
	add(s.BindDN, map[string][]string{
		"objectClass":  {"organizationalRole", "simpleSecurityObject"},
		"cn":           {"latchkey"},
		"userPassword": {s.BindPassword},
	})
	s.AddUser(t, "ada", "Ada Lovelace", "ada@example.org", "ada-secret-1")
	s.AddUser(t, "grace", "Grace Hopper", "grace@example.org", "grace-secret-1")
	s.AddUser(t, "linus", "Linus Torvalds", "", "linus-secret-1")
	s.AddGroup(t, "developers", "ada", "grace")
	s.AddGroup(t, "admins", "grace")
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// slapdCertificates makes a test CA and a server certificate it signs for
// 127.0.0.1 and localhost, valid for a day; it returns the PEM of the CA,
// of the server certificate and of its PKCS #8 key.
func slapdCertificates() (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Latchkey test LDAP CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return caPEM, certPEM, keyPEM, nil
}
