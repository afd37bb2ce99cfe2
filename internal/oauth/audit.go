package oauth

import (
	"context"
	"net"
	"net/http"

	"latchkey/internal/store"
)

// Audit records a security event in the audit trail that the admin pages
// show, and in the log. Recording must not fail the request it describes,
// so a store error is logged and otherwise ignored; the write outlives a
// client that hangs up.
func (p *Provider) Audit(ctx context.Context, e store.AuditEvent) {
	if e.At.IsZero() {
		e.At = p.cfg.Now()
	}
	p.log.Info("audit", "event", e.Event, "user_id", e.UserID, "username", e.Username,
		"client_id", e.ClientID, "remote", e.Remote, "detail", e.Detail)
	if _, err := p.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		p.log.Error("record audit event", "event", e.Event, "error", err)
	}
}

// RemoteAddress is the address a request came from, without its port, as
// the audit trail records it.
func RemoteAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
