package testkit

import (
	"latchkey/internal/config"

	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mail is a message an SMTPSink accepted: the envelope and the raw data.
type Mail struct {
	From string
	To   []string
	Data string
}

// SMTPSink is a real SMTP server on 127.0.0.1 for tests: it speaks the
// protocol (EHLO or HELO, MAIL FROM, RCPT TO, DATA with dot-unstuffing,
// RSET, NOOP, QUIT) over TCP and keeps every message it accepts. It offers
// neither STARTTLS nor AUTH.
type SMTPSink struct {
	Addr string // host:port

	ln     net.Listener
	mu     sync.Mutex
	mails  []Mail
	notify chan struct{}
	silent bool
}

// NewSMTPSink starts a sink that lives as long as t.
func NewSMTPSink(t testing.TB) *SMTPSink { return startSink(t, false) }

// NewSilentSMTPSink starts a server that accepts connections and never
// says a word: a mail sent to it must give up at the sender's timeout.
func NewSilentSMTPSink(t testing.TB) *SMTPSink { return startSink(t, true) }

func startSink(t testing.TB, silent bool) *SMTPSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: SMTP sink: %v", err)
	}
	s := &SMTPSink{Addr: ln.Addr().String(), ln: ln, notify: make(chan struct{}, 1), silent: silent}
	var wg sync.WaitGroup
	wg.Go(func() { s.accept(&wg) })
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return s
}

// Port is the sink's TCP port.
func (s *SMTPSink) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Mails returns what the sink accepted so far.
func (s *SMTPSink) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// WaitFor returns the latest mail to the recipient, waiting up to 10 s.
func (s *SMTPSink) WaitFor(t testing.TB, to string) Mail {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		mails := s.Mails()
		for i := len(mails) - 1; i >= 0; i-- {
			for _, rcpt := range mails[i].To {
				if strings.EqualFold(rcpt, to) {
					return mails[i]
				}
			}
		}
		select {
		case <-s.notify:
		case <-deadline:
			t.Fatalf("testkit: no mail to %s arrived (got %d mails)", to, len(mails))
		}
	}
}

func (s *SMTPSink) accept(wg *sync.WaitGroup) {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		wg.Go(func() {
			defer conn.Close()
			if s.silent {
				_, _ = conn.Read(make([]byte, 1)) // until the client gives up
				return
			}
			_ = conn.SetDeadline(time.Now().Add(time.Minute))
			s.session(textproto.NewConn(conn))
		})
	}
}

// session serves one connection.
func (s *SMTPSink) session(c *textproto.Conn) {
	_ = c.PrintfLine("220 sink.test ESMTP ready")
	var m Mail
	for {
		line, err := c.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			_ = c.PrintfLine("250-sink.test greets %s", arg)
			_ = c.PrintfLine("250-8BITMIME")
			_ = c.PrintfLine("250 SMTPUTF8")
		case "HELO", "NOOP":
			_ = c.PrintfLine("250 ok")
		case "RSET":
			m = Mail{}
			_ = c.PrintfLine("250 ok")
		case "MAIL":
			m = Mail{From: envelopeAddr(arg)}
			_ = c.PrintfLine("250 ok")
		case "RCPT":
			m.To = append(m.To, envelopeAddr(arg))
			_ = c.PrintfLine("250 ok")
		case "DATA":
			if !s.data(c, &m) {
				return
			}
			m = Mail{}
		case "QUIT":
			_ = c.PrintfLine("221 bye")
			return
		default:
			_ = c.PrintfLine("502 command not implemented")
		}
	}
}

// data reads a message after DATA and keeps it.
func (s *SMTPSink) data(c *textproto.Conn, m *Mail) bool {
	if m.From == "" || len(m.To) == 0 {
		_ = c.PrintfLine("503 need MAIL and RCPT first")
		return true
	}
	_ = c.PrintfLine("354 end with <CRLF>.<CRLF>")
	lines, err := c.ReadDotLines()
	if err != nil {
		return false
	}
	m.Data = strings.Join(lines, "\n")
	s.mu.Lock()
	s.mails = append(s.mails, *m)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	_ = c.PrintfLine("250 queued")
	return true
}

// envelopeAddr takes the address out of "FROM:<a@b> SIZE=1" or "TO:<a@b>".
func envelopeAddr(arg string) string {
	_, rest, _ := strings.Cut(arg, ":")
	rest = strings.TrimSpace(rest)
	if i := strings.IndexByte(rest, '>'); strings.HasPrefix(rest, "<") && i > 0 {
		return rest[1:i]
	}
	return rest
}

// WithSMTP sends the node's mail to the sink: plain SMTP on loopback, as
// --smtp-host 127.0.0.1 --smtp-tls none would.
func WithSMTP(s *SMTPSink) Option {
	return func(c *config.Config) {
		c.SMTP = config.SMTP{Host: "127.0.0.1", Port: s.Port(), From: "latchkey@example.test", TLS: "none",
			Timeout: 2 * time.Second}
	}
}
