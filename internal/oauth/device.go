package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// Device authorization grant (RFC 8628).
const (
	// DevicePath is where the person enters the user code.
	DevicePath = "/login/device"
	// DeviceCodePath is the device authorization endpoint.
	DeviceCodePath = "/login/device/code"

	deviceCodeTTL      = 10 * time.Minute
	devicePollInterval = 5 * time.Second
	slowDownStep       = 5 * time.Second // RFC 8628 §3.5
	userCodeLength     = 8
)

// userCodeAlphabet has no vowels (no words) and no look-alikes (0/O, 1/I),
// as RFC 8628 §6.1 advises: 20 letters, 8 of them give 34 bits.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// RFC 8628 §3.5 error codes.
const (
	CodeAuthorizationPending = "authorization_pending"
	CodeSlowDown             = "slow_down"
	CodeExpiredToken         = "expired_token"
)

// deviceAuthorization is the RFC 8628 §3.2 response.
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceAuthorizationHandler serves the device authorization endpoint
// (RFC 8628 §3.1): the client authenticates as at the token endpoint (a
// public client by client_id alone) and gets a device code to poll with and
// a user code for the person.
func (p *Provider) DeviceAuthorizationHandler() http.Handler {
	return p.jsonEndpoint(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return p.deviceAuthorization(w, r)
	})
}

func (p *Provider) deviceAuthorization(w http.ResponseWriter, r *http.Request) (*deviceAuthorization, error) {
	params, client, err := p.authenticatedPost(w, r)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(client.GrantTypes, GrantDeviceCode) {
		return nil, UnauthorizedClient("the client is not registered for the device authorization grant")
	}
	t, err := p.resolveTarget(r.Context(), params.Resources())
	if err != nil {
		return nil, err
	}
	scopes, e := p.requestedScopes(client, params.Get("scope"), t)
	if e != nil {
		return nil, e
	}
	deviceCode := secret.New(secret.DeviceCodePrefix)
	now := p.cfg.Now()
	userCode, err := p.storeDeviceCode(r.Context(), store.DeviceCode{
		Hash: secret.Hash(deviceCode), ClientID: client.ID, Scopes: scopes, Resources: t.ids, Status: store.DevicePending,
		Interval: devicePollInterval, CreatedAt: now, ExpiresAt: now.Add(deviceCodeTTL),
		SourceAddress: RemoteAddress(r),
	})
	if err != nil {
		return nil, ServerError(err)
	}
	display := FormatUserCode(userCode)
	return &deviceAuthorization{
		DeviceCode: deviceCode, UserCode: display,
		VerificationURI:         p.cfg.Issuer + DevicePath,
		VerificationURIComplete: p.cfg.Issuer + DevicePath + "?user_code=" + display,
		ExpiresIn:               int64(deviceCodeTTL.Seconds()), Interval: int64(devicePollInterval.Seconds()),
	}, nil
}

// storeDeviceCode draws user codes until one is free.
func (p *Provider) storeDeviceCode(ctx context.Context, d store.DeviceCode) (string, error) {
	for range 5 {
		d.UserCode = newUserCode()
		err := p.store.CreateDeviceCode(ctx, d)
		if err == nil {
			return d.UserCode, nil
		}
		if !errors.Is(err, store.ErrAlreadyExists) {
			return "", fmt.Errorf("device authorization: store: %w", err)
		}
	}
	return "", errors.New("device authorization: no free user code after 5 draws")
}

func newUserCode() string {
	b := make([]byte, userCodeLength)
	for i := range b {
		b[i] = userCodeAlphabet[randIndex(len(userCodeAlphabet))]
	}
	return string(b)
}

// randIndex draws uniformly from [0, n) with crypto/rand.
func randIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// NormalizeUserCode makes what a person typed comparable: upper case,
// without spaces and dashes.
func NormalizeUserCode(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '-' || c == ' ':
		case 'a' <= c && c <= 'z':
			out = append(out, c-'a'+'A')
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

// FormatUserCode writes a user code as XXXX-XXXX for people.
func FormatUserCode(code string) string {
	if len(code) != userCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// withoutOfflineAccess is requested without offline_access when the client
// may use the refresh_token grant: OpenID Connect's request for a refresh
// token (Core §11) is then the client's to make whatever scopes it was
// registered for (relying parties send it by default); the consent page
// shows it like any other scope. A client without refresh tokens is
// refused it (invalid_scope) unless an administrator registered it.
func withoutOfflineAccess(client store.Client, requested scope.Set) scope.Set {
	if !slices.Contains(requested, scope.OfflineAccess) || !slices.Contains(client.GrantTypes, GrantRefreshToken) {
		return requested
	}
	return slices.DeleteFunc(slices.Clone(requested), func(s string) bool { return s == scope.OfflineAccess })
}

// DeviceRequest is a pending device authorization a person is looking at.
type DeviceRequest struct {
	Code   store.DeviceCode
	Client store.Client
	// Servers are the external resource servers among the resources the
	// request named, for the page to name.
	Servers []store.ResourceServer
}

// ErrUnknownUserCode means a user code is unknown, expired or already used;
// the page says so without telling which.
var ErrUnknownUserCode = errors.New("the code is not valid or has expired")

// LookupDevice finds the pending device authorization for a user code.
func (p *Provider) LookupDevice(ctx context.Context, userCode string) (*DeviceRequest, error) {
	code := NormalizeUserCode(userCode)
	if len(code) != userCodeLength {
		return nil, ErrUnknownUserCode
	}
	d, err := p.store.GetDeviceCodeByUserCode(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownUserCode
	}
	if err != nil {
		return nil, fmt.Errorf("device: load code: %w", err)
	}
	if d.Status != store.DevicePending || !p.cfg.Now().Before(d.ExpiresAt) {
		return nil, ErrUnknownUserCode
	}
	client, err := p.client(ctx, d.ClientID)
	if err != nil || client.Suspended {
		return nil, ErrUnknownUserCode
	}
	t, err := p.resolveTarget(ctx, d.Resources)
	if err != nil {
		return nil, ErrUnknownUserCode // a resource server removed since
	}
	return &DeviceRequest{Code: d, Client: client, Servers: t.external}, nil
}

// DecideDevice records the person's answer to a pending device
// authorization; signIn is what their session signed in with.
func (p *Provider) DecideDevice(ctx context.Context, req *DeviceRequest, userID int64, authTime time.Time, signIn store.SignIn, approve bool) error {
	now := p.cfg.Now()
	_, err := p.store.UpdateDeviceCode(ctx, req.Code.Hash, now, func(d store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
		if d.Status != store.DevicePending || !now.Before(d.ExpiresAt) {
			return d, nil, ErrUnknownUserCode
		}
		d.Status, d.UserID, d.AuthTime, d.SignIn = store.DeviceDenied, userID, authTime, signIn
		if approve {
			d.Status = store.DeviceApproved
		}
		return d, nil, nil
	})
	return err
}

// deviceGrant polls a device authorization (RFC 8628 §3.4, §3.5).
type deviceGrant struct{ p *Provider }

func (g deviceGrant) handle(ctx context.Context, client store.Client, params Params) (*TokenResponse, error) {
	deviceCode := params.Get("device_code")
	if deviceCode == "" {
		return nil, InvalidRequest("device_code is required")
	}
	hash := secret.Hash(deviceCode)
	pre, h, err := g.holder(ctx, hash)
	if err != nil {
		return nil, err
	}
	var is issuance // what an approved authorization issues; nothing is issued before approval
	if pre.UserID != 0 {
		if is, err = g.p.issuanceOf(ctx, client.ID, pre.UserID, pre.AuthTime, pre.Scopes, pre.Resources, params.Resources()); err != nil {
			return nil, err
		}
	}
	now := g.p.cfg.Now()
	draw := drawTokens(slices.Contains(client.GrantTypes, GrantRefreshToken), now)
	var outcome *Error // the answer of the run that committed: each run sets it
	d, err := g.p.store.UpdateDeviceCode(ctx, hash, now, func(d store.DeviceCode) (store.DeviceCode, *store.Issue, error) {
		next, iss, e := g.poll(client, d, h, &draw, is, now)
		outcome = e
		if e != nil && next.LastPolledAt.Equal(d.LastPolledAt) && next.Interval == d.Interval {
			return d, nil, e // nothing to record
		}
		return next, iss, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, InvalidGrant("the device code is invalid")
	case err != nil:
		return nil, AsError(err)
	case outcome != nil:
		return nil, outcome
	}
	resp := g.p.response(draw, is.access)
	return resp, g.p.withIDToken(ctx, resp, IDTokenRequest{ClientID: client.ID, UserID: d.UserID, Scopes: d.Scopes,
		AuthTime: d.AuthTime, SignIn: d.SignIn})
}

// holder reads the user who answered the device authorization, if anyone
// has yet, before the poll.
func (g deviceGrant) holder(ctx context.Context, hash string) (store.DeviceCode, holder, error) {
	d, err := g.p.store.GetDeviceCode(ctx, hash)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.UserID == 0) {
		return store.DeviceCode{}, holder{}, nil
	}
	if err != nil {
		return store.DeviceCode{}, holder{}, AsError(fmt.Errorf("load device code: %w", err))
	}
	h, err := g.p.readHolder(ctx, d.UserID)
	return d, h, err
}

// poll decides one poll: the next state of the row and either the tokens
// to issue or the error to answer. h is the approver as read before the
// poll; an approval that landed since then answers authorization_pending
// without recording the poll, and the next poll gets the tokens.
func (g deviceGrant) poll(client store.Client, d store.DeviceCode, h holder, draw *tokenDraw, is issuance, now time.Time) (store.DeviceCode, *store.Issue, *Error) {
	switch {
	case d.ClientID != client.ID:
		return d, nil, InvalidGrant("the device code was issued to another client")
	case d.Status == store.DeviceConsumed:
		return d, nil, InvalidGrant("the device code was already used")
	case !now.Before(d.ExpiresAt):
		return d, nil, &Error{Code: CodeExpiredToken, Status: http.StatusBadRequest, Description: "the device code has expired"}
	case d.Status == store.DeviceDenied:
		return d, nil, &Error{Code: CodeAccessDenied, Status: http.StatusBadRequest, Description: "the user denied the request"}
	case d.Status == store.DevicePending:
		return pending(d, now)
	case d.UserID != h.userID:
		return d, nil, notAnsweredYet()
	}
	if err := h.check(d.UserID); err != nil {
		return d, nil, AsError(err)
	}
	toks, err := g.p.tokens(draw, is, now)
	if err != nil {
		return d, nil, AsError(err)
	}
	d.Status = store.DeviceConsumed
	iss := &store.Issue{Family: store.TokenFamily{Scopes: d.Scopes, AuthTime: d.AuthTime, CreatedAt: now, Lineage: draw.lineage,
		Resources: d.Resources, SignIn: d.SignIn}, Tokens: toks}
	return d, iss, nil
}

// pending answers a poll before the person decided: slow_down (and a
// longer interval) when the client polls faster than allowed.
func pending(d store.DeviceCode, now time.Time) (store.DeviceCode, *store.Issue, *Error) {
	tooSoon := !d.LastPolledAt.IsZero() && now.Sub(d.LastPolledAt) < d.Interval
	d.LastPolledAt = now
	if tooSoon {
		d.Interval += slowDownStep
		return d, nil, &Error{Code: CodeSlowDown, Status: http.StatusBadRequest,
			Description: fmt.Sprintf("polling too fast: wait %d seconds between requests", int(d.Interval.Seconds()))}
	}
	return d, nil, notAnsweredYet()
}

// notAnsweredYet is authorization_pending.
func notAnsweredYet() *Error {
	return &Error{Code: CodeAuthorizationPending, Status: http.StatusBadRequest, Description: "the user has not answered yet"}
}
