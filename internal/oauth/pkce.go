package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// PKCE methods (RFC 7636 §4.2).
const (
	MethodS256  = "S256"
	MethodPlain = "plain"
)

// NormalizeChallengeMethod maps the spellings clients send onto S256 or
// plain. Bitbucket clients send "s256" and Bitbucket's document spells it
// "sha256"; an absent method means plain (RFC 7636 §4.3).
func NormalizeChallengeMethod(m string) (string, bool) {
	switch strings.ToLower(m) {
	case "s256", "sha256", "sha-256":
		return MethodS256, true
	case "plain", "":
		return MethodPlain, true
	}
	return "", false
}

// validVerifierSyntax checks code-verifier = 43*128unreserved (RFC 7636 §4.1);
// a plain challenge has the same syntax.
func validVerifierSyntax(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// acceptableVerifier is what a token request may send as code_verifier:
// the RFC 7636 §4.1 syntax, and also the other three characters of standard
// base64 ('+', '/', '='). git-credential-oauth before 0.5 (Debian bookworm
// ships 0.4.2) sends the padded standard base64 of 32 random bytes, and
// Gitea, whose client ID it uses and which Latchkey pre-registers, accepts
// it. The server's duty in RFC 7636 §4.6 is to compare the hash; the length
// bounds, which keep the verifier's entropy, still hold. Challenges are
// not widened.
func acceptableVerifier(v string) bool {
	return validVerifierSyntax(strings.Map(func(r rune) rune {
		if r == '+' || r == '/' || r == '=' {
			return 'A'
		}
		return r
	}, v))
}

// validChallenge checks a code_challenge against its method: an S256
// challenge is the 43-character base64url of a SHA-256 digest.
func validChallenge(challenge, method string) bool {
	if method == MethodS256 {
		b, err := base64.RawURLEncoding.DecodeString(challenge)
		return err == nil && len(b) == sha256.Size && len(challenge) == 43
	}
	return validVerifierSyntax(challenge)
}

// S256Challenge computes BASE64URL(SHA256(verifier)).
func S256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// verifyPKCE checks a token request's code_verifier against the code's
// challenge (RFC 7636 §4.6). A verifier sent for a code issued without a
// challenge is refused too: that is a PKCE downgrade (RFC 9700 §2.1.1).
func verifyPKCE(verifier, challenge, method string) *Error {
	switch {
	case challenge == "" && verifier == "":
		return nil
	case challenge == "":
		return InvalidGrant("code_verifier sent, but the authorization request had no code_challenge")
	case verifier == "":
		return InvalidGrant("code_verifier is required: the authorization request had a code_challenge")
	case !acceptableVerifier(verifier):
		return InvalidGrant("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	computed := verifier
	if method == MethodS256 {
		computed = S256Challenge(verifier)
	}
	if subtle.ConstantTimeCompare([]byte(computed), []byte(challenge)) != 1 {
		return InvalidGrant("code_verifier does not match the code_challenge")
	}
	return nil
}
