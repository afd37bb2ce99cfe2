// Package webhook turns repository events into webhook deliveries and
// sends them: it builds each dialect's payloads and headers, stores the
// deliveries before the event's request answers, and a worker on every
// node sends them through the guarded outbound client, with retries, each
// delivery by one node at a time.
package webhook

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"latchkey/internal/secret"
)

// Secrets seals webhook secrets for storage and opens them to sign a
// delivery: with secret.Sealer under the key-encryption key (purpose
// "latchkey webhook secrets"), with the repository's ID as additional
// data, so that a sealed secret copied onto another repository's hook
// does not open.
type Secrets struct {
	sealer *secret.Sealer
}

// NewSecrets derives the sealing key from the 32-byte key-encryption key.
func NewSecrets(kek []byte) (*Secrets, error) {
	if len(kek) != 32 {
		return nil, errors.New("webhook: the key-encryption key must be 32 bytes")
	}
	s, err := secret.NewSealer(kek, "latchkey webhook secrets")
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return &Secrets{sealer: s}, nil
}

// Seal encrypts a hook's secret for repository repoID. An empty secret
// seals to nil: the hook signs nothing.
func (s *Secrets) Seal(repoID int64, plain string) ([]byte, error) {
	if plain == "" {
		return nil, nil
	}
	return s.sealer.Seal([]byte(plain), additional(repoID))
}

// Open decrypts a secret sealed for repository repoID; nil opens to "".
func (s *Secrets) Open(repoID int64, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	plain, err := s.sealer.Open(sealed, additional(repoID))
	if err != nil {
		return "", fmt.Errorf("webhook: open secret: %w", err)
	}
	return string(plain), nil
}

func additional(repoID int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("repo:"), uint64(repoID))
}

// MaxURLLength bounds a webhook's target URL.
const MaxURLLength = 2048

// CheckTarget checks a webhook's target URL as it is registered: an
// absolute http or https URL with a host, no user name or password (a
// secret belongs in the hook's secret, not in a URL that lists show) and
// no fragment. The address it points at is checked at every delivery,
// against the address the name resolves to then (see package outbound),
// so a name that later resolves to a private address is still refused.
// The error's text is fit to show to the caller.
func CheckTarget(raw string) error {
	if raw == "" {
		return errors.New("The webhook needs a URL.")
	}
	if len(raw) > MaxURLLength {
		return fmt.Errorf("The webhook URL is longer than %d characters.", MaxURLLength)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "":
		return errors.New("The webhook URL must be an absolute http or https URL.")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("The webhook URL must use http or https.")
	case u.Hostname() == "":
		return errors.New("The webhook URL has no host.")
	case u.User != nil:
		return errors.New("The webhook URL may not hold a user name or password; use the webhook's secret.")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("The webhook URL may not have a fragment.")
	}
	return nil
}
