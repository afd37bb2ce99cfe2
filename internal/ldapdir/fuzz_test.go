package ldapdir

import (
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// equalityValue compiles filter, which must be a single (attr=value)
// equality match, and returns its value.
func equalityValue(t *testing.T, filter string) string {
	t.Helper()
	p, err := ldap.CompileFilter(filter)
	if err != nil {
		t.Fatalf("filter %q does not compile: %v", filter, err)
	}
	if p.Tag != ldap.FilterEqualityMatch || len(p.Children) != 2 {
		t.Fatalf("filter %q is not one equality match: %s", filter, ldap.FilterMap[uint64(p.Tag)])
	}
	return string(p.Children[1].Data.Bytes())
}

// FuzzUserFilter: whatever the user name, the user filter stays one
// equality match whose value is exactly the user name (no injection, no
// wildcard).
func FuzzUserFilter(f *testing.F) {
	for _, s := range []string{"ada", "*", "ada)(uid=*", `\2a`, "a\x00b", "é", "\xff", "(", ")"} {
		f.Add(s)
	}
	c := Config{UserFilter: "(uid=%s)"}.WithDefaults()
	f.Fuzz(func(t *testing.T, username string) {
		if username == "" {
			return
		}
		if got := equalityValue(t, UserFilter(c, username)); got != username {
			t.Fatalf("user name %q became value %q", username, got)
		}
	})
}

// FuzzGroupFilter: the same for user DNs in the group filter.
func FuzzGroupFilter(f *testing.F) {
	for _, s := range []string{"uid=ada,ou=people,dc=example,dc=org", `cn=a\,b*,dc=x`, "cn=)(member=*"} {
		f.Add(s)
	}
	c := Config{GroupBase: "dc=x", GroupFilter: "(member=%s)"}.WithDefaults()
	f.Fuzz(func(t *testing.T, dn string) {
		if dn == "" {
			return
		}
		if got := equalityValue(t, GroupFilter(c, dn)); got != dn {
			t.Fatalf("DN %q became value %q", dn, got)
		}
	})
}

// FuzzValidate: Validate never panics, and a configuration it accepts
// yields compilable filters for any user name and DN and a TLS config.
func FuzzValidate(f *testing.F) {
	f.Add("ldap://127.0.0.1:389", true, "", "cn=svc,dc=x", "ou=people,dc=x",
		"(&(objectClass=inetOrgPerson)(uid=%s))", "uid", "ou=groups,dc=x", "(member=%s)", int64(0), "ada")
	f.Add("ldaps://[::1]", false, "-----BEGIN CERTIFICATE-----\n", "", "dc=x",
		"(uid=%s", "mail;x", "", "", int64(time.Second), "*")
	f.Add("ldap://h:0", false, "", "=", ",", "%s", "1.2.3", "dc=x", "%s%s", int64(-1), ")")
	f.Fuzz(func(t *testing.T, url string, startTLS bool, ca, bindDN, userBase, userFilter,
		attr, groupBase, groupFilter string, timeout int64, username string) {
		c := Config{
			URL: url, StartTLS: startTLS, CACert: ca, BindDN: bindDN, UserBase: userBase,
			UserFilter: userFilter, UsernameAttr: attr, GroupBase: groupBase,
			GroupFilter: groupFilter, Timeout: time.Duration(timeout),
		}
		if c.Validate() != nil {
			return
		}
		c = c.WithDefaults()
		if _, err := ldap.CompileFilter(UserFilter(c, username)); err != nil {
			t.Fatalf("valid config %+v: user filter for %q: %v", c, username, err)
		}
		if c.GroupBase != "" {
			if _, err := ldap.CompileFilter(GroupFilter(c, username)); err != nil {
				t.Fatalf("valid config %+v: group filter for %q: %v", c, username, err)
			}
		}
		if _, err := tlsConfig(c); err != nil {
			t.Fatalf("valid config %+v: TLS: %v", c, err)
		}
		if hostOf(c.URL) == "" {
			t.Fatalf("valid config %+v has no host", c)
		}
	})
}
