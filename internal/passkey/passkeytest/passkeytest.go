// Package passkeytest is a software WebAuthn authenticator for tests: it
// answers the options package passkey begins with (ES256 keys, "none"
// attestation) the way a browser with an authenticator would, and lets a
// test bend one thing at a time (origin, challenge, counter, user handle,
// user verification) to show that the relying party refuses it.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator holds credentials. Origin is the origin the "browser"
// puts into the client data; UV says the authenticator verifies its user
// (a PIN or biometric).
type Authenticator struct {
	Origin string
	UV     bool
}

// Credential is one key pair the authenticator made.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	Counter    uint32 // the last counter sent; 0 and Fixed keep it at 0
	// Fixed keeps the counter at 0, as synced passkeys do.
	Fixed bool
}

// Tweak changes one thing of an answer; the zero Tweak changes nothing.
type Tweak struct {
	Origin     string  // the origin in the client data
	Challenge  string  // the challenge in the client data (base64url)
	RPID       string  // the relying party whose hash the authenticator data carries
	Counter    *uint32 // the counter to send
	UserHandle []byte  // the user handle to send
	NoUV       bool    // do not verify the user
}

// options is what the authenticator reads of the options.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Create answers navigator.credentials.create options with a new
// discoverable credential; it returns the PublicKeyCredential as JSON.
func (a *Authenticator) Create(opts []byte, tw Tweak) ([]byte, *Credential, error) {
	var o options
	if err := json.Unmarshal(opts, &o); err != nil {
		return nil, nil, err
	}
	user, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("user id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	c := &Credential{ID: id, Key: key, RPID: o.PublicKey.RP.ID, UserHandle: user}
	clientData := a.clientData("webauthn.create", o.PublicKey.Challenge, tw)
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, nil, err
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:]})
	if err != nil {
		return nil, nil, err
	}
	auth := a.authData(c.RPID, tw, 0x41, 0)  // UP, AT
	auth = append(auth, make([]byte, 16)...) // AAGUID
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(id)))
	auth = append(auth, id...)
	auth = append(auth, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, nil, err
	}
	out, err := json.Marshal(map[string]any{
		"id": b64(id), "rawId": b64(id), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64(clientData), "attestationObject": b64(att),
			"transports": []string{"internal"}},
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
	})
	return out, c, err
}

// Get answers navigator.credentials.get options with credential c; it
// returns the PublicKeyCredential as JSON.
func (a *Authenticator) Get(opts []byte, c *Credential, tw Tweak) ([]byte, error) {
	if c == nil {
		return nil, errors.New("passkeytest: no credential")
	}
	var o options
	if err := json.Unmarshal(opts, &o); err != nil {
		return nil, err
	}
	rpID := c.RPID
	if o.PublicKey.RPID != "" && o.PublicKey.RPID != rpID {
		return nil, fmt.Errorf("passkeytest: the credential is for %s, not %s", rpID, o.PublicKey.RPID)
	}
	if !c.Fixed {
		c.Counter++
	}
	counter := c.Counter
	if tw.Counter != nil {
		counter = *tw.Counter
	}
	clientData := a.clientData("webauthn.get", o.PublicKey.Challenge, tw)
	auth := a.authData(rpID, tw, 0x01, counter)
	hash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, auth...), hash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		return nil, err
	}
	handle := c.UserHandle
	if tw.UserHandle != nil {
		handle = tw.UserHandle
	}
	return json.Marshal(map[string]any{
		"id": b64(c.ID), "rawId": b64(c.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64(clientData), "authenticatorData": b64(auth),
			"signature": b64(sig), "userHandle": b64(handle)},
		"clientExtensionResults": map[string]any{},
	})
}

func (a *Authenticator) clientData(typ, challenge string, tw Tweak) []byte {
	origin := a.Origin
	if tw.Origin != "" {
		origin = tw.Origin
	}
	if tw.Challenge != "" {
		challenge = tw.Challenge
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// authData is the authenticator data up to the counter: the relying
// party's hash, the flags (UV added when the authenticator verifies), the
// counter.
func (a *Authenticator) authData(rpID string, tw Tweak, flags byte, counter uint32) []byte {
	if tw.RPID != "" {
		rpID = tw.RPID
	}
	h := sha256.Sum256([]byte(rpID))
	if a.UV && !tw.NoUV {
		flags |= 0x04
	}
	out := append(h[:], flags)
	return binary.BigEndian.AppendUint32(out, counter)
}
