package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// TestApplicationFormKeepsLogoutSettings: the self-service form registers
// post-logout redirect URIs and a back-channel logout URI, refuses bad
// ones in plain words, shows them on the edit form and changes them there.
func TestApplicationFormKeepsLogoutSettings(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	b := signedIn(t, env, "alice", "alice-password")
	status, _, body := submit(t, b, "/user/settings/applications", register("Bad", url.Values{
		"post_logout_redirect_uris": {"http://app.example.com/bye"}}))
	wantPage(t, "plain-http post-logout URI", status, body, http.StatusBadRequest, "ost-logout redirect URI", "https")
	status, _, body = submit(t, b, "/user/settings/applications", register("Bad", url.Values{
		"backchannel_logout_uri": {"https://app.example.com/bcl#f"}}))
	wantPage(t, "back-channel URI with a fragment", status, body, http.StatusBadRequest, "fragment")

	status, _, body = submit(t, b, "/user/settings/applications", register("Wiki", url.Values{
		"post_logout_redirect_uris": {"https://app.example.com/bye\nhttps://app.example.com/bye2"},
		"backchannel_logout_uri":    {"https://app.example.com/bcl"}}))
	if status != http.StatusOK {
		t.Fatalf("register: %d\n%s", status, body)
	}
	apps, err := store.All(t.Context(), store.Bind(env.Store.ListClientsByOwner, alice.ID))
	if err != nil || len(apps) != 1 {
		t.Fatalf("apps %v %v", apps, err)
	}
	c := apps[0]
	if !slices.Equal(c.PostLogoutRedirectURIs, []string{"https://app.example.com/bye", "https://app.example.com/bye2"}) ||
		c.BackchannelLogoutURI != "https://app.example.com/bcl" {
		t.Fatalf("registered %+v", c)
	}
	path := "/user/settings/applications/" + c.ID
	status, body = get(t, b, path)
	if status != http.StatusOK || !strings.Contains(body, "https://app.example.com/bye2") || !strings.Contains(body, `value="https://app.example.com/bcl"`) {
		t.Fatalf("edit form: %d\n%s", status, body)
	}
	status, _, body = submit(t, b, path, register("Wiki", url.Values{"post_logout_redirect_uris": {"https://app.example.com/only"}}))
	if status >= 400 {
		t.Fatalf("update: %d\n%s", status, body)
	}
	c, _ = env.Store.GetClient(t.Context(), c.ID)
	if !slices.Equal(c.PostLogoutRedirectURIs, []string{"https://app.example.com/only"}) || c.BackchannelLogoutURI != "" {
		t.Errorf("after the update: %+v", c)
	}
}
