package register

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// CreateInitialAccessToken issues an initial access token labelled label
// that expires after ttl (0: never) and returns it, to be shown once:
// the store keeps only its hash.
func CreateInitialAccessToken(ctx context.Context, st store.Store, label string, ttl time.Duration, now time.Time) (string, store.InitialAccessToken, error) {
	if ttl < 0 {
		return "", store.InitialAccessToken{}, errors.New("the lifetime of an initial access token must not be negative")
	}
	if len(label) > 200 || !cleanText(label) {
		return "", store.InitialAccessToken{}, errors.New("the label must be at most 200 characters without control characters")
	}
	plain := secret.New(InitialTokenPrefix)
	t := store.InitialAccessToken{Hash: secret.Hash(plain), Label: label, CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	if err := st.CreateInitialAccessToken(ctx, t); err != nil {
		return "", store.InitialAccessToken{}, fmt.Errorf("create initial access token: %w", err)
	}
	return plain, t, nil
}

// MinPrefix is the shortest hash prefix that names an initial access token.
const MinPrefix = 8

// FindInitialAccessToken returns the initial access token that ref names:
// the token itself, its hash, or a prefix of its hash of at least
// MinPrefix hex digits that no other token's hash shares.
func FindInitialAccessToken(ctx context.Context, st store.Store, ref string) (store.InitialAccessToken, error) {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, InitialTokenPrefix) {
		ref = secret.Hash(ref)
	}
	ref = strings.ToLower(ref)
	if len(ref) < MinPrefix {
		return store.InitialAccessToken{}, fmt.Errorf("name the token by at least %d hex digits of its hash", MinPrefix)
	}
	all, err := st.ListInitialAccessTokens(ctx)
	if err != nil {
		return store.InitialAccessToken{}, err
	}
	var found []store.InitialAccessToken
	for _, t := range all {
		if strings.HasPrefix(t.Hash, ref) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return store.InitialAccessToken{}, fmt.Errorf("no initial access token has a hash starting with %s: %w", ref, store.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return store.InitialAccessToken{}, fmt.Errorf("%d initial access tokens have a hash starting with %s; give more digits", len(found), ref)
}
