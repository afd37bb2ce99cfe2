package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters (OWASP: m=19 MiB, t=2, p=1).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// hashSlots bounds concurrent argon2id computations so that a burst of
// logins cannot exhaust memory (each costs argonMemory KiB).
var hashSlots = make(chan struct{}, max(2, runtime.NumCPU()))

// ErrMalformedHash means a stored password hash cannot be parsed.
var ErrMalformedHash = errors.New("malformed password hash")

// HashPassword returns the PHC string of an argon2id hash of password.
func HashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	_, _ = rand.Read(salt)
	key := derive(password, salt, argonTime, argonMemory, argonThreads)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// CheckPassword reports whether password matches the PHC hash. The
// comparison is constant-time.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	var memory uint32
	var iterations uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &iterations, &threads); err != nil {
		return false, ErrMalformedHash
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || memory > 1<<20 || iterations > 16 || threads == 0 {
		return false, ErrMalformedHash
	}
	got := derive(password, salt, iterations, memory, threads)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when a user name is unknown, so that the
// answer takes as long as for a known user.
var dummyHash = sync.OnceValue(func() string { return HashPassword("latchkey-dummy-password") })

// BurnPasswordCheck spends the time of one password check, for unknown users.
func BurnPasswordCheck(password string) { _, _ = CheckPassword(dummyHash(), password) }

func derive(password string, salt []byte, t, m uint32, p uint8) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey([]byte(password), salt, t, m, p, argonKeyLen)
}
