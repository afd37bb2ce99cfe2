package oidc

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// Signing algorithms an operator may choose for ID tokens.
const (
	RS256 = string(jose.RS256)
	ES256 = string(jose.ES256)
	EdDSA = string(jose.EdDSA)
)

// SupportedAlgorithms lists the selectable ID-token signing algorithms.
var SupportedAlgorithms = []string{RS256, ES256, EdDSA}

// KeyStore is the part of the store that holds signing keys.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k store.SigningKey) error
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	RotateSigningKey(ctx context.Context, next store.SigningKey, retireAt time.Time) error
}

// Keys manages the signing keys: they live in the database (so every node
// signs with the same key and publishes the same set), their private halves
// encrypted with AES-256-GCM under a key-encryption key from configuration.
//
// Rotation publishes the next key before it signs anything, and keeps
// publishing the previous key until every token it signed has expired:
//
//	rotate at t:  next.ActivateAt = t + publishAhead
//	              previous.RetireAt = next.ActivateAt + maxTokenLifetime
//
// The signing key at any moment is the most recently activated key that is
// not retired; the JWKS holds every key that is not retired.
type Keys struct {
	store KeyStore
	kek   []byte
	alg   string
	now   func() time.Time

	mu      sync.Mutex
	private map[string]crypto.Signer // decrypted keys by kid; immutable once stored
}

// NewKeys returns a key manager. kek must be 32 bytes.
func NewKeys(ks KeyStore, kek []byte, alg string, now func() time.Time) (*Keys, error) {
	if len(kek) != 32 {
		return nil, errors.New("oidc: the key-encryption key must be 32 bytes")
	}
	if !slices.Contains(SupportedAlgorithms, alg) {
		return nil, fmt.Errorf("oidc: signing algorithm %q is not one of %v", alg, SupportedAlgorithms)
	}
	if now == nil {
		now = time.Now
	}
	return &Keys{store: ks, kek: kek, alg: alg, now: now, private: map[string]crypto.Signer{}}, nil
}

// Algorithm returns the configured signing algorithm.
func (k *Keys) Algorithm() string { return k.alg }

// EnsureKey creates an active signing key when none is usable (first start,
// or the algorithm was changed in configuration). When one is, it opens it:
// a key-encryption key other than the one that sealed it is an error
// ("wrong key-encryption key?").
func (k *Keys) EnsureKey(ctx context.Context) error {
	keys, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("oidc: list signing keys: %w", err)
	}
	if cur, ok := k.current(keys); ok {
		// Open it now, so that a wrong key-encryption key stops the start
		// rather than the first ID token.
		_, err := k.decrypt(cur)
		return err
	}
	next, err := k.generate(k.now())
	if err != nil {
		return err
	}
	if err := k.store.CreateSigningKey(ctx, next); err != nil {
		return fmt.Errorf("oidc: store signing key: %w", err)
	}
	return nil
}

// Rotate creates the next signing key, published now and used from
// now+publishAhead on, and schedules every current key for retirement
// maxTokenLifetime after that. It returns the new key's ID.
func (k *Keys) Rotate(ctx context.Context, publishAhead, maxTokenLifetime time.Duration) (string, error) {
	next, err := k.generate(k.now().Add(publishAhead))
	if err != nil {
		return "", err
	}
	if err := k.store.RotateSigningKey(ctx, next, next.ActivateAt.Add(maxTokenLifetime)); err != nil {
		return "", fmt.Errorf("oidc: rotate signing key: %w", err)
	}
	return next.ID, nil
}

// current picks the signing key: the latest activated, unretired key of
// the configured algorithm.
func (k *Keys) current(keys []store.SigningKey) (store.SigningKey, bool) {
	now := k.now()
	var best store.SigningKey
	found := false
	for _, key := range keys {
		live := !key.ActivateAt.After(now) && (key.RetireAt.IsZero() || key.RetireAt.After(now))
		if live && key.Algorithm == k.alg && (!found || key.ActivateAt.After(best.ActivateAt)) {
			best, found = key, true
		}
	}
	return best, found
}

// Published returns the public keys to publish: every key not yet retired.
func (k *Keys) Published(ctx context.Context) (jose.JSONWebKeySet, error) {
	keys, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("oidc: list signing keys: %w", err)
	}
	now := k.now()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, key := range keys {
		if !key.RetireAt.IsZero() && !key.RetireAt.After(now) {
			continue
		}
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(key.PublicKey, &jwk); err != nil {
			return jose.JSONWebKeySet{}, fmt.Errorf("oidc: decode public key %s: %w", key.ID, err)
		}
		set.Keys = append(set.Keys, jwk)
	}
	return set, nil
}

// Signer returns a JOSE signer with the current key, for JWTs of type
// "JWT" (ID tokens).
func (k *Keys) Signer(ctx context.Context) (jose.Signer, string, error) {
	return k.signer(ctx, "JWT")
}

// AccessTokenSigner implements oauth.AccessTokenSigner: RFC 9068 JWT
// access tokens, of type at+jwt (§2.1), signed with the current key, so
// that resource servers verify them with the published key set.
func (k *Keys) AccessTokenSigner(ctx context.Context) (func(claims any) (string, error), error) {
	s, _, err := k.signer(ctx, "at+jwt")
	if err != nil {
		return nil, err
	}
	return func(claims any) (string, error) { return jwt.Signed(s).Claims(claims).Serialize() }, nil
}

// signer returns a JOSE signer with the current key for JWTs of type typ.
func (k *Keys) signer(ctx context.Context, typ jose.ContentType) (jose.Signer, string, error) {
	keys, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("oidc: list signing keys: %w", err)
	}
	key, ok := k.current(keys)
	if !ok {
		return nil, "", errors.New("oidc: no active signing key")
	}
	priv, err := k.decrypt(key)
	if err != nil {
		return nil, "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(key.Algorithm),
		Key:       jose.JSONWebKey{Key: priv, KeyID: key.ID, Algorithm: key.Algorithm},
	}, (&jose.SignerOptions{}).WithType(typ))
	if err != nil {
		return nil, "", fmt.Errorf("oidc: signer: %w", err)
	}
	return signer, key.Algorithm, nil
}

// generate makes a new key pair of the configured algorithm.
func (k *Keys) generate(activateAt time.Time) (store.SigningKey, error) {
	priv, err := newPrivateKey(k.alg)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("oidc: generate %s key: %w", k.alg, err)
	}
	kid := secret.NewID()
	pub, err := json.Marshal(jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: k.alg, Use: "sig"})
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("oidc: encode public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("oidc: encode private key: %w", err)
	}
	sealed, err := k.seal(kid, der)
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.SigningKey{
		ID: kid, Algorithm: k.alg, PrivateKey: sealed, PublicKey: pub,
		CreatedAt: k.now(), ActivateAt: activateAt,
	}, nil
}

func newPrivateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
}

// seal encrypts a private key; the key ID is bound as additional data so a
// sealed key cannot be swapped onto another row.
func (k *Keys) seal(kid string, plain []byte) ([]byte, error) {
	gcm, err := k.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plain, []byte(kid)), nil
}

func (k *Keys) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.kek)
	if err != nil {
		return nil, fmt.Errorf("oidc: key-encryption cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// decrypt opens a stored private key, caching the result by key ID.
func (k *Keys) decrypt(key store.SigningKey) (crypto.Signer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if priv, ok := k.private[key.ID]; ok {
		return priv, nil
	}
	gcm, err := k.aead()
	if err != nil {
		return nil, err
	}
	if len(key.PrivateKey) < gcm.NonceSize() {
		return nil, fmt.Errorf("oidc: signing key %s is corrupt", key.ID)
	}
	nonce, sealed := key.PrivateKey[:gcm.NonceSize()], key.PrivateKey[gcm.NonceSize():]
	der, err := gcm.Open(nil, nonce, sealed, []byte(key.ID))
	if err != nil {
		return nil, fmt.Errorf("oidc: decrypt signing key %s (wrong key-encryption key?): %w", key.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("oidc: parse signing key %s: %w", key.ID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("oidc: signing key %s is not a signer", key.ID)
	}
	k.private[key.ID] = priv
	return priv, nil
}
