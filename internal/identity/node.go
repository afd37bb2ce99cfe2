package identity

import (
	"context"
	"log/slog"
	"time"

	"latchkey/internal/secret"
	"latchkey/internal/store"
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
