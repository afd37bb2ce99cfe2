package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// setDisabled disables or enables the user named name.
func setDisabled(t *testing.T, env *testkit.Env, name string, disabled bool) {
	t.Helper()
	u, err := env.Store.GetUserByUsername(t.Context(), name)
	if err == nil {
		_, err = admin.SetUserDisabled(t.Context(), env.Store, u.ID, disabled)
	}
	if err != nil {
		t.Fatalf("disable %s: %v", name, err)
	}
}

// TestDisabledUserGetsNoTokens: the grants read the user before the store
// call and refuse a disabled one inside it. A disabled user's code and
// refresh token answer invalid_grant; enabled again, the refresh token
// works (its family was left alone), while the code stays spent.
func TestDisabledUserGetsNoTokens(t *testing.T) {
	f := newBRFixture(t)
	const authorize, token = "/login/oauth/authorize", "/login/oauth/access_token"
	f.login(t, authorize)
	code := f.code(t, authorize, "conf", brAppURI, "")
	_, refresh := f.exchange(t, token, "conf", f.code(t, authorize, "conf", brAppURI, ""), brAppURI)
	setDisabled(t, f.env, "alice", true)
	post := func(form url.Values) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, f.env.URL+token, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(f.vars["{conf}"], f.vars["{conf.secret}"])
		return f.send(t, req)
	}
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {brAppURI}}
	for what, form := range map[string]url.Values{
		"code":    redeem,
		"refresh": {"grant_type": {"refresh_token"}, "refresh_token": {refresh}},
	} {
		resp, body := post(form)
		brCheckTokenError(t, resp, body, http.StatusBadRequest, "invalid_grant")
		if !strings.Contains(string(body), "disabled") {
			t.Errorf("%s of a disabled user: %s, want it to say the user is disabled", what, body)
		}
	}
	setDisabled(t, f.env, "alice", false)
	f.tokens(t, token, "conf", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	resp, body := post(redeem)
	brCheckTokenError(t, resp, body, http.StatusBadRequest, "invalid_grant")
}

// TestDisabledUserGetsNoDeviceTokens: a device code approved by a user
// who is disabled before the device polls answers invalid_grant; enabled
// again, the next poll gets the tokens.
func TestDisabledUserGetsNoDeviceTokens(t *testing.T) {
	df := newDeviceFixture(t)
	d := df.startDevice(t)
	page, err := df.env.Browser("alice", "alice-password").Device(d["verification_uri_complete"].(string))
	if err != nil || !strings.Contains(page, "Device connected") {
		t.Fatalf("approve: %v %s", err, page)
	}
	setDisabled(t, df.env, "alice", true)
	status, body := df.poll(t, d["device_code"].(string))
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" || !strings.Contains(body["error_description"].(string), "disabled") {
		t.Fatalf("poll for a disabled user: %d %v", status, body)
	}
	setDisabled(t, df.env, "alice", false)
	status, body = df.poll(t, d["device_code"].(string))
	if status != http.StatusOK || body["access_token"] == "" {
		t.Fatalf("poll after enabling: %d %v", status, body)
	}
}
