package storetest

import (
	"fmt"
	"testing"

	"latchkey/internal/store"
)

var lineageTests = []test{
	{"HundredRotationsKeepOnlyTheLiveGenerationAndDetectEveryPastToken", testHundredRotations},
	{"FamilyWithoutLineageTakesOneAtItsNextRotation", testLineageUpgrade},
}

// rotations is how often testHundredRotations rotates a family.
const rotations = 100

// testHundredRotations: a family rotated 100 times keeps the tokens of its
// current generation only, and the refresh token of its 1st, 50th or 99th
// rotation, presented again, is still reuse that revokes the family
// (RFC 9700 §4.14.2), however long ago it was rotated away.
func testHundredRotations(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	for _, k := range []int{1, 50, 99} {
		t.Run(fmt.Sprintf("token of rotation %d", k), func(t *testing.T) {
			issues := []store.Issue{redeem(t, s, mkCode(t, s, c, u))}
			for range rotations {
				issues = append(issues, rotate(t, s, tokenOf(t, issues[len(issues)-1], store.RefreshToken).Hash))
			}
			last := issues[rotations]
			for _, iss := range issues[:rotations] {
				gone(t, s, iss.Tokens...)
			}
			wantLive(t, s, true, last.Tokens...)
			// issues[k-1] holds the refresh token the k-th rotation consumed.
			_, err := s.RotateRefreshToken(ctx(t), refreshOf(t, issues[k-1]), now(), failRotation(t))
			wantErr(t, "present the refresh token of an early rotation", err, store.ErrTokenReused)
			if fam := family(t, s, last.Tokens[0].Hash); !fam.Revoked() {
				t.Error("family not revoked")
			}
			wantLive(t, s, false, last.Tokens...)
		})
	}
}

// testLineageUpgrade: a family issued without a lineage (before lineages
// existed) takes the one its next rotation brings; the refresh token it
// rotated then keeps its row and its reuse is detected by it, and from
// then on superseded tokens are deleted.
func testLineageUpgrade(t *testing.T, s store.Store) {
	c, u := mkClient(t, s, "app"), mkUser(t, s, "alice")
	first, err := s.RedeemAuthCode(ctx(t), codeBy(t, s, mkCode(t, s, c, u)), now(), func(code store.AuthCode) (store.Issue, error) {
		iss, err := issueFromCode(code)
		iss.Family.Lineage = ""
		return iss, err
	})
	must(t, "redeem code", err)
	lineage := newHash()
	second, err := s.RotateRefreshToken(ctx(t), refreshOf(t, first), now(), func(_ store.TokenFamily, tok store.Token) (store.Issue, error) {
		return store.Issue{Family: store.TokenFamily{Lineage: lineage}, Tokens: newTokens(tok.Scopes)}, nil
	})
	must(t, "rotate", err)
	if second.Family.Lineage != lineage || family(t, s, second.Tokens[0].Hash).Lineage != lineage {
		t.Fatalf("lineage after the rotation: %q, want %q", second.Family.Lineage, lineage)
	}
	present(t, s, tokenOf(t, first, store.RefreshToken))
	third := rotate(t, s, tokenOf(t, second, store.RefreshToken).Hash)
	gone(t, s, second.Tokens...)
	present(t, s, tokenOf(t, first, store.RefreshToken))
	_, err = s.RotateRefreshToken(ctx(t), refreshOf(t, first), now(), failRotation(t))
	wantErr(t, "present the refresh token issued before the lineage", err, store.ErrTokenReused)
	wantLive(t, s, false, third.Tokens...)
}
