package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientAddressBelievesOnlyTrustedProxies(t *testing.T) {
	ps, err := parseProxies("10.0.0.0/8, 192.168.1.5")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, remote, xff, want string
	}{
		{"direct client keeps its address", "203.0.113.7:5555", "198.51.100.1", "203.0.113.7:5555"},
		{"trusted proxy names the client", "10.1.2.3:443", "198.51.100.1", "198.51.100.1:0"},
		{"right-most untrusted hop wins over a forged left part", "10.1.2.3:443", "1.2.3.4, 198.51.100.1, 10.9.9.9", "198.51.100.1:0"},
		{"single trusted address", "192.168.1.5:80", "198.51.100.2", "198.51.100.2:0"},
		{"garbage header keeps the proxy address", "10.1.2.3:443", "not-an-ip", "10.1.2.3:443"},
		{"all hops trusted keeps the proxy address", "10.1.2.3:443", "10.0.0.9", "10.1.2.3:443"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got string
			h := clientAddress(ps, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.remote
			r.Header.Set("X-Forwarded-For", c.xff)
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != c.want {
				t.Fatalf("RemoteAddr = %q, want %q", got, c.want)
			}
		})
	}
	if _, err := parseProxies("10.0.0.0/33"); err == nil {
		t.Fatal("a bad CIDR was accepted")
	}
}

func TestCORSForTheAPIButNoPreflightForPages(t *testing.T) {
	api := cors(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	pre := httptest.NewRequest(http.MethodOptions, "/login/oauth/access_token", nil)
	pre.Header.Set("Origin", "https://spa.example.com")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, pre)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "*" ||
		rec.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
	}
	plain := httptest.NewRequest(http.MethodPost, "/login/oauth/access_token", nil)
	rec = httptest.NewRecorder()
	api.ServeHTTP(rec, plain)
	if rec.Code != http.StatusTeapot || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("request without Origin: %d %v", rec.Code, rec.Header())
	}
}
