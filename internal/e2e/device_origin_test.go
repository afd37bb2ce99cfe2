package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/oauth"
	"latchkey/internal/testkit"
)

// TestDeviceConfirmationPageNamesTheApplicationAndWhereTheCodeWasAsked:
// against device-code phishing (RFC 8628 §5.4) the person sees which
// application asks, and from which address the code was requested.
func TestDeviceConfirmationPageNamesTheApplicationAndWhereTheCodeWasAsked(t *testing.T) {
	env := testkit.New(t, withLimits(0, 0))
	env.User("alice", "alice-password")
	started := send(t, http.MethodPost, env.URL+"/login/device/code", "198.51.100.23",
		url.Values{"client_id": {gcoID}, "scope": {"REPO_READ"}})
	var da struct {
		UserCode string `json:"user_code"`
	}
	if started.status != http.StatusOK || json.Unmarshal([]byte(started.body), &da) != nil {
		t.Fatalf("device authorization: %d %s", started.status, started.body)
	}
	person := env.Browser("alice", "alice-password")
	if err := person.SignIn(); err != nil {
		t.Fatal(err)
	}
	status, page, err := person.Get("/login/device/confirm?user_code=" + url.QueryEscape(da.UserCode))
	if err != nil || status != http.StatusOK {
		t.Fatalf("confirmation page: %d %v", status, err)
	}
	for _, want := range []string{"git-credential-oauth", gcoID, `<strong class="source-address">198.51.100.23</strong>`, "choose <strong>Deny</strong>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the confirmation page does not say %q:\n%s", want, page)
		}
	}
}

// TestADeviceGrantSwitchedOffByAnAdministratorIsRefused: an administrator
// switches the device grant of a pre-registered public client off on the
// administration page; the device authorization endpoint then answers
// unauthorized_client, and its other grants stay.
func TestADeviceGrantSwitchedOffByAnAdministratorIsRefused(t *testing.T) {
	env := testkit.New(t)
	env.User("root", "root-password")
	env.Grant("root", admin.Target{Global: true}, "ADMIN")
	start := url.Values{"client_id": {gcoID}, "scope": {"REPO_READ"}}
	if status, body := postForm(t, env.URL+"/login/device/code", start); status != http.StatusOK {
		t.Fatalf("device authorization before: %d %v", status, body)
	}
	root := env.Browser("root", "root-password")
	if err := root.SignIn(); err != nil {
		t.Fatal(err)
	}
	status, _, body, err := root.Submit("/admin/applications/"+gcoID+"/device-grant/off", nil)
	if err != nil || status != http.StatusSeeOther {
		t.Fatalf("switch the device grant off: %d %v %s", status, err, body)
	}
	status, answer := postForm(t, env.URL+"/login/device/code", start)
	if status != http.StatusBadRequest || answer["error"] != oauth.CodeUnauthorizedClient {
		t.Fatalf("device authorization after the switch: %d %v, want 400 unauthorized_client", status, answer)
	}
	c, err := env.Store.GetClient(t.Context(), gcoID)
	if err != nil || !slices.Equal(c.GrantTypes, []string{"authorization_code", "refresh_token"}) {
		t.Fatalf("grant types after the switch: %v %v", c.GrantTypes, err)
	}
	_, listing, _ := root.Get("/admin/applications")
	if !strings.Contains(listing, "device-grant/on") {
		t.Errorf("the administration page offers no way to switch the grant on again")
	}
}
