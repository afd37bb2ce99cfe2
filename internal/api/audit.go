package api

import (
	"fmt"
	"latchkey/internal/audit"
	"net/http"

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
