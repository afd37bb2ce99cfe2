package server

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// FuzzForwardedFor feeds arbitrary X-Forwarded-For headers through the
// client-address middleware behind a trusted proxy: it never panics, and
// the address it settles on is either the proxy itself or an address that
// is not a trusted proxy.
func FuzzForwardedFor(f *testing.F) {
	for _, seed := range []string{"198.51.100.1", "1.2.3.4, 10.0.0.1", "", ",,,", "::1, fe80::1%eth0", "10.0.0.1", "999.1.1.1"} {
		f.Add(seed)
	}
	ps, _ := parseProxies("10.0.0.0/8")
	f.Fuzz(func(t *testing.T, xff string) {
		var got string
		h := clientAddress(ps, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.1.1.1:443"
		r.Header.Set("X-Forwarded-For", xff)
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got == "10.1.1.1:443" {
			return
		}
		ap, err := netip.ParseAddrPort(got)
		if err != nil || ps.trusted(ap.Addr()) {
			t.Fatalf("X-Forwarded-For %q gave RemoteAddr %q", xff, got)
		}
	})
}

// FuzzTrustedProxies feeds arbitrary --trusted-proxies settings to the
// parser: errors or prefixes, never a panic.
func FuzzTrustedProxies(f *testing.F) {
	for _, seed := range []string{"10.0.0.0/8, 192.168.1.5", "", "::1/128", "x", "1.2.3.4/99"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, setting string) {
		ps, err := parseProxies(setting)
		if err == nil {
			for _, p := range ps {
				if !p.IsValid() {
					t.Fatalf("%q gave an invalid prefix", setting)
				}
			}
		}
	})
}
