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
	"time"
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
// after a stamp of the grant's issue (see NewToken), then a dot and its
// own stamp and 256 random bits: lkr_<handle>.<stamp><random>. The store
// keeps a SHA-256 of the handle with the family (its lineage, led by the
// handle's stamp), so a refresh token that has been rotated away, and
// whose row is gone, is still recognized as one of the family's: reuse
// detection needs no row per past token. Knowing the handle gives nothing
// but what any past refresh token of the grant gives: the power to have
// it revoked. Handles issued before stamps have none (handleLen).
const (
	handleLen        = 22
	stampedHandleLen = stampLen + handleLen
)

// NewHandle returns 128 random bits in base64url (22 characters): a JWT
// ID, and the form of the family handles issued before stamps.
func NewHandle() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewFamilyHandle returns a fresh family handle for the refresh tokens of
// a grant issued at now.
func NewFamilyHandle(now time.Time) string {
	return stamp(now) + NewHandle()
}

// NewRefreshToken returns a fresh refresh token that carries handle,
// stamped with now (see NewToken).
func NewRefreshToken(handle string, now time.Time) string {
	return RefreshTokenPrefix + handle + "." + stamp(now) + New("")
}

// Access tokens, refresh tokens and authorization codes are stamped: their
// random part (256 bits, as New's) follows 8 base64url characters that
// encode the millisecond of their issue (48 bits, big-endian). The stamp
// leads the key the store keeps them under (TokenKey), so that the keys of
// new tokens sort after the older ones: an index over them takes each new
// key on its right-most pages, hot in every cache, where a bare hash
// would land on a random page of an index that grows with the tokens
// stored. The stamp tells nothing the holder of the token does not know.
const (
	stampLen = 8  // base64url characters of the stamp
	bodyLen  = 51 // stampLen, then the 43 characters of 256 random bits
)

// NewToken returns prefix followed by a stamp of now and 256 random bits:
// the form of access tokens and authorization codes.
func NewToken(prefix string, now time.Time) string {
	return prefix + stamp(now) + New("")
}

// stamp encodes now's Unix millisecond in stampLen base64url characters.
func stamp(now time.Time) string {
	ms := uint64(max(now.UnixMilli(), 0))
	var b [6]byte
	for i := range b {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TokenKey is what the store keeps of an access token, a refresh token or
// an authorization code, and looks it up by: the Hash of the whole token,
// after 12 hex digits of its stamp when it has one (NewToken). A token of
// any other shape (of the earlier unstamped format, a JWT, garbage) is
// keyed by its Hash alone. Either way the key holds the SHA-256 of every
// character presented, so a key matches only the token it was made from;
// the two forms differ in length and cannot meet.
func TokenKey(token string) string {
	st, ok := stampOf(token)
	if !ok {
		return Hash(token)
	}
	return st + Hash(token)
}

// stampOf returns in hex the stamp of a token of the stamped form, or
// false.
func stampOf(token string) (string, bool) {
	var body string
	switch {
	case strings.HasPrefix(token, AccessTokenPrefix):
		body = token[len(AccessTokenPrefix):]
	case strings.HasPrefix(token, CodePrefix):
		body = token[len(CodePrefix):]
	case strings.HasPrefix(token, RefreshTokenPrefix):
		handle, rest, ok := strings.Cut(token[len(RefreshTokenPrefix):], ".")
		if !ok || len(handle) != handleLen && len(handle) != stampedHandleLen {
			return "", false
		}
		body = rest
	default:
		return "", false
	}
	if len(body) != bodyLen {
		return "", false
	}
	return decodeStamp(body[:stampLen])
}

// decodeStamp returns in hex (12 digits) the stamp s encodes, or false.
func decodeStamp(s string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 6 {
		return "", false
	}
	return hex.EncodeToString(b), true
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
	if !ok || len(handle) != handleLen && len(handle) != stampedHandleLen {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(handle); err != nil {
		return "", false
	}
	return handle, true
}

// Lineage is what the store keeps of a family handle: its hex SHA-256,
// after the hex of its stamp when it has one (as TokenKey keys tokens).
func Lineage(handle string) string {
	if len(handle) == stampedHandleLen {
		if st, ok := decodeStamp(handle[:stampLen]); ok {
			return st + Hash("lineage:"+handle)
		}
	}
	return Hash("lineage:" + handle)
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
