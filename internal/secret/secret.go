// Package secret generates and checks the secrets Latchkey hands out: access
// and refresh tokens, authorization codes, client secrets, session cookies
// (random, long, stored as SHA-256) and user passwords (argon2id).
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Prefixes make Latchkey secrets recognizable to secret scanners.
const (
	AccessTokenPrefix  = "lka_"
	RefreshTokenPrefix = "lkr_"
	CodePrefix         = "lkc_"
	ClientSecretPrefix = "lks_"
	SessionPrefix      = "lkw_"
	DeviceCodePrefix   = "lkd_"
	EmailLinkPrefix    = "lke_"
)

// New returns prefix followed by 256 random bits in base64url (43 characters).
func New(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// A refresh token carries its family's handle: a random value of 128 bits
// (22 base64url characters) shared by every refresh token of one grant,
// then a dot and 256 random bits of its own: lkr_<handle>.<random>. The
// store keeps the SHA-256 of the handle with the family (its lineage), so
// a refresh token that has been rotated away, and whose row is gone, is
// still recognized as one of the family's: reuse detection needs no row
// per past token. Knowing the handle gives nothing but what any past
// refresh token of the grant gives: the power to have it revoked.
const handleLen = 22

// NewHandle returns a fresh family handle for refresh tokens.
func NewHandle() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewRefreshToken returns a fresh refresh token that carries handle.
func NewRefreshToken(handle string) string {
	return RefreshTokenPrefix + handle + "." + New("")
}

// RefreshHandle returns the family handle a refresh token carries, or
// false for a string that carries none (a token of the earlier format, or
// not a refresh token).
func RefreshHandle(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, RefreshTokenPrefix)
	if !ok {
		return "", false
	}
	handle, _, ok := strings.Cut(rest, ".")
	if !ok || len(handle) != handleLen {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(handle); err != nil {
		return "", false
	}
	return handle, true
}

// Lineage is what the store keeps of a family handle: its hex SHA-256.
func Lineage(handle string) string { return Hash("lineage:" + handle) }

// NewID returns a random identifier of 128 bits in lower-case hex, for
// client IDs and other public names that must not be guessable.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Hash is the hex SHA-256 of a server-generated secret: what the database
// stores in its place. A fast hash is right here because the secret carries
// 256 bits of entropy; a slow one would cap the token endpoint.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Matches compares a presented secret with a stored hash in constant time.
func Matches(presented, storedHash string) bool {
	if storedHash == "" {
		return false
	}
	got := Hash(presented)
	return subtle.ConstantTimeCompare([]byte(got), []byte(storedHash)) == 1
}
