package access

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"latchkey/internal/fault"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
)

// Reason says why a request is answered with an error; an adapter words
// its body by it.
type Reason int

// Reasons.
const (
	// Fault: the server failed, or the request holds a value it cannot
	// store (the status is package fault's).
	Fault Reason = iota
	// NoCredentials: the request needs credentials and carried none.
	NoCredentials
	// BadCredentials: the credentials are malformed or the token is not
	// live (Bearer says how).
	BadCredentials
	// Hidden: the caller may not see the resource, or it does not exist.
	Hidden
	// NeedsScope: the token's scopes are too low (RFC 6750's
	// insufficient_scope).
	NeedsScope
	// NotPermitted: the scopes would do, but the user may not.
	NotPermitted
)

// Answer is the HTTP answer to a protected request that failed.
type Answer struct {
	Reason Reason
	Status int
	// Challenges are the WWW-Authenticate values, in order.
	Challenges []string
	// Bearer is the RFC 6750 error the body names: set for NoCredentials,
	// BadCredentials, NeedsScope, and a Fault of the token check itself;
	// nil where the resource answers in its own words.
	Bearer *oauth.Error
	// What names a Hidden resource as the request did (Denied.What).
	What string
}

// Answer is how the resource answers err, the error of a protected
// request: an authentication failure (ErrNoCredentials, an *oauth.Error), a
// refusal (*Denied) or anything else, which is a Fault with the status of
// fault.Status.
//
// Statuses: 401 with every scheme's challenge for missing or bad
// credentials (400 for a malformed header unless the resource prompts);
// the token check's own status when it fails (503 while the database is
// unavailable); 404 for a hidden resource (401 for an anonymous caller when
// the resource prompts); 401 for an anonymous caller that would otherwise
// be refused 403; 403 with the Bearer insufficient_scope challenge when
// the scopes are too low; 403 when the user may not.
func (g *Guard) Answer(err error) Answer {
	var d *Denied
	var e *oauth.Error
	switch {
	case errors.As(err, &d):
		return g.refusal(d)
	case errors.Is(err, ErrNoCredentials), errors.As(err, &e):
		return g.unauthenticated(err)
	}
	return Answer{Reason: Fault, Status: fault.Status(err)}
}

func (g *Guard) refusal(d *Denied) Answer {
	switch {
	case d.Anonymous && (g.cfg.Prompt || d.Verdict != scope.DenyHidden):
		return g.unauthenticated(ErrNoCredentials)
	case d.Verdict == scope.DenyHidden:
		return Answer{Reason: Hidden, Status: http.StatusNotFound, What: d.What}
	case d.Verdict == scope.DenyScope:
		e := insufficientScope(d.Required)
		return Answer{Reason: NeedsScope, Status: e.Status, Challenges: []string{bearerChallenge(g, e, d.Required)}, Bearer: e}
	}
	return Answer{Reason: NotPermitted, Status: http.StatusForbidden}
}

// unauthenticated answers ErrNoCredentials or an error of the token check.
func (g *Guard) unauthenticated(err error) Answer {
	if errors.Is(err, ErrNoCredentials) {
		e := &oauth.Error{Code: oauth.CodeInvalidToken, Status: http.StatusUnauthorized, Description: "authentication is required"}
		if errors.Is(err, ErrUnsupportedScheme) {
			e.Description = "authentication is required, and this Authorization scheme is not accepted here; send " + g.forms()
		}
		return Answer{Reason: NoCredentials, Status: e.Status, Challenges: g.challenges(err), Bearer: e}
	}
	e := oauth.AsError(err)
	if e.Status >= 500 {
		return Answer{Reason: Fault, Status: e.Status, Bearer: e}
	}
	if g.cfg.Prompt && e.Status != http.StatusUnauthorized {
		prompted := *e
		prompted.Status = http.StatusUnauthorized
		e = &prompted
	}
	return Answer{Reason: BadCredentials, Status: e.Status, Challenges: g.challenges(err), Bearer: e}
}

// challenges are the challenges of every accepted scheme for an
// authentication failure.
func (g *Guard) challenges(err error) []string {
	var out []string
	for _, s := range g.cfg.Schemes {
		if s.challenge != nil {
			out = append(out, s.challenge(g, err))
		}
	}
	return out
}

// bearerChallenge is the WWW-Authenticate challenge of RFC 6750 §3 for
// err: without an error code when the request carried no credentials
// (naming the scope to ask for, if the resource says one), with err's
// code and description otherwise (and needed, the scope that would do,
// for insufficient_scope); and, when the resource has RFC 9728
// metadata, its resource_metadata URL in every case.
func bearerChallenge(g *Guard, err error, needed string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="latchkey"`)
	if errors.Is(err, ErrNoCredentials) {
		needed = g.cfg.ChallengeScope
	} else {
		e := oauth.AsError(err)
		fmt.Fprintf(&b, `, error=%q, error_description=%q`, e.Code, strings.ReplaceAll(e.Description, `"`, "'"))
	}
	if needed != "" {
		fmt.Fprintf(&b, `, scope=%q`, needed)
	}
	if g.cfg.ResourceMetadata != "" {
		fmt.Fprintf(&b, `, resource_metadata=%q`, g.cfg.ResourceMetadata)
	}
	return b.String()
}

// insufficientScope is RFC 6750's insufficient_scope (403).
func insufficientScope(required string) *oauth.Error {
	return &oauth.Error{Code: oauth.CodeInsufficientScope, Status: http.StatusForbidden,
		Description: fmt.Sprintf("the token's scope does not allow this; it needs %s", required)}
}

// Challenge adds the answer's challenges to h.
func (a Answer) Challenge(h http.Header) {
	for _, c := range a.Challenges {
		h.Add("WWW-Authenticate", c)
	}
}

// WriteJSON writes the answer as RFC 6750 §3 says: its challenges, its
// status and its Bearer error as JSON. It is for answers with a Bearer
// error; an adapter writes the others in its own words.
func (a Answer) WriteJSON(w http.ResponseWriter) {
	a.Challenge(w.Header())
	a.Bearer.WriteJSON(w)
}

// WriteText writes the answer with text as its plain-text body (git's
// way): its challenges and its status.
func (a Answer) WriteText(w http.ResponseWriter, text string) {
	a.Challenge(w.Header())
	http.Error(w, text, a.Status)
}
