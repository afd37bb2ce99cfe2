package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"latchkey/internal/resource"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Resource indicators (RFC 8707). A request may name the resources it
// wants tokens for; a grant remembers them (store.AuthCode.Resources,
// DeviceCode.Resources, TokenFamily.Resources); an access token is for
// some of them (store.Token.Resources, its audience), chosen at the token
// endpoint, and is refused by every other resource (AuthenticateToken).
// A request that names none gets Latchkey's own code-hosting resource,
// as every token did before. Latchkey's own resources get opaque tokens;
// an external resource server an administrator registered gets an RFC
// 9068 JWT, which it can verify without asking Latchkey.

// target is the resources a request named, resolved: nil ids for
// Latchkey's code-hosting resource (the default), and the registered
// resource servers among them.
type target struct {
	ids      []string
	external []store.ResourceServer
}

// own reports whether the target includes one of Latchkey's own resources.
func (t target) own(issuer string) bool {
	return slices.ContainsFunc(resource.Of(issuer, t.ids), func(id string) bool { return resource.IsOwn(issuer, id) })
}

// understands reports whether an external resource server of the target
// lists s among its scopes.
func (t target) understands(s string) bool {
	return slices.ContainsFunc(t.external, func(rs store.ResourceServer) bool { return slices.Contains(rs.Scopes, s) })
}

// maxResources bounds how many resource parameters one request may name.
const maxResources = 8

// checkResourceURI applies RFC 8707 §2's syntax: an absolute URI
// without a fragment.
func checkResourceURI(raw string) *Error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "":
		return InvalidTarget("resource %q is not an absolute URI", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return InvalidTarget("resource %q must not have a fragment", raw)
	}
	return nil
}

// resolveTarget checks the resources a request named: each an absolute
// URI without fragment, each one of Latchkey's own or a registered
// resource server (invalid_target otherwise). Duplicates are dropped.
func (p *Provider) resolveTarget(ctx context.Context, ids []string) (target, error) {
	if len(ids) > maxResources {
		return target{}, InvalidTarget("at most %d resource parameters may be sent", maxResources)
	}
	var t target
	for _, id := range ids {
		if e := checkResourceURI(id); e != nil {
			return target{}, e
		}
		if slices.Contains(t.ids, id) {
			continue
		}
		t.ids = append(t.ids, id)
		if resource.IsOwn(p.cfg.Issuer, id) {
			continue
		}
		rs, err := p.store.GetResourceServer(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return target{}, InvalidTarget("resource %q is not known to this server", id)
		}
		if err != nil {
			return target{}, ServerError(fmt.Errorf("load resource server: %w", err))
		}
		t.external = append(t.external, rs)
	}
	return t, nil
}

// narrowTarget picks the resources of one access token out of those a
// grant holds: the requested ones, each of which must be granted
// (invalid_target otherwise: a token endpoint request may narrow the
// resources, never widen them), or all the grant's when none is
// requested. An access token is for Latchkey's own resources or for
// exactly one external resource server, never a mix: the JWT of an
// external one must not open Latchkey's own, nor one external resource
// server's token another's.
func (p *Provider) narrowTarget(ctx context.Context, granted, requested []string) (target, error) {
	all := resource.Of(p.cfg.Issuer, granted)
	ids := requested
	if len(ids) == 0 {
		ids = granted
	}
	for _, id := range ids {
		if !slices.Contains(all, id) {
			return target{}, InvalidTarget("resource %q was not granted; a token request may only narrow the resources", id)
		}
	}
	t, err := p.resolveTarget(ctx, ids)
	if err != nil {
		return target{}, err
	}
	if len(t.external) > 0 && len(t.ids) > 1 {
		return target{}, InvalidTarget("this grant is for several resources; name one resource to get a token for an external resource server")
	}
	return t, nil
}

// requestedScopes parses a scope parameter for a target, applies the
// defaults and checks what may be asked:
//
//   - Latchkey's scopes must be covered by the client's registered ones
//     (offline_access aside: withoutOfflineAccess); for a target without
//     any of Latchkey's own resources, only those an external resource
//     server of the target lists, and OpenID Connect's, may be asked.
//   - Other scope tokens must be listed by an external resource server of
//     the target (its own vocabulary); the client's registration does not
//     limit them, the resource server's registration does.
//
// Without a scope parameter a target with Latchkey's own resources gets
// the client's default scopes (PUBLIC_REPOS if it has none), and one
// without gets every scope its resource server lists.
func (p *Provider) requestedScopes(client store.Client, raw string, t target) (scope.Set, *Error) {
	var known, custom []string
	for _, tok := range strings.Split(raw, " ") {
		if tok == "" {
			continue
		}
		if _, err := scope.Parse(tok); err != nil && t.understands(tok) {
			custom = append(custom, tok)
		} else {
			known = append(known, tok)
		}
	}
	requested, err := scope.Parse(strings.Join(known, " "))
	if err != nil {
		return nil, InvalidScope("%v", err)
	}
	own := t.own(p.cfg.Issuer)
	if len(requested) == 0 && len(custom) == 0 {
		if !own {
			for _, rs := range t.external {
				custom = append(custom, rs.Scopes...)
			}
		} else if requested = scope.Set(client.DefaultScopes); len(requested) == 0 {
			requested = scope.Set{scope.PublicRepos}
		}
	}
	if !scope.Set(client.Scopes).Covers(withoutOfflineAccess(client, requested)) {
		return nil, InvalidScope("the client is not registered for scope %q", requested.String())
	}
	if !own {
		for _, s := range requested {
			if !scope.IsOpenID(s) && !t.understands(s) {
				return nil, InvalidScope("the resource does not use scope %q", s)
			}
		}
	}
	return requested.Union(scope.Set(custom)), nil
}

// forTarget is the part of a grant's scopes an access token for t
// carries: for an external resource server only the scopes it lists and
// OpenID Connect's; for Latchkey's own resources only Latchkey's.
func (p *Provider) forTarget(scopes scope.Set, t target) scope.Set {
	if len(t.external) == 0 {
		return slices.DeleteFunc(slices.Clone(scopes), func(s string) bool {
			_, err := scope.Parse(s)
			return err != nil
		})
	}
	return slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return !scope.IsOpenID(s) && !t.understands(s) })
}

// issuanceOf is what a token endpoint request issues from a grant of
// scopes and resources: the access token for the requested resources
// (narrowTarget) with the part of the scopes that fits them, the refresh
// token for the whole grant, and the JWT signer when the access token is
// for an external resource server. An unknown grant (userID 0, nothing
// read) issues nothing; its redemption refuses it.
func (p *Provider) issuanceOf(ctx context.Context, clientID string, userID int64, authTime time.Time,
	scopes scope.Set, granted, requested []string) (issuance, error) {
	is := issuance{scopes: scopes, resources: granted}
	if userID == 0 && len(scopes) == 0 && len(granted) == 0 {
		return is, nil
	}
	t, err := p.narrowTarget(ctx, granted, requested)
	if err != nil {
		return issuance{}, err
	}
	is.target, is.access = t, p.forTarget(scopes, t)
	return is, p.prepareJWT(ctx, &is, clientID, userID, authTime)
}

// parseNarrowing reads the scope parameter of a refresh (RFC 6749 §6):
// Latchkey's scopes canonical, other well-formed scope tokens (an
// external resource server's) as sent; whether the grant covers them is
// the caller's check.
func parseNarrowing(raw string) (scope.Set, error) {
	var out []string
	for _, tok := range strings.Split(raw, " ") {
		if tok == "" {
			continue
		}
		set, err := scope.Parse(tok)
		if err != nil {
			if !scope.ValidToken(tok) {
				return nil, InvalidScope("%v", err)
			}
			set = scope.Set{tok}
		}
		out = append(out, set...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
