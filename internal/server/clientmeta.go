package server

import (
	"fmt"
	"log/slog"

	"latchkey/internal/clientmeta"
	"latchkey/internal/config"
	"latchkey/internal/outbound"
	"latchkey/internal/store"
)

// newClientSource builds the protocol core's source of clients: the
// store, and client ID metadata documents (package clientmeta), fetched
// through the guarded outbound client, which reaches internal addresses
// only when --client-metadata-allowed-internal-hosts names them.
func newClientSource(cfg config.Config, st store.Store, log *slog.Logger, opts Options) (*clientmeta.Source, error) {
	m := cfg.ClientMetadata
	allow, err := outbound.ParseAllowList(m.AllowedInternalHosts)
	if err != nil {
		return nil, fmt.Errorf("--client-metadata-allowed-internal-hosts: %w", err)
	}
	return clientmeta.New(clientmeta.Config{
		Store: st, Now: opts.Now, Off: m.Off(), Hosts: m.HostList(), Allow: allow,
		RootCAs: opts.OutboundRootCAs, Logger: log,
	}), nil
}
