package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

// git-credential-oauth 0.4.2 (Debian bookworm) makes its code_verifier the
// padded standard base64 of 32 random bytes: 44 characters that may hold
// '+', '/' and '='. Such a verifier is accepted when it matches; other
// characters outside the RFC 7636 set, and the length bounds, still fail,
// and plain challenges keep the RFC 7636 syntax.
func TestVerifyPKCEAcceptsStandardBase64Verifier(t *testing.T) {
	raw := make([]byte, 32)
	verifier := ""
	for !strings.ContainsAny(verifier, "+/") {
		_, _ = rand.Read(raw)
		verifier = base64.StdEncoding.EncodeToString(raw)
	}
	if e := verifyPKCE(verifier, S256Challenge(verifier), MethodS256); e != nil {
		t.Fatalf("standard base64 verifier %q refused: %v", verifier, e)
	}
	if e := verifyPKCE(verifier, S256Challenge(verifier+"x"), MethodS256); e == nil {
		t.Fatal("a standard base64 verifier that does not match was accepted")
	}
	for _, bad := range []string{
		strings.Repeat("c", 40) + "/x*",   // '*' is in neither alphabet
		strings.Repeat("c", 40) + "a b c", // nor is a space
		strings.Repeat("+", 42),           // too short
		strings.Repeat("=", 129),          // too long
	} {
		if e := verifyPKCE(bad, S256Challenge(bad), MethodS256); e == nil {
			t.Errorf("verifier %q accepted", bad)
		}
	}
	if validChallenge(strings.Repeat("c", 40)+"+/=", MethodPlain) {
		t.Error("a plain challenge outside the RFC 7636 characters was accepted")
	}
}
