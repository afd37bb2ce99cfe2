// Package mail sends Latchkey's few mails (the link that confirms an email
// address) over SMTP to the one server an administrator configured, with
// net/smtp from the standard library. Every step of a delivery (connect,
// TLS, greeting, authentication, the message) runs under one deadline, so
// a slow or silent server cannot hold the request that sends beyond it.
//
// The SMTP server is a setting of the operator, never a value of a
// request, so the guard against server-side request forgery that other
// outbound requests take does not apply: Latchkey talks only to that host.
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// TLS modes.
const (
	// StartTLS connects in plain text and upgrades with STARTTLS before
	// anything else; a server that does not offer it is refused.
	StartTLS = "starttls"
	// ImplicitTLS speaks TLS from the first byte (SMTPS, usually port 465).
	ImplicitTLS = "tls"
	// NoTLS sends in plain text; only for a loopback server or with an
	// explicit allowance (config checks that).
	NoTLS = "none"
)

// DefaultTimeout bounds one delivery when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config is the SMTP server and the sender's address.
type Config struct {
	Host     string
	Port     int
	From     string // the envelope and header sender, a bare address
	Username string // empty: no authentication
	Password string
	TLS      string        // StartTLS, ImplicitTLS or NoTLS
	Timeout  time.Duration // bounds a whole delivery
	// RootCAs, when set, replaces the system roots to verify the server
	// (for tests with their own certificate authority).
	RootCAs *x509.CertPool
}

// Sender delivers mails through one SMTP server. It is safe for
// concurrent use: each delivery opens its own connection.
type Sender struct{ cfg Config }

// New checks cfg and returns a Sender.
func New(cfg Config) (*Sender, error) {
	switch {
	case cfg.Host == "":
		return nil, errors.New("mail: no SMTP host")
	case cfg.Port <= 0 || cfg.Port > 65535:
		return nil, fmt.Errorf("mail: SMTP port %d out of range", cfg.Port)
	case cfg.From == "" || strings.ContainsAny(cfg.From, "\r\n<>"):
		return nil, fmt.Errorf("mail: the sender address %q must be a bare address", cfg.From)
	case cfg.TLS != StartTLS && cfg.TLS != ImplicitTLS && cfg.TLS != NoTLS:
		return nil, fmt.Errorf("mail: TLS mode %q must be starttls, tls or none", cfg.TLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Sender{cfg: cfg}, nil
}

// Message is one plain-text mail to one recipient. To must be a bare
// address (checked by the caller); Subject and Body are text.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Send delivers m. It returns when the server accepted the message, or
// with an error at the latest when the configured timeout (or ctx) ends.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if strings.ContainsAny(m.To, "\r\n<>") || strings.ContainsAny(m.Subject, "\r\n") {
		return fmt.Errorf("mail: refusing a header with a line break or angle bracket")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("mail: connect to %s: %w", s.addr(), err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	err = s.deliver(conn, m)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("mail: send to %s through %s: %w", m.To, s.addr(), err)
	}
	return nil
}

func (s *Sender) addr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)) }

func (s *Sender) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: s.cfg.Host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}
}

// dial connects, with TLS from the start in ImplicitTLS mode.
func (s *Sender) dial(ctx context.Context) (net.Conn, error) {
	if s.cfg.TLS == ImplicitTLS {
		d := &tls.Dialer{Config: s.tlsConfig()}
		return d.DialContext(ctx, "tcp", s.addr())
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.addr())
}

// deliver speaks SMTP on conn: EHLO, STARTTLS when required, AUTH when a
// user name is set, MAIL FROM, RCPT TO, DATA, QUIT.
func (s *Sender) deliver(conn net.Conn, m Message) error {
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if s.cfg.TLS == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the server does not offer STARTTLS (the TLS mode is starttls)")
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return err
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return err
		}
	}
	if err := c.Mail(s.cfg.From); err != nil {
		return err
	}
	if err := c.Rcpt(m.To); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(s.compose(m)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// compose builds the message: headers, then the body with CRLF line ends.
func (s *Sender) compose(m Message) []byte {
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("From", s.cfg.From)
	header("To", m.To)
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(m.Body, "\r\n", "\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	if !strings.HasSuffix(body, "\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}
