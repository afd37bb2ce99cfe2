package api

import (
	"fmt"
	"latchkey/internal/audit"
	"net/http"
	"net/url"

	"latchkey/internal/oauth"
	"latchkey/internal/store"
)

// audit records a change made through the API in the audit trail that the
// admin pages show: who (the token's user and application), from where,
// and what.
func (a *API) audit(r *http.Request, c *oauth.Caller, event audit.Event, format string, args ...any) {
	a.cfg.Provider.Audit(r.Context(), store.AuditEvent{
		Event: event, UserID: c.User.ID, Username: c.User.Username, ClientID: c.ClientID,
		Remote: oauth.RemoteAddress(r), Detail: fmt.Sprintf(format, args...),
	})
}

// auditHook records a change to a webhook of repo: its ID and the host it
// sends to (the rest of the URL may hold a secret of the receiver's, as
// chat webhooks do, so it is left out).
func (a *API) auditHook(r *http.Request, c *oauth.Caller, event audit.Event, repo store.Repo, h store.Webhook) {
	host := h.URL
	if u, err := url.Parse(h.URL); err == nil {
		host = u.Host
	}
	a.audit(r, c, event, "webhook %d of repository %s/%s, sending to %s", h.ID, repo.ProjectKey, repo.Slug, host)
}
