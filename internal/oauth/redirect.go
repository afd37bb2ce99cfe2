package oauth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// CheckRedirectURI validates a redirect URI at registration. It must be
// absolute, without fragment (RFC 6749 §3.1.2) and, in production, either
// https, http on a loopback host (RFC 8252 §7.3) or a private-use scheme
// with a reverse-domain name such as com.example.app:/cb (RFC 8252 §7.1).
// allowInsecure (the skip-redirect-URL-HTTPS setting) also allows plain
// http to any host.
func CheckRedirectURI(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("redirect URI %q is not a valid URI", raw)
	}
	if !u.IsAbs() {
		return fmt.Errorf("redirect URI %q is not absolute", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q must not contain a fragment", raw)
	}
	if u.User != nil {
		return fmt.Errorf("redirect URI %q must not contain user information", raw)
	}
	switch u.Scheme {
	case "https":
		return requireHost(u, raw)
	case "http":
		if err := requireHost(u, raw); err != nil {
			return err
		}
		if allowInsecure || IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("redirect URI %q must use https (plain http is allowed only for loopback hosts, or with the skip-redirect-URL-HTTPS setting)", raw)
	case "javascript", "data", "file", "vbscript", "blob", "about":
		return fmt.Errorf("redirect URI %q uses a forbidden scheme", raw)
	}
	if !strings.Contains(u.Scheme, ".") {
		return fmt.Errorf("redirect URI %q: a private-use scheme must be a reverse domain name such as com.example.app", raw)
	}
	return nil
}

func requireHost(u *url.URL, raw string) error {
	if u.Host == "" {
		return fmt.Errorf("redirect URI %q has no host", raw)
	}
	return nil
}

// IsLoopbackHost reports whether host is localhost or a loopback IP literal.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errNoMatch means a requested redirect URI matches no registered one.
var errNoMatch = errors.New("redirect URI is not registered")

// MatchRedirectURI finds the registered URI that requested matches. The
// match is exact, character for character, except on a loopback host
// (http or https on a loopback IP literal such as 127.0.0.1 or [::1], or on
// "localhost"), where the port may differ (RFC 8252 §7.3): native apps pick
// a free port at run time. RFC 8252 §8.3 advises IP literals over
// "localhost", but tools send it (git-credential-oauth with a configured
// redirect URL, for one), and only a URI registered with "localhost"
// matches one requested with it. There everything but the
// port must still be the same, character for character (an empty path
// counts as "/").
func MatchRedirectURI(registered []string, requested string) (string, error) {
	for _, r := range registered {
		if r == requested {
			return requested, nil
		}
	}
	want, ok := withoutLoopbackPort(requested)
	if !ok {
		return "", errNoMatch
	}
	for _, r := range registered {
		if got, ok := withoutLoopbackPort(r); ok && got == want {
			return requested, nil
		}
	}
	return "", errNoMatch
}

// withoutLoopbackPort returns raw with the port of its authority removed
// and an empty path written as "/", if raw is an http(s) URI on a loopback
// IP literal or on "localhost" (in lower case), without user information
// or fragment.
func withoutLoopbackPort(raw string) (string, bool) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "http" && scheme != "https") || strings.ContainsAny(raw, "#@\\") {
		return "", false
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		i := strings.Index(authority, "]")
		if i < 0 {
			return "", false
		}
		host, port = authority[:i+1], authority[i+1:]
	} else if i := strings.LastIndex(authority, ":"); i >= 0 {
		host, port = authority[:i], authority[i:]
	}
	if port != "" {
		if _, err := strconv.ParseUint(strings.TrimPrefix(port, ":"), 10, 16); err != nil || !strings.HasPrefix(port, ":") {
			return "", false
		}
	}
	if !isLoopbackIP(strings.Trim(host, "[]")) && host != "localhost" {
		return "", false
	}
	if !strings.HasPrefix(tail, "/") {
		tail = "/" + tail
	}
	if _, err := url.Parse(raw); err != nil {
		return "", false
	}
	return scheme + "://" + host + tail, true
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
