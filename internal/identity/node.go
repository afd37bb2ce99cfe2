package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/upstream"
)

// sealPurpose is the sealing purpose of the sources' secrets.
const sealPurpose = "latchkey identity source secrets"

// ForNode returns the Service of a node or a command: its secrets sealed
// under the key-encryption key kek, its LDAP sources served by package
// ldapdir. ended is told of users whose sessions a source's change ended
// (for back-channel logout); it may be nil.
func ForNode(st store.Store, kek []byte, now func() time.Time, log *slog.Logger,
	ended func(ctx context.Context, userID int64) error) (*Service, error) {
	sealer, err := secret.NewSealer(kek, sealPurpose)
	if err != nil {
		return nil, err
	}
	return New(Config{Store: st, Sealer: sealer, Now: now, Log: log, Ended: ended,
		OpenDirectory: openDirectory, Check: checkKind}), nil
}

// flowPurpose is the sealing purpose of the sign-in flows kept in a
// browser's cookie while it visits an upstream provider.
const flowPurpose = "latchkey upstream sign-in flows"

// UseHTTP makes the Service talk to upstream providers through hc, which
// must be the node's guarded outbound client (outbound.Client.HTTPClient):
// discovery, token, keys and userinfo requests all go through it.
func (s *Service) UseHTTP(hc *http.Client, kek []byte) error {
	flows, err := secret.NewSealer(kek, flowPurpose)
	if err != nil {
		return err
	}
	s.upstream, s.flows = upstream.New(hc, s.cfg.Now), flows
	return nil
}

// Upstream is the relying party of the upstream providers; nil until UseHTTP.
func (s *Service) Upstream() *upstream.Client { return s.upstream }

// SealFlow seals v (a browser's sign-in flow) for a cookie.
func (s *Service) SealFlow(v any) (string, error) {
	if s.flows == nil {
		return "", errors.New("identity: no upstream sign-in on this node")
	}
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	box, err := s.flows.Seal(plain, []byte(flowPurpose))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(box), nil
}

// OpenFlow opens what SealFlow sealed into v; an error means a forged,
// damaged or foreign cookie.
func (s *Service) OpenFlow(sealed string, v any) error {
	if s.flows == nil {
		return errors.New("identity: no upstream sign-in on this node")
	}
	box, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return errors.New("identity: the sign-in flow is not readable")
	}
	plain, err := s.flows.Open(box, []byte(flowPurpose))
	if err != nil {
		return errors.New("identity: the sign-in flow is not readable")
	}
	return json.Unmarshal(plain, v)
}
