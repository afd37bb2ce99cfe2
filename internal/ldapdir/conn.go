package ldapdir

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Errors of Authenticate, Lookup and Check. ErrUnavailable is wrapped with a
// message that says what failed; none of them ever carries a password.
var (
	// ErrInvalidCredentials: no entry matches the user name, several do, or
	// the password is wrong (or empty).
	ErrInvalidCredentials = errors.New("ldapdir: invalid user name or password")
	// ErrNoSuchUser: Lookup found no entry for the user name.
	ErrNoSuchUser = errors.New("ldapdir: no such user in the directory")
	// ErrAmbiguous: Lookup found several entries for the user name (the
	// user filter is too broad); Authenticate reports ErrInvalidCredentials
	// in that case.
	ErrAmbiguous = errors.New("ldapdir: several directory entries match the user name")
	// ErrUnavailable: the directory cannot be used: it cannot be reached,
	// TLS failed, the service account's bind was refused, an operation
	// timed out or failed.
	ErrUnavailable = errors.New("ldapdir: directory unavailable")
)

// session is one connection to the directory, closed when the context that
// opened it is done.
type session struct {
	conn *ldap.Conn
	raw  net.Conn // the TCP connection under conn (and under TLS)
	c    Config
	ctx  context.Context
	stop func() bool
}

// open connects per c (LDAPS, or ldap:// with StartTLS when c.StartTLS),
// with the dial, the TLS handshake and every later operation bounded by
// c.Timeout, and closes the connection as soon as ctx is done. c must have
// its defaults applied and be valid.
//
// It dials itself (rather than with ldap.DialURL) to hold the TCP
// connection: closing it is what interrupts an operation at once when ctx
// ends, and its deadline is what bounds StartTLS's handshake.
func open(ctx context.Context, c Config) (*session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	tlsConf, err := tlsConfig(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: the directory URL does not parse", ErrUnavailable)
	}
	raw, err := dial(ctx, c, u, tlsConf)
	if err != nil {
		return nil, unavailable(ctx, "cannot connect to "+c.URL, err)
	}
	conn := ldap.NewConn(raw, u.Scheme == "ldaps")
	conn.Start()
	s := &session{conn: conn, c: c, ctx: ctx}
	if tc, ok := raw.(*tls.Conn); ok {
		s.raw = tc.NetConn()
	} else {
		s.raw = raw
	}
	s.stop = context.AfterFunc(ctx, func() { s.raw.Close() })
	if c.StartTLS {
		if err := s.startTLS(tlsConf); err != nil {
			s.Close()
			return nil, err
		}
	}
	conn.SetTimeout(c.Timeout)
	return s, nil
}

// dial opens the TCP connection to u's host (default port 389, or 636 for
// ldaps) and, for ldaps, completes the TLS handshake, all within c.Timeout.
func dial(ctx context.Context, c Config, u *url.URL, tlsConf *tls.Config) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	port := u.Port()
	if port == "" {
		port = ldap.DefaultLdapPort
		if u.Scheme == "ldaps" {
			port = ldap.DefaultLdapsPort
		}
	}
	d := &net.Dialer{Timeout: c.Timeout}
	raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil || u.Scheme != "ldaps" {
		return raw, err
	}
	tc := tls.Client(raw, tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake failed: %w", err)
	}
	return tc, nil
}

// startTLS upgrades the connection, with the request and the handshake
// bounded by Timeout through the TCP connection's deadline. (go-ldap's own
// request timeout must not be set yet: its timer would wait on the StartTLS
// request for as long again after a failed handshake.)
func (s *session) startTLS(conf *tls.Config) error {
	if err := s.raw.SetDeadline(time.Now().Add(s.c.Timeout)); err != nil {
		return unavailable(s.ctx, "StartTLS with "+s.c.URL+" failed", err)
	}
	if err := s.conn.StartTLS(conf); err != nil {
		return unavailable(s.ctx, "StartTLS with "+s.c.URL+" failed", err)
	}
	if err := s.raw.SetDeadline(time.Time{}); err != nil {
		return unavailable(s.ctx, "StartTLS with "+s.c.URL+" failed", err)
	}
	return nil
}

// Close ends the session.
func (s *session) Close() {
	s.stop()
	s.conn.Close()
}

// tlsConfig is TLS 1.2 or later, verifying the server's name from the URL
// against CACert's certificates, or the system roots when CACert is empty.
func tlsConfig(c Config) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: hostOf(c.URL)}
	if c.CACert != "" {
		pool, err := certPool(c.CACert)
		if err != nil {
			return nil, err
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// bindService binds as the service account, or stays anonymous when c has
// no BindDN. Any refusal is ErrUnavailable: the configuration is wrong.
func (s *session) bindService() error {
	if s.c.BindDN == "" {
		return nil
	}
	if s.c.BindPassword == "" {
		return fmt.Errorf("%w: the service account %q has no password configured", ErrUnavailable, s.c.BindDN)
	}
	if err := s.conn.Bind(s.c.BindDN, s.c.BindPassword); err != nil {
		if isResult(err) {
			return fmt.Errorf("%w: the service account's bind was refused (%s): %s", ErrUnavailable, s.c.BindDN, describe(err))
		}
		return unavailable(s.ctx, "binding as the service account failed", err)
	}
	return nil
}

// bindUser checks password by binding as dn. Wrong credentials (and any
// other refusal of this bind) are ErrInvalidCredentials; network trouble is
// ErrUnavailable.
func (s *session) bindUser(dn, password string) error {
	if password == "" {
		return ErrInvalidCredentials // never an unauthenticated bind
	}
	err := s.conn.Bind(dn, password)
	switch {
	case err == nil:
		return nil
	case ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidCredentials,
		ldap.LDAPResultInappropriateAuthentication, ldap.LDAPResultUnwillingToPerform,
		ldap.LDAPResultInsufficientAccessRights, ldap.ErrorEmptyPassword):
		return fmt.Errorf("%w (%s)", ErrInvalidCredentials, describe(err))
	case isResult(err):
		return fmt.Errorf("%w: the directory refused the user's bind: %s", ErrUnavailable, describe(err))
	default:
		return unavailable(s.ctx, "the user's bind failed", err)
	}
}

// isResult reports whether err is a result code sent by the server (not a
// client-side network, TLS or timeout error).
func isResult(err error) bool {
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork
}

// unavailable wraps err as ErrUnavailable with what failed, and with the
// context's error when the context ended the connection.
func unavailable(ctx context.Context, what string, err error) error {
	if cerr := ctxErr(ctx); cerr != nil {
		return fmt.Errorf("%w: %s: %w (%s)", ErrUnavailable, what, cerr, describe(err))
	}
	return fmt.Errorf("%w: %s: %s", ErrUnavailable, what, describe(err))
}

// ctxErr is ctx's error, or DeadlineExceeded when its deadline has passed
// (the dialer may see the deadline a moment before ctx does).
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// describe renders a go-ldap error without its "LDAP Result Code 200
// "Network Error"" prefix for client-side errors, and with the result
// name and the server's diagnostic message for server results.
func describe(err error) string {
	var le *ldap.Error
	if !errors.As(err, &le) || le.Err == nil {
		return err.Error()
	}
	if le.ResultCode >= ldap.ErrorNetwork {
		return le.Err.Error()
	}
	name := ldap.LDAPResultCodeMap[le.ResultCode]
	if msg := le.Err.Error(); msg != "" {
		return fmt.Sprintf("%s: %s", name, msg)
	}
	return name
}
