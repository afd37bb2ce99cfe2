package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"latchkey/internal/store"
)

// startDevice asks the device authorization endpoint for a code as the
// public client id (RFC 8628 §3.1) and decodes the answer.
func (h *harness) startDevice(id string) deviceAuthorization {
	h.t.Helper()
	rec := h.post(h.p.DeviceAuthorizationHandler(), url.Values{"client_id": {id}}, "")
	if rec.Code != http.StatusOK {
		h.t.Fatalf("device authorization: %d %s", rec.Code, rec.Body)
	}
	wantNoStore(h.t, rec)
	var d deviceAuthorization
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		h.t.Fatalf("device authorization answer %q: %v", rec.Body, err)
	}
	return d
}

// poll asks the token endpoint for the device code's tokens as client id.
func (h *harness) poll(id, deviceCode string) *httptest.ResponseRecorder {
	return h.token(url.Values{"grant_type": {deviceGrantType}, "device_code": {deviceCode}, "client_id": {id}}, "")
}

// decide answers a pending device authorization as user.
func (h *harness) decide(userCode string, user int64, approve bool) error {
	ctx := context.Background()
	req, err := h.p.LookupDevice(ctx, userCode)
	if err != nil {
		return err
	}
	return h.p.DecideDevice(ctx, req, user, h.clock.Now(), store.SignIn{}, approve)
}

// deviceStep is one thing that happens to a device authorization: the
// clock moves, the person answers (or is disabled), or the client polls
// and gets want (an error code, or "tokens").
type deviceStep struct {
	advance time.Duration
	answer  string // "approve", "deny" or "disable" (alice, after approving)
	want    string
}

const gotTokens = "tokens"

// TestDeviceGrantPolling states RFC 8628 §3.5 as sequences of polls.
func TestDeviceGrantPolling(t *testing.T) {
	base := newHarness(t)
	pending, slowDown := deviceStep{want: CodeAuthorizationPending}, deviceStep{want: CodeSlowDown}
	for _, c := range []struct {
		name  string
		steps []deviceStep
	}{
		{"first poll before the person answers is authorization_pending", []deviceStep{pending}},
		{"poll within the interval is slow_down", []deviceStep{pending, slowDown}},
		{"poll exactly one interval later is authorization_pending", []deviceStep{pending, {advance: 5 * time.Second, want: CodeAuthorizationPending}}},
		{"each early poll is slow_down and lengthens the interval by 5 seconds", []deviceStep{
			pending,
			{advance: time.Second, want: CodeSlowDown},      // the interval is 10 s now
			{advance: 9 * time.Second, want: CodeSlowDown},  // 15 s
			{advance: 14 * time.Second, want: CodeSlowDown}, // 20 s
			{advance: 20 * time.Second, want: CodeAuthorizationPending},
		}},
		{"denied request is access_denied, and stays so", []deviceStep{pending, {answer: "deny", want: CodeAccessDenied}, {advance: time.Minute, want: CodeAccessDenied}}},
		{"approved request gives tokens once, then invalid_grant", []deviceStep{{answer: "approve", want: gotTokens}, {advance: time.Minute, want: CodeInvalidGrant}}},
		{"approved request gives tokens even to a poll within the interval", []deviceStep{pending, {answer: "approve", want: gotTokens}}},
		{"device code at its expiry (10 minutes) is expired_token", []deviceStep{pending, {advance: 10 * time.Minute, want: CodeExpiredToken}}},
		{"approved but expired device code is expired_token", []deviceStep{{answer: "approve"}, {advance: 10 * time.Minute, want: CodeExpiredToken}}},
		{"approval by a user disabled since is invalid_grant", []deviceStep{{answer: "approve"}, {answer: "disable", want: CodeInvalidGrant}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := base.sub(t)
			d := h.startDevice("pub")
			for i, s := range c.steps {
				h.clock.Advance(s.advance)
				h.answerDevice(d.UserCode, s.answer)
				if s.want == "" {
					continue
				}
				rec := h.poll("pub", d.DeviceCode)
				if s.want == gotTokens {
					h.wantDeviceTokens(rec)
					continue
				}
				if rec.Code != http.StatusBadRequest {
					t.Fatalf("step %d: status %d, want 400: %s", i, rec.Code, rec.Body)
				}
				wantError(t, rec, http.StatusBadRequest, s.want)
			}
		})
	}
}

func (h *harness) answerDevice(userCode, answer string) {
	h.t.Helper()
	switch answer {
	case "approve", "deny":
		if err := h.decide(userCode, h.alice.ID, answer == "approve"); err != nil {
			h.t.Fatalf("%s: %v", answer, err)
		}
	case "disable":
		h.disable(h.alice)
	}
}

// wantDeviceTokens asserts tokens for alice with the client's default
// scope, and a refresh token because pub is registered for refresh_token.
func (h *harness) wantDeviceTokens(rec *httptest.ResponseRecorder) {
	h.t.Helper()
	resp := wantTokens(h.t, rec)
	if resp.Scope != "PUBLIC_REPOS" || resp.RefreshToken == "" {
		h.t.Fatalf("device tokens with scope %q and refresh token %q", resp.Scope, resp.RefreshToken)
	}
	caller, err := h.caller(resp.AccessToken)
	if err != nil || caller.User.ID != h.alice.ID || caller.ClientID != "pub" {
		h.t.Fatalf("device access token acts for %+v (%v), want alice through pub", caller, err)
	}
}

// TestDeviceAuthorizationEndpoint states the RFC 8628 §3.2 answer and its
// refusals.
func TestDeviceAuthorizationEndpoint(t *testing.T) {
	h := newHarness(t)
	t.Run("answer carries a device code, a user code for people and where to enter it", func(t *testing.T) {
		d := h.startDevice("pub")
		if !strings.HasPrefix(d.DeviceCode, "lkd_") || !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(d.UserCode) {
			t.Fatalf("device code %q, user code %q", d.DeviceCode, d.UserCode)
		}
		if d.VerificationURI != testIssuer+"/login/device" || d.VerificationURIComplete != d.VerificationURI+"?user_code="+d.UserCode ||
			d.ExpiresIn != 600 || d.Interval != 5 {
			t.Fatalf("device authorization %+v", d)
		}
	})
	for _, c := range []struct {
		name          string
		form          url.Values
		authorization string
		status        int
		code          string
	}{
		{"client not registered for the device grant is unauthorized_client", url.Values{}, basicOf("conf"), http.StatusBadRequest, CodeUnauthorizedClient},
		{"scope beyond the client's is invalid_scope", url.Values{"client_id": {"pub"}, "scope": {"REPO_ADMIN"}}, "", http.StatusBadRequest, CodeInvalidScope},
		{"unknown scope is invalid_scope", url.Values{"client_id": {"pub"}, "scope": {"NO_SUCH_SCOPE"}}, "", http.StatusBadRequest, CodeInvalidScope},
		{"unknown client is invalid_client", url.Values{"client_id": {"no-such-client"}}, "", http.StatusUnauthorized, CodeInvalidClient},
		{"suspended client is invalid_client", url.Values{}, basicOf("susp"), http.StatusUnauthorized, CodeInvalidClient},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, h.post(h.p.DeviceAuthorizationHandler(), c.form, c.authorization), c.status, c.code)
		})
	}
}

// TestDeviceCodeBindings states that a device code answers only its own
// client, that the tokens follow the client's registration, and that
// requests without a usable code are refused.
func TestDeviceCodeBindings(t *testing.T) {
	h := newHarness(t)
	t.Run("another client polling the code is invalid_grant", func(t *testing.T) {
		d := h.startDevice("pub")
		wantError(t, h.poll("tv", d.DeviceCode), http.StatusBadRequest, CodeInvalidGrant)
		wantError(t, h.poll("pub", d.DeviceCode), http.StatusBadRequest, CodeAuthorizationPending)
	})
	t.Run("client not registered for refresh_token gets no refresh token", func(t *testing.T) {
		d := h.startDevice("tv")
		if err := h.decide(d.UserCode, h.alice.ID, true); err != nil {
			t.Fatal(err)
		}
		if resp := wantTokens(t, h.poll("tv", d.DeviceCode)); resp.RefreshToken != "" {
			t.Fatal("a client without the refresh grant got a refresh token")
		}
	})
	t.Run("scope asked for at device authorization is the tokens' scope", func(t *testing.T) {
		rec := h.post(h.p.DeviceAuthorizationHandler(), url.Values{"client_id": {"tv"}, "scope": {"REPO_READ openid"}}, "")
		var d deviceAuthorization
		if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("device authorization: %d %s", rec.Code, rec.Body)
		}
		if err := h.decide(d.UserCode, h.alice.ID, true); err != nil {
			t.Fatal(err)
		}
		resp := wantTokens(t, h.poll("tv", d.DeviceCode))
		if resp.Scope != "REPO_READ openid" || resp.IDToken == "" {
			t.Fatalf("scope %q, id_token %q; want REPO_READ openid with an ID token", resp.Scope, resp.IDToken)
		}
	})
	t.Run("unknown device code is invalid_grant", func(t *testing.T) {
		wantError(t, h.poll("pub", "lkd_no-such-code"), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("missing device_code is invalid_request", func(t *testing.T) {
		wantError(t, h.poll("pub", ""), http.StatusBadRequest, CodeInvalidRequest)
	})
}

// TestLookupDevice states which user codes a person can answer: the
// pending, unexpired ones, however the person types them.
func TestLookupDevice(t *testing.T) {
	h := newHarness(t)
	d := h.startDevice("pub")
	raw := strings.ReplaceAll(d.UserCode, "-", "")
	for _, typed := range []string{d.UserCode, strings.ToLower(d.UserCode), raw, " " + raw[:4] + " " + raw[4:] + " "} {
		if req, err := h.p.LookupDevice(context.Background(), typed); err != nil || req.Client.ID != "pub" {
			t.Errorf("user code typed as %q: %v", typed, err)
		}
	}
	for name, typed := range map[string]string{"unknown": "BBBB-BBBB", "too short": raw[:7], "too long": raw + "B", "empty": ""} {
		if _, err := h.p.LookupDevice(context.Background(), typed); !errors.Is(err, ErrUnknownUserCode) {
			t.Errorf("%s user code %q: %v, want ErrUnknownUserCode", name, typed, err)
		}
	}
	t.Run("a decided code cannot be answered again", func(t *testing.T) {
		d := h.startDevice("pub")
		req, err := h.p.LookupDevice(context.Background(), d.UserCode)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.p.DecideDevice(context.Background(), req, h.alice.ID, h.clock.Now(), store.SignIn{}, false); err != nil {
			t.Fatal(err)
		}
		if err := h.p.DecideDevice(context.Background(), req, h.alice.ID, h.clock.Now(), store.SignIn{}, true); !errors.Is(err, ErrUnknownUserCode) {
			t.Fatalf("second answer: %v, want ErrUnknownUserCode", err)
		}
		if _, err := h.p.LookupDevice(context.Background(), d.UserCode); !errors.Is(err, ErrUnknownUserCode) {
			t.Fatalf("lookup of a decided code: %v", err)
		}
	})
	t.Run("an expired code cannot be looked up or answered", func(t *testing.T) {
		d := h.startDevice("pub")
		req, err := h.p.LookupDevice(context.Background(), d.UserCode)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(10 * time.Minute)
		if _, err := h.p.LookupDevice(context.Background(), d.UserCode); !errors.Is(err, ErrUnknownUserCode) {
			t.Fatalf("lookup of an expired code: %v", err)
		}
		if err := h.p.DecideDevice(context.Background(), req, h.alice.ID, h.clock.Now(), store.SignIn{}, true); !errors.Is(err, ErrUnknownUserCode) {
			t.Fatalf("answer to an expired code: %v", err)
		}
	})
}

// TestDeviceSlowDownAtTheSameInstantLengthensTheInterval states that a
// slow_down answer lengthens the interval even when the early poll comes at
// the very instant of the previous one (deviceGrant.handle once skipped the
// write when a poll's error left LastPolledAt unchanged, losing the longer
// interval that pending() had set).
func TestDeviceSlowDownAtTheSameInstantLengthensTheInterval(t *testing.T) {
	h := newHarness(t)
	d := h.startDevice("pub")
	wantError(t, h.poll("pub", d.DeviceCode), http.StatusBadRequest, CodeAuthorizationPending)
	wantError(t, h.poll("pub", d.DeviceCode), http.StatusBadRequest, CodeSlowDown) // the interval is 10 s now
	h.clock.Advance(9 * time.Second)
	wantError(t, h.poll("pub", d.DeviceCode), http.StatusBadRequest, CodeSlowDown)
}
