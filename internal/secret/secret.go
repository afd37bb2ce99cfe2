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
