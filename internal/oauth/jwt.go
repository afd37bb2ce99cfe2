package oauth

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// AccessTokenSigner signs RFC 9068 JWT access tokens, for external
// resource servers (package oidc implements it with the OpenID Connect
// signing keys, so that a resource server verifies them with the JWKS).
type AccessTokenSigner interface {
	// AccessTokenSigner returns a function that signs claims with the
	// current key as a JWT of type at+jwt. It does its I/O now, so that
	// the function it returns only computes (it runs inside store calls).
	AccessTokenSigner(ctx context.Context) (func(claims any) (string, error), error)
}

// AccessTokenClaims are the claims of an RFC 9068 JWT access token (§2.2).
type AccessTokenClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	JTI      string `json:"jti"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
	AuthTime int64  `json:"auth_time,omitempty"`
}

// jwtIssue is what a JWT access token needs beyond the issuance: who it
// is about, and the signer, prepared before the store call.
type jwtIssue struct {
	sign     func(claims any) (string, error)
	subject  string // the user's ID, or the client's for client_credentials
	clientID string
	authTime time.Time
}

// prepareJWT readies is for a JWT access token when its target is an
// external resource server: the signer is loaded now, outside the store
// call. subject is the user's ID (0: the client acts for itself).
func (p *Provider) prepareJWT(ctx context.Context, is *issuance, clientID string, userID int64, authTime time.Time) error {
	if len(is.target.external) == 0 {
		return nil
	}
	if p.cfg.AccessTokens == nil {
		return InvalidTarget("this server issues no tokens for external resource servers")
	}
	sign, err := p.cfg.AccessTokens.AccessTokenSigner(ctx)
	if err != nil {
		return ServerError(fmt.Errorf("access token signer: %w", err))
	}
	sub := clientID
	if userID != 0 {
		sub = strconv.FormatInt(userID, 10)
	}
	is.jwt = jwtIssue{sign: sign, subject: sub, clientID: clientID, authTime: authTime}
	return nil
}

// signAccessToken signs the access token of is as an RFC 9068 JWT whose
// audience is its one external resource server.
func (p *Provider) signAccessToken(is issuance, jti string, now time.Time) (string, error) {
	if is.jwt.sign == nil {
		return "", ServerError(fmt.Errorf("access token for %v: no signer prepared", is.target.ids))
	}
	c := AccessTokenClaims{
		Issuer: p.cfg.Issuer, Subject: is.jwt.subject, Audience: is.target.ids[0], ClientID: is.jwt.clientID,
		Scope: is.access.String(), JTI: jti, IssuedAt: now.Unix(), Expiry: now.Add(p.cfg.AccessTokenTTL).Unix(),
	}
	if !is.jwt.authTime.IsZero() {
		c.AuthTime = is.jwt.authTime.Unix()
	}
	tok, err := is.jwt.sign(c)
	if err != nil {
		return "", ServerError(fmt.Errorf("sign access token: %w", err))
	}
	return tok, nil
}
