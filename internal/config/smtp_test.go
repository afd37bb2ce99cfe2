package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSMTPWithoutTLSIsOnlyForLoopbackOrAnExplicitAllowance(t *testing.T) {
	base := SMTP{Port: 25, From: "latchkey@example.com", TLS: "none", Timeout: time.Second}
	cases := []struct {
		name    string
		edit    func(*SMTP)
		wantErr string
		warns   bool
	}{
		{"no host means no mail", func(s *SMTP) { s.Host = "" }, "", false},
		{"loopback in clear", func(s *SMTP) { s.Host = "127.0.0.1" }, "", false},
		{"localhost in clear", func(s *SMTP) { s.Host = "localhost" }, "", false},
		{"remote in clear is refused", func(s *SMTP) { s.Host = "mail.example.com" }, "--smtp-allow-insecure", false},
		{"remote in clear with the allowance warns", func(s *SMTP) { s.Host = "mail.example.com"; s.AllowInsecure = true }, "", true},
		{"a password in clear to a remote host is refused", func(s *SMTP) {
			s.Host, s.AllowInsecure, s.Username = "mail.example.com", true, "u"
		}, "in clear", false},
		{"starttls to a remote host", func(s *SMTP) { s.Host, s.TLS = "mail.example.com", "starttls" }, "", false},
		{"unknown TLS mode", func(s *SMTP) { s.Host, s.TLS = "mail.example.com", "ssl" }, "TLS mode", false},
		{"sender with a display name", func(s *SMTP) { s.Host, s.From = "127.0.0.1", "L <l@x>" }, "sender", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{SMTP: base}
			tc.edit(&c.SMTP)
			warnings, err := c.ValidateSMTP()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if (len(warnings) > 0) != tc.warns {
				t.Fatalf("warnings %q, want some: %v", warnings, tc.warns)
			}
		})
	}
}

func TestSMTPPasswordComesFromAFileOrTheEnvironment(t *testing.T) {
	c := Config{SMTP: SMTP{Host: "127.0.0.1", Port: 25, From: "l@example.com", TLS: "starttls", Username: "u"}}
	t.Setenv("LATCHKEY_SMTP_PASSWORD", "from-env")
	mc, err := c.MailConfig()
	if err != nil || mc.Password != "from-env" {
		t.Fatalf("env password: %+v, %v", mc, err)
	}
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.SMTP.PasswordFile = path
	if mc, err = c.MailConfig(); err != nil || mc.Password != "from-file" {
		t.Fatalf("file password: %+v, %v", mc, err)
	}
	if mc, err := (&Config{}).MailConfig(); mc != nil || err != nil {
		t.Fatalf("no host: %+v, %v", mc, err)
	}
}
