package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Identity is who the upstream provider said signed in, mapped per
// Settings. Fields the provider did not give (or gave in a shape that
// cannot be read) are empty; the caller decides what to do without them
// (an empty Username, say).
type Identity struct {
	// Subject is the ID token's sub: the provider's stable identifier.
	Subject string
	// Username is the UsernameClaim's value; "" when absent (no fallback).
	Username string
	// Name is the NameClaim's value.
	Name string
	// Email is the EmailClaim's value, verified or not.
	Email string
	// EmailVerified is true only if the provider said email_verified true
	// (the JSON true or the string "true") and Email is not empty.
	EmailVerified bool
	// Groups is the GroupsClaim's value: an array of strings, or a single
	// string taken as one group. Nil when GroupsClaim is empty.
	Groups []string
	// AMR and ACR are the ID token's authentication methods and context
	// class, for a second-factor policy.
	AMR []string
	ACR string
	// AuthTime is the ID token's auth_time; zero when absent.
	AuthTime time.Time
}

// claimSet is a token's or userinfo's claims, each kept raw until read.
type claimSet map[string]json.RawMessage

// parseClaims decodes a JSON object of claims. A claim given twice keeps
// its last value, as encoding/json does.
func parseClaims(data []byte) (claimSet, error) {
	var c claimSet
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("upstream: claims are not a JSON object: %w", err)
	}
	if c == nil {
		return nil, errors.New("upstream: claims are not a JSON object")
	}
	return c, nil
}

// fill adds to c the claims of other that c lacks.
func (c claimSet) fill(other claimSet) {
	for k, v := range other {
		if _, ok := c[k]; !ok {
			c[k] = v
		}
	}
}

// str reads a string claim; "" when absent or of another type.
func (c claimSet) str(name string) string {
	var s string
	if raw, ok := c[name]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// boolean reads a claim given as a JSON boolean or as the string "true" or
// "false" (some providers do); anything else is false.
func (c claimSet) boolean(name string) bool {
	raw, ok := c[name]
	if !ok {
		return false
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.EqualFold(strings.TrimSpace(s), "true")
	}
	return false
}

// strings reads a claim given as an array of strings (other elements are
// skipped) or as a single string (one element); nil otherwise.
func (c claimSet) strings(name string) []string {
	raw, ok := c[name]
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var out []string
	for _, item := range list {
		if json.Unmarshal(item, &s) == nil && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// maxEpoch bounds a time claim to years a time.Time holds without
// overflow (far beyond any real one).
const maxEpoch = 1 << 40

// time reads a claim of seconds since the epoch (an integer or a
// fraction); the zero time when absent, of another type or out of range.
func (c claimSet) time(name string) time.Time {
	raw, ok := c[name]
	if !ok {
		return time.Time{}
	}
	var f float64 // a JSON number only, not a string
	if json.Unmarshal(raw, &f) != nil || math.IsNaN(f) || f <= 0 || f >= maxEpoch {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// identityFrom maps claims to an Identity per s (after WithDefaults). The
// claims must have a non-empty string sub.
func identityFrom(c claimSet, s Settings) (Identity, error) {
	id := Identity{
		Subject:       c.str("sub"),
		Username:      c.str(s.UsernameClaim),
		Name:          c.str(s.NameClaim),
		Email:         c.str(s.EmailClaim),
		EmailVerified: c.boolean("email_verified"),
		AMR:           c.strings("amr"),
		ACR:           c.str("acr"),
		AuthTime:      c.time("auth_time"),
	}
	if id.Email == "" {
		id.EmailVerified = false
	}
	if id.Subject == "" {
		return Identity{}, errors.New("upstream: the claims have no subject (sub)")
	}
	if s.GroupsClaim != "" {
		id.Groups = c.strings(s.GroupsClaim)
	}
	return id, nil
}

// identityFromJSON maps a JSON object of claims to an Identity per s, with
// s's defaults applied (the fuzz target's entry point).
func identityFromJSON(claims []byte, s Settings) (Identity, error) {
	c, err := parseClaims(claims)
	if err != nil {
		return Identity{}, err
	}
	return identityFrom(c, s.WithDefaults())
}
