package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealer seals small secrets for storage under the key-encryption key:
// AES-256-GCM under a key derived from it (HKDF-SHA-256) for one purpose,
// so that a secret sealed for one purpose never opens for another. The
// caller binds each sealed secret to its row with additional data (a
// repository's ID, a user's ID), so that a sealed secret copied onto
// another row does not open. A sealed secret is the random 12-byte nonce
// followed by the ciphertext and its tag. This is the one place secrets
// are sealed under the key-encryption key (the signing keys of package
// oidc excepted, which are sealed under it directly).
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key of purpose (an HKDF info string such
// as "latchkey webhook secrets") from the 32-byte key-encryption key.
func NewSealer(kek []byte, purpose string) (*Sealer, error) {
	if len(kek) != 32 {
		return nil, errors.New("secret: the key-encryption key must be 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, kek, nil, purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("secret: derive the sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: sealing cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: sealing cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain, bound to additional.
func (s *Sealer) Seal(plain, additional []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, additional), nil
}

// ErrUnsealable is returned by Open for a sealed secret that does not
// open: too short, altered, bound to other additional data, or sealed
// under another key-encryption key.
var ErrUnsealable = errors.New("secret: the sealed secret does not open (wrong key-encryption key?)")

// Open decrypts what Seal sealed with the same additional data.
func (s *Sealer) Open(sealed, additional []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, ErrUnsealable
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], additional)
	if err != nil {
		return nil, ErrUnsealable
	}
	return plain, nil
}
