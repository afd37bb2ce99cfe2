package identity

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"latchkey/internal/store"
)

func TestParseMapping(t *testing.T) {
	good := []struct {
		in   string
		want Mapping
	}{
		{"developers=PROJECT_WRITE:PRJ", Mapping{Group: "developers", Permission: "PROJECT_WRITE", Project: "PRJ"}},
		{"admins=sys_admin", Mapping{Group: "admins", Permission: "SYS_ADMIN"}},
		{"cn=devs,ou=groups,dc=example,dc=org=REPO_WRITE:prj/code",
			Mapping{Group: "cn=devs,ou=groups,dc=example,dc=org", Permission: "REPO_WRITE", Project: "PRJ", Repo: "code"}},
		{"  platform/maintainers = PROJECT_ADMIN:PRJ ", Mapping{Group: "platform/maintainers", Permission: "PROJECT_ADMIN", Project: "PRJ"}},
	}
	for _, c := range good {
		got, err := ParseMapping(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseMapping(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		again, err := ParseMapping(got.String())
		if err != nil || again != got {
			t.Errorf("round trip of %q: %+v, %v", got.String(), again, err)
		}
	}
	bad := map[string]string{
		"":                            "write GROUP=PERMISSION",
		"developers":                  "write GROUP=PERMISSION",
		"=SYS_ADMIN":                  "write GROUP=PERMISSION",
		"developers=":                 "write GROUP=PERMISSION",
		"developers=OWNER":            "unknown permission",
		"developers=PROJECT_WRITE":    "applies to project targets",
		"developers=SYS_ADMIN:PRJ":    "applies to global targets",
		"developers=REPO_READ:PRJ":    "applies to repo targets",
		"developers=REPO_READ:/code":  "needs its project",
		"developers=PROJECT_READ:P J": "not valid",
	}
	for in, want := range bad {
		if _, err := ParseMapping(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMapping(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

func TestMappingMatchesGroupsWithoutCase(t *testing.T) {
	m := Mapping{Group: "CN=Admins,OU=Groups,DC=corp", Permission: "SYS_ADMIN"}
	if !m.matches([]string{"x", "cn=admins,ou=groups,dc=corp"}) {
		t.Error("a DN in another case does not match")
	}
	if m.matches([]string{"admins"}) || m.matches(nil) {
		t.Error("a mapping matched a group it does not name")
	}
}

func TestMultiFactor(t *testing.T) {
	trust := Settings{TrustUpstreamMFA: true, MFAACRValues: []string{"gold"}}
	cases := []struct {
		name string
		s    Settings
		p    Person
		want bool
	}{
		{"mfa", trust, Person{AMR: []string{"mfa"}}, true},
		{"password and otp", trust, Person{AMR: []string{"pwd", "otp"}}, true},
		{"password and key", trust, Person{AMR: []string{"pwd", "hwk"}}, true},
		{"password alone", trust, Person{AMR: []string{"pwd"}}, false},
		{"two of a kind", trust, Person{AMR: []string{"otp", "sms"}}, false},
		{"named acr", trust, Person{ACR: "gold"}, true},
		{"other acr", trust, Person{ACR: "silver"}, false},
		{"nothing", trust, Person{}, false},
		{"not trusted", Settings{MFAACRValues: []string{"gold"}}, Person{AMR: []string{"mfa"}, ACR: "gold"}, false},
	}
	for _, c := range cases {
		if got := MultiFactor(c.s, c.p); got != c.want {
			t.Errorf("%s: MultiFactor = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	s := Settings{Mappings: []Mapping{{Group: "g", Permission: "ADMIN"}}, CreateUsers: true,
		SyncInterval: Duration(90 * time.Minute), LDAP: json.RawMessage(`{"url":"ldaps://x"}`)}
	got, err := DecodeSettings(store.IdentitySource{Name: "x", Config: s.Encode()})
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(got.SyncInterval) != 90*time.Minute || !got.CreateUsers || len(got.Mappings) != 1 ||
		string(got.LDAP) != `{"url":"ldaps://x"}` {
		t.Errorf("round trip: %+v", got)
	}
	if !strings.Contains(string(s.Encode()), `"sync_interval":"1h30m0s"`) {
		t.Errorf("the interval is not stored as text: %s", s.Encode())
	}
	for _, bad := range []string{`{"sync_interval":"soon"}`, `{"sync_interval":true}`, `not json`} {
		if _, err := DecodeSettings(store.IdentitySource{Name: "x", Config: []byte(bad)}); err == nil {
			t.Errorf("DecodeSettings(%s) succeeded", bad)
		}
	}
	if err := (Settings{SyncInterval: Duration(time.Second)}).Validate(); err == nil {
		t.Error("a sync every second is allowed")
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"corp", "keycloak-2", "a", "0x"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "new", "Corp", "-x", "a/b", "a b", strings.Repeat("a", 33), "é"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
}

// FuzzParseMapping: any text either parses into a mapping that is valid
// and reads back the same, or is refused; it never panics.
func FuzzParseMapping(f *testing.F) {
	for _, s := range []string{"developers=PROJECT_WRITE:PRJ", "cn=a,dc=b=SYS_ADMIN", "x=REPO_READ:P/r", "=", "a=b:c/d/e", "a=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMapping(s)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("ParseMapping(%q) gave an invalid mapping %+v: %v", s, m, err)
		}
		again, err := ParseMapping(m.String())
		if err != nil || again != m {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", m.String(), again, err, m)
		}
	})
}

// FuzzDecodeSettings: stored settings of any shape decode or fail cleanly.
func FuzzDecodeSettings(f *testing.F) {
	f.Add([]byte(`{"ldap":{"url":"ldaps://x"},"mappings":[{"group":"g","permission":"ADMIN"}],"sync_interval":"1h"}`))
	f.Add([]byte(`{"oidc":{"issuer":"https://x"},"create_users":true,"mfa_acr_values":["a"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSettings(store.IdentitySource{Name: "x", Config: b})
		if err != nil {
			return
		}
		_ = s.Validate()
		_, _ = LDAPConfig(s)
		_, _ = OIDCSettings(s)
	})
}
