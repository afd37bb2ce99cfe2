package config

import "testing"

// TestUpperCaseHTTPSBaseURLIsNormalizedAndKeepsCookiesSecure: a base URL
// spelled HTTPS://Latchkey.Example.COM is the same URL as its lower-case
// form, so the issuer is spelled in lower case and cookies stay Secure.
func TestUpperCaseHTTPSBaseURLIsNormalizedAndKeepsCookiesSecure(t *testing.T) {
	c := Config{BaseURL: "HTTPS://Latchkey.Example.COM/", AccessTokenTTL: 1, RefreshTokenTTL: 1, CodeTTL: 1, SessionTTL: 1}
	if _, err := c.ValidateServe(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if got, want := c.Issuer(), "https://latchkey.example.com"; got != want {
		t.Errorf("issuer %q, want %q", got, want)
	}
	if !c.SecureCookies() {
		t.Error("cookies are not Secure on an HTTPS:// base URL")
	}
}

// TestNormalizingTheBaseURLKeepsThePathAndIsIdempotent: only scheme and
// host are case-insensitive; the path keeps its spelling.
func TestNormalizingTheBaseURLKeepsThePathAndIsIdempotent(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://Latchkey.Example.COM":          "https://latchkey.example.com",
		"https://Example.com:8443/Auth/":        "https://example.com:8443/Auth/",
		"Http://LOCALHOST:8080":                 "http://localhost:8080",
		"http://[::1]:8080/x":                   "http://[::1]:8080/x",
		"https://latchkey.example.com/%7Euser/": "https://latchkey.example.com/%7Euser/",
	} {
		c := Config{BaseURL: in}
		c.NormalizeBaseURL()
		if c.BaseURL != want {
			t.Errorf("%s normalized to %s, want %s", in, c.BaseURL, want)
		}
		c.NormalizeBaseURL()
		if c.BaseURL != want {
			t.Errorf("%s normalized twice to %s, want %s", in, c.BaseURL, want)
		}
	}
}
