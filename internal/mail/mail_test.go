package mail_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"latchkey/internal/mail"
	"latchkey/internal/testkit"
)

func sender(t *testing.T, sink *testkit.SMTPSink, tlsMode string, timeout time.Duration) *mail.Sender {
	t.Helper()
	s, err := mail.New(mail.Config{Host: "127.0.0.1", Port: sink.Port(), From: "latchkey@example.test", TLS: tlsMode, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSendDeliversOverSMTP(t *testing.T) {
	sink := testkit.NewSMTPSink(t)
	err := sender(t, sink, mail.NoTLS, time.Second).Send(context.Background(),
		mail.Message{To: "bob@example.net", Subject: "Confirm", Body: "line one\nline two\n.\nend"})
	if err != nil {
		t.Fatal(err)
	}
	m := sink.WaitFor(t, "bob@example.net")
	if m.From != "latchkey@example.test" || !strings.Contains(m.Data, "To: bob@example.net") ||
		!strings.Contains(m.Data, "line two\n.\nend") {
		t.Fatalf("mail as received: %+v", m)
	}
}

func TestSendGivesUpAtTheTimeoutOnASilentServer(t *testing.T) {
	sink := testkit.NewSilentSMTPSink(t)
	start := time.Now()
	err := sender(t, sink, mail.NoTLS, 500*time.Millisecond).Send(context.Background(), mail.Message{To: "bob@example.net"})
	if err == nil {
		t.Fatal("a silent server took the mail")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Send took %v with a 500ms timeout", took)
	}
}

func TestStartTLSModeRefusesAServerWithoutSTARTTLS(t *testing.T) {
	sink := testkit.NewSMTPSink(t)
	err := sender(t, sink, mail.StartTLS, time.Second).Send(context.Background(), mail.Message{To: "bob@example.net", Body: "secret link"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want a refusal naming STARTTLS", err)
	}
	if n := len(sink.Mails()); n != 0 {
		t.Fatalf("%d mails went out in clear", n)
	}
}

func TestSendRefusesHeaderInjection(t *testing.T) {
	sink := testkit.NewSMTPSink(t)
	s := sender(t, sink, mail.NoTLS, time.Second)
	for _, m := range []mail.Message{{To: "bob@example.net\r\nBcc: eve@example.net"}, {To: "bob@example.net", Subject: "x\r\nBcc: eve@x"}} {
		if err := s.Send(context.Background(), m); err == nil {
			t.Fatalf("sent %+v", m)
		}
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	for _, c := range []mail.Config{
		{Port: 25, From: "a@b", TLS: mail.NoTLS},
		{Host: "h", Port: 0, From: "a@b", TLS: mail.NoTLS},
		{Host: "h", Port: 25, From: "A <a@b>", TLS: mail.NoTLS},
		{Host: "h", Port: 25, From: "a@b", TLS: "ssl"},
	} {
		if _, err := mail.New(c); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}
