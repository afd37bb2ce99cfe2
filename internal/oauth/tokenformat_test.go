package oauth

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// Tokens issued before stamps (secret.TokenKey) are stored under their bare
// hash and their family under the lineage of an unstamped handle. After an
// upgrade they keep working: the access token at the bearer check and at
// introspection, the refresh token at rotation, which hands out a stamped
// refresh token that carries the family's old handle, and a rotated one
// presented again is recognized by that lineage and revokes the grant.
func TestTokensOfTheEarlierFormatStillWork(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	now := h.clock.Now()
	handle := secret.NewHandle() // 22 characters: no stamp
	access := secret.New(secret.AccessTokenPrefix)
	refresh := secret.RefreshTokenPrefix + handle + "." + secret.New("")
	if secret.TokenKey(access) != secret.Hash(access) || secret.TokenKey(refresh) != secret.Hash(refresh) {
		t.Fatal("tokens of the earlier format are not keyed by their bare hash")
	}
	scopes := scope.Set{"REPO_READ"}
	_, err := h.st.CreateFamily(ctx, store.Issue{
		Family: store.TokenFamily{ClientID: "conf", UserID: h.alice.ID, Scopes: scopes, CreatedAt: now,
			Lineage: secret.Hash("lineage:" + handle)},
		Tokens: []store.Token{
			{Hash: secret.Hash(access), Kind: store.AccessToken, Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(DefaultAccessTokenTTL)},
			{Hash: secret.Hash(refresh), Kind: store.RefreshToken, Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(DefaultRefreshTokenTTL)},
		},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := h.caller(access); err != nil || c.User.ID != h.alice.ID {
		t.Fatalf("bearer check of an earlier access token: %+v, %v", c, err)
	}
	if !h.active(access) || !h.active(refresh) {
		t.Fatal("introspection calls the earlier tokens inactive")
	}

	next := wantTokens(t, h.refresh(refresh, ""))
	if got, ok := secret.RefreshHandle(next.RefreshToken); !ok || got != handle {
		t.Errorf("rotated refresh token %q carries handle %q, want the family's %q", next.RefreshToken, got, handle)
	}
	if !strings.HasPrefix(secret.TokenKey(next.RefreshToken), secret.TokenKey(next.AccessToken)[:12]) ||
		secret.TokenKey(next.RefreshToken) == secret.Hash(next.RefreshToken) {
		t.Errorf("the new tokens are not stamped: %q %q", next.AccessToken, next.RefreshToken)
	}
	if h.accessLive(access) || !h.accessLive(next.AccessToken) {
		t.Error("after rotation the earlier access token works or the new one does not")
	}

	wantError(t, h.refresh(refresh, ""), http.StatusBadRequest, CodeInvalidGrant)
	if h.accessLive(next.AccessToken) || h.active(next.RefreshToken) {
		t.Error("reuse of the earlier refresh token did not revoke the grant")
	}
}
