package server

import (
	"fmt"
	"latchkey/internal/fault"
	"latchkey/internal/store"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"
)

// contentSecurityPolicy allows only the server's own style sheet and
// script (static/webauthn.js, which fetches only from this origin), and no
// framing. form-action is left out on purpose: the consent form's answer is
// a redirect to the client, which form-action would block.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"

// readScope gives each request one store.ReadScope: the read cache checks
// once per request that it has caught up with every committed change. It
// wraps logRequests, which must see the request the mux fills in (its
// Pattern names the route in the metrics).
func readScope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(store.WithReadScope(r.Context())))
	})
}

// commonHeaders sets the headers every response carries.
func commonHeaders(https bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		if https {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// pageHeaders marks pages uncacheable: they carry CSRF tokens and sessions.
func pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status and gives every 503 its Retry-After
// (fault.MarkRetry).
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		fault.MarkRetry(code, s.Header())
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (git transfers
// lift their deadlines through it).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// logRequests logs one line per request and records its metrics. It logs the path only: query
// strings may carry client secrets (Bitbucket clients send them there).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		elapsed := time.Since(start)
		s.metrics.observe(r, rec.status, elapsed)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", elapsed),
			slog.String("remote", r.RemoteAddr))
	})
}

// recoverPanics turns a panic into a logged 500 instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// proxies are the reverse proxies whose X-Forwarded-For is believed.
type proxies []netip.Prefix

// parseProxies reads the --trusted-proxies setting.
func parseProxies(setting string) (proxies, error) {
	var out proxies
	for _, item := range strings.Split(setting, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			addr, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an address or CIDR", item)
			}
			out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an address or CIDR", item)
		}
		out = append(out, prefix.Masked())
	}
	return out, nil
}

func (ps proxies) trusted(addr netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// clientAddress replaces RemoteAddr with the client's address when the
// request came through a trusted proxy: the right-most X-Forwarded-For
// entry that is not itself a trusted proxy. Login throttling, audit and
// logs then see the client, not the load balancer.
func clientAddress(ps proxies, next http.Handler) http.Handler {
	if len(ps) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && ps.trusted(peer.Addr()) {
			if client, ok := forwardedClient(ps, r.Header.Values("X-Forwarded-For")); ok {
				r.RemoteAddr = netip.AddrPortFrom(client, 0).String()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func forwardedClient(ps proxies, headers []string) (netip.Addr, bool) {
	var hops []string
	for _, h := range headers {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false
		}
		if !ps.trusted(addr) {
			return addr.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// cors lets browser applications on other origins call the API mux: the
// token, revocation, introspection, device and userinfo endpoints and the
// REST API. They authenticate with credentials the application holds
// (client secret, PKCE verifier, bearer token), never with cookies, so
// allowing any origin exposes nothing a cross-site page could not already
// send. Preflight requests are answered here.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, X-AUSERNAME, Link, X-Total-Count, Retry-After, Mcp-Session-Id")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
			// The MCP streamable HTTP transport's own headers too, for
			// MCP clients that run in a browser.
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-ID")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
