// Package oidc makes Latchkey an OpenID Connect provider: it signs ID
// tokens with keys kept (encrypted) in the database and rotated without
// downtime, serves the JWKS, the userinfo endpoint and the discovery
// documents (OpenID Connect Discovery 1.0 and RFC 8414).
//
// Control flow: the protocol core (package oauth) calls IssueIDToken
// through its IDTokenIssuer interface when a grant includes the openid
// scope; package server mounts the handlers of this package.
package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"log/slog"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Config is what the OpenID Connect provider needs.
type Config struct {
	Store    store.Store
	Keys     *Keys
	Issuer   string
	TokenTTL time.Duration // lifetime of ID tokens
	Now      func() time.Time
	Logger   *slog.Logger
	// Discovery is what the discovery documents list.
	Discovery DiscoveryConfig
}

// Provider signs ID tokens and serves the OpenID Connect endpoints.
type Provider struct {
	cfg Config
	log *slog.Logger
}

// New returns a Provider.
func New(cfg Config) *Provider {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Provider{cfg: cfg, log: cfg.Logger}
}

// idClaims are the claims of an ID token (OpenID Connect Core §2, §5.1).
type idClaims struct {
	jwt.Claims
	AuthTime int64    `json:"auth_time,omitempty"`
	Nonce    string   `json:"nonce,omitempty"`
	AtHash   string   `json:"at_hash,omitempty"`
	SID      string   `json:"sid,omitempty"` // OpenID Connect Front-/Back-Channel Logout: the session
	AMR      []string `json:"amr,omitempty"` // RFC 8176
	ACR      string   `json:"acr,omitempty"`
	userClaims
}

// userClaims are the claims the profile, email and groups scopes release,
// shaped as Gitea releases them.
type userClaims struct {
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Nickname          string   `json:"nickname,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     *bool    `json:"email_verified,omitempty"`
	Groups            []string `json:"groups,omitempty"`
}

// IssueIDToken implements oauth.IDTokenIssuer.
func (p *Provider) IssueIDToken(ctx context.Context, req oauth.IDTokenRequest) (string, error) {
	uc, err := p.userClaims(ctx, req.UserID, req.Scopes)
	if err != nil {
		return "", err
	}
	signer, alg, err := p.cfg.Keys.Signer(ctx)
	if err != nil {
		return "", err
	}
	now := p.cfg.Now()
	claims := idClaims{
		Claims: jwt.Claims{
			Issuer: p.cfg.Issuer, Subject: strconv.FormatInt(req.UserID, 10), Audience: jwt.Audience{req.ClientID},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(p.cfg.TokenTTL)),
		},
		Nonce:      req.Nonce,
		AtHash:     halfHash(alg, req.AccessToken),
		SID:        req.SignIn.SID,
		AMR:        req.SignIn.AMR,
		ACR:        req.SignIn.ACR,
		userClaims: uc,
	}
	if !req.AuthTime.IsZero() {
		claims.AuthTime = req.AuthTime.Unix()
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("oidc: sign ID token: %w", err)
	}
	return token, nil
}

// halfHash is the left half of the hash of an access token, base64url:
// the at_hash claim (OpenID Connect Core §3.1.3.6). The hash follows the
// signing algorithm: SHA-256 for RS256 and ES256, SHA-512 for Ed25519.
func halfHash(alg, accessToken string) string {
	if accessToken == "" {
		return ""
	}
	var h hash.Hash = sha256.New()
	if alg == EdDSA {
		h = sha512.New()
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// userClaims loads the user and releases the claims its scopes allow.
func (p *Provider) userClaims(ctx context.Context, userID int64, scopes scope.Set) (userClaims, error) {
	u, err := p.cfg.Store.GetUser(ctx, userID)
	if err != nil {
		return userClaims{}, fmt.Errorf("oidc: load user: %w", err)
	}
	var uc userClaims
	if scopes.Has(scope.Profile) {
		uc.Name, uc.PreferredUsername, uc.Nickname = u.DisplayName, u.Username, u.Username
	}
	if scopes.Has(scope.Email) && u.Email != "" {
		// email_verified is true only for an address the server verified:
		// set by an administrator or confirmed through the link mailed to
		// it. An address a user asked for and has not confirmed is not
		// stored on the user at all, so it never appears here.
		verified := u.EmailVerified
		uc.Email, uc.EmailVerified = u.Email, &verified
	}
	if scopes.Has(scope.Groups) {
		if uc.Groups, err = p.groups(ctx, userID); err != nil {
			return userClaims{}, err
		}
	}
	return uc, nil
}

// groups are the keys of the projects the user is a member of: holds a
// permission on the project or on one of its repositories.
func (p *Provider) groups(ctx context.Context, userID int64) ([]string, error) {
	perms, err := p.cfg.Store.ListPermissions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("oidc: load permissions: %w", err)
	}
	projects, err := store.All(ctx, p.cfg.Store.ListProjects)
	if err != nil {
		return nil, fmt.Errorf("oidc: load projects: %w", err)
	}
	member, onRepo := map[int64]bool{}, map[int64]bool{}
	for _, perm := range perms {
		switch perm.Target {
		case store.TargetProject:
			member[perm.TargetID] = true
		case store.TargetRepo:
			onRepo[perm.TargetID] = true
		}
	}
	if len(onRepo) > 0 {
		for r, err := range store.Walk(ctx, p.cfg.Store.ListAllRepos, store.MaxLimit) {
			if err != nil {
				return nil, fmt.Errorf("oidc: load repositories: %w", err)
			}
			member[r.ProjectID] = member[r.ProjectID] || onRepo[r.ID]
		}
	}
	groups := []string{}
	for _, proj := range projects {
		if member[proj.ID] {
			groups = append(groups, proj.Key)
		}
	}
	return groups, nil
}
