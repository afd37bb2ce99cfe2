// Package outbound is the one HTTP client through which Latchkey itself
// sends requests to addresses that users chose (webhook deliveries, and
// whatever comes later): it guards against server-side request forgery.
//
// Its rules:
//
//   - The address a connection goes to is checked when it is dialled,
//     after the host name was resolved (net.Dialer.Control sees the IP
//     the socket connects to), so a name that resolves to a private
//     address, or that changes its answer between a check and the
//     connection (DNS rebinding), is refused all the same. Refused:
//     loopback, link-local, private (RFC 1918 and IPv6 unique local),
//     unspecified, "this network" 0.0.0.0/8, multicast, broadcast and the
//     reserved 240.0.0.0/4, the shared address space of carrier-grade NAT
//     (100.64.0.0/10), and the IPv4-mapped IPv6 forms of all of those,
//     unless the host name or the address is on the administrator's allow
//     list (AllowList).
//   - No redirect is followed: a 3xx is the answer.
//   - No proxy is taken from the environment.
//   - Every request has a total timeout (connection, request and reading
//     the whole answer), and at most MaxBody bytes of an answer are read.
package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Defaults of Config.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxBody = 64 << 10
)

// Config is how a Client behaves. Zero fields take the defaults.
type Config struct {
	// Allow lists the hosts and addresses that may be reached although
	// they are internal; nil allows none.
	Allow *AllowList
	// Timeout bounds a whole request: dialling, sending, and reading the
	// answer's body.
	Timeout time.Duration
	// MaxBody is how many bytes of an answer's body are read at most.
	MaxBody int64
	// RootCAs, if set, are the certificate authorities that https
	// answers are verified against instead of the system's (tests).
	RootCAs *x509.CertPool
}

// Client sends requests under the package's rules. It is safe for
// concurrent use.
type Client struct {
	http    *http.Client
	allow   *AllowList
	maxBody int64
}

// New builds a client.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	c := &Client{allow: cfg.Allow, maxBody: cfg.MaxBody}
	transport := &http.Transport{
		Proxy:                  nil, // never from the environment
		DialContext:            c.dial,
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	if cfg.RootCAs != nil {
		transport.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	c.http = &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c
}

// Response is an answer: its status, headers, and the start of its body
// (at most the client's MaxBody bytes; Truncated says whether more came).
type Response struct {
	Status    int
	Header    http.Header
	Body      []byte
	Truncated bool
}

// Do sends req and reads its answer. A redirect is returned as the answer
// it is. An error is a *RefusedError (errors.As) when the address was
// refused.
func (c *Client) Do(req *http.Request) (*Response, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("outbound: scheme %q is not http or https", req.URL.Scheme)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if int64(len(body)) > c.maxBody {
		out.Body, out.Truncated = body[:c.maxBody], true
	}
	if err != nil {
		return out, fmt.Errorf("outbound: read the answer: %w", err)
	}
	return out, nil
}

// RefusedError says that an address was refused.
type RefusedError struct {
	Addr   netip.Addr
	Reason string // e.g. "loopback"
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("outbound: %s is a %s address, which is not allowed (an administrator may allow it with the allowed-hosts setting of the feature)", e.Addr, e.Reason)
}

// dial connects to addr; unless its host is on the allow list by name,
// the address it resolves to is checked just before the socket connects.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !c.allow.hostAllowed(host) {
		d.Control = c.control
	}
	return d.DialContext(ctx, network, addr)
}

// control runs after the name was resolved, before the connection is made.
func (c *Client) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("outbound: unexpected dial address %q: %w", address, err)
	}
	ip := ap.Addr().Unmap()
	if c.allow.addrAllowed(ip) {
		return nil
	}
	if reason := Internal(ip); reason != "" {
		return &RefusedError{Addr: ip, Reason: reason}
	}
	return nil
}

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	reserved4 = netip.MustParsePrefix("240.0.0.0/4") // includes 255.255.255.255
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
)

// Internal says why ip is not an address on the public internet, in a
// word ("loopback", "private", ...), or "" when it is one. An IPv4-mapped
// IPv6 address is judged as the IPv4 address it carries, and so is an
// address of the well-known NAT64 prefix.
func Internal(ip netip.Addr) string {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsPrivate():
		return "private"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case cgnat.Contains(ip):
		return "carrier-grade NAT"
	case thisNet.Contains(ip):
		return "\"this network\""
	case reserved4.Contains(ip):
		return "reserved"
	}
	return ""
}

// AllowList is the administrator's list of internal hosts and addresses
// that may be reached: host names (compared case-insensitively, without
// a trailing dot), IP addresses and CIDR prefixes. A name on the list
// allows whatever it resolves to; an address or prefix allows connections
// to those addresses whatever name led there.
type AllowList struct {
	names    map[string]bool
	prefixes []netip.Prefix
}

// ParseAllowList reads a comma-separated list (spaces around the items
// are ignored; "" is the empty list).
func ParseAllowList(s string) (*AllowList, error) {
	a := &AllowList{names: map[string]bool{}}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			a.prefixes = append(a.prefixes, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(strings.Trim(item, "[]")); err == nil {
			ip = ip.Unmap().WithZone("")
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(item, "."))
		if !validHostName(name) {
			return nil, fmt.Errorf("%q is not a host name, an IP address or a CIDR prefix", item)
		}
		a.names[name] = true
	}
	return a, nil
}

func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// Empty reports whether the list allows nothing.
func (a *AllowList) Empty() bool { return a == nil || len(a.names) == 0 && len(a.prefixes) == 0 }

func (a *AllowList) hostAllowed(host string) bool {
	if a == nil {
		return false
	}
	if a.names[strings.ToLower(strings.TrimSuffix(host, "."))] {
		return true
	}
	return false
}

func (a *AllowList) addrAllowed(ip netip.Addr) bool {
	if a == nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// IsRefused reports whether err is (or wraps) a refusal of an address.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// HTTPClient is an *http.Client under the same rules as Do, for libraries
// that want one (an OpenID Connect relying party, say): the address
// check, no redirects, no proxy and the total timeout hold, and the body
// of every answer ends with an error after the client's MaxBody bytes, so
// a library reading it never holds more than that.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{
		Transport:     limitedTransport{c.http.Transport, c.maxBody},
		Timeout:       c.http.Timeout,
		CheckRedirect: c.http.CheckRedirect,
	}
}

// ErrBodyTooLarge is what reading an answer of HTTPClient returns after
// more bytes than the client's MaxBody.
var ErrBodyTooLarge = errors.New("outbound: the answer is larger than allowed")

type limitedTransport struct {
	next http.RoundTripper
	max  int64
}

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("outbound: scheme %q is not http or https", req.URL.Scheme)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

// limitedBody reads at most left bytes and then fails with
// ErrBodyTooLarge if the answer goes on.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
