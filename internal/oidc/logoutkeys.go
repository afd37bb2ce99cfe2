package oidc

import (
	"context"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// LogoutTokenSigner returns a signer of OpenID Connect back-channel
// logout tokens: JWTs of type logout+jwt (Back-Channel Logout 1.0 §2.4),
// signed with the current key, which relying parties verify with the
// published key set as they verify ID tokens.
func (k *Keys) LogoutTokenSigner(ctx context.Context) (func(claims any) (string, error), error) {
	s, _, err := k.signer(ctx, "logout+jwt")
	if err != nil {
		return nil, err
	}
	return func(claims any) (string, error) { return jwt.Signed(s).Claims(claims).Serialize() }, nil
}

// ErrNotOurs says that a token was not signed by one of the published
// (unretired) keys, or is no JWS compact serialization at all.
var ErrNotOurs = errors.New("oidc: the token was not signed by this server's keys")

// VerifyOwn checks that token is a compact JWS signed by one of the
// keys this server publishes, with the key's own algorithm, and decodes
// its claims into out. It checks no claim: not the issuer, not the
// expiry (an ID token hint is welcome expired); callers check what
// their protocol asks. Every failure wraps ErrNotOurs.
func (k *Keys) VerifyOwn(ctx context.Context, token string, out any) error {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotOurs, err)
	}
	if len(tok.Headers) != 1 {
		return ErrNotOurs
	}
	set, err := k.Published(ctx)
	if err != nil {
		return err
	}
	h := tok.Headers[0]
	for _, key := range set.Keys {
		if key.KeyID != h.KeyID || key.Algorithm != h.Algorithm {
			continue
		}
		if err := tok.Claims(key.Key, out); err != nil {
			return fmt.Errorf("%w: %v", ErrNotOurs, err)
		}
		return nil
	}
	return fmt.Errorf("%w: no published key %q for %s", ErrNotOurs, h.KeyID, h.Algorithm)
}
