package upstream

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

func TestWithDefaults(t *testing.T) {
	s := Settings{Issuer: " https://id.example.org ", ClientID: "c"}.WithDefaults()
	if s.Issuer != "https://id.example.org" || !slices.Equal(s.Scopes, DefaultScopes) ||
		s.UsernameClaim != "preferred_username" || s.NameClaim != "name" || s.EmailClaim != "email" || s.GroupsClaim != "" {
		t.Errorf("defaults: %+v", s)
	}
	s = Settings{Scopes: []string{"profile groups", "profile"}}.WithDefaults()
	if !slices.Equal(s.Scopes, []string{"openid", "profile", "groups"}) {
		t.Errorf("scopes %q: want openid added, split and deduplicated", s.Scopes)
	}
}

func TestValidate(t *testing.T) {
	ok := Settings{Issuer: "https://id.example.org/realms/x", ClientID: "c"}
	for _, issuer := range []string{"https://id.example.org", "http://127.0.0.1:8080", "http://[::1]:9000/x", "http://localhost:5556/dex", "http://127.0.0.2"} {
		s := ok
		s.Issuer = issuer
		if err := s.Validate(); err != nil {
			t.Errorf("issuer %q: %v", issuer, err)
		}
	}
	bad := map[string]func(*Settings){
		"http non-loopback":    func(s *Settings) { s.Issuer = "http://id.example.org" },
		"http lookalike":       func(s *Settings) { s.Issuer = "http://localhost.example.org" },
		"no scheme":            func(s *Settings) { s.Issuer = "id.example.org" },
		"ftp":                  func(s *Settings) { s.Issuer = "ftp://id.example.org" },
		"empty issuer":         func(s *Settings) { s.Issuer = "" },
		"query":                func(s *Settings) { s.Issuer = "https://id.example.org/?a=b" },
		"fragment":             func(s *Settings) { s.Issuer = "https://id.example.org/#x" },
		"user info":            func(s *Settings) { s.Issuer = "https://u:p@id.example.org" },
		"no client id":         func(s *Settings) { s.ClientID = " " },
		"bad scope":            func(s *Settings) { s.Scopes = []string{"openid", "a\"b"} },
		"claim with space":     func(s *Settings) { s.NameClaim = "given name" },
		"groups claim control": func(s *Settings) { s.GroupsClaim = "gr\x01oups" },
	}
	for name, change := range bad {
		s := ok
		change(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s (%+v): no error", name, s)
		} else if strings.Contains(err.Error(), "upstream:") {
			t.Errorf("%s: message %q is not for an administrator", name, err)
		}
	}
}

func TestAuthStyle(t *testing.T) {
	cases := []struct {
		methods []string
		want    oauth2.AuthStyle
	}{
		{nil, oauth2.AuthStyleInHeader},
		{[]string{"client_secret_post", "client_secret_basic"}, oauth2.AuthStyleInHeader},
		{[]string{"client_secret_post", "private_key_jwt"}, oauth2.AuthStyleInParams},
	}
	for _, c := range cases {
		if got := authStyle(c.methods); got != c.want {
			t.Errorf("authStyle(%q) = %v, want %v", c.methods, got, c.want)
		}
	}
}
