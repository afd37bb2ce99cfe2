package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/cleanup"
	"latchkey/internal/config"
	"latchkey/internal/server"
)

func serveCommand() *command {
	return &command{check: checkServe, run: serve}
}

// checkServe validates the settings before the database is touched, and
// says loudly which development settings are in force.
func checkServe(e *cmdEnv) error {
	warnings, err := e.cfg.ValidateServe()
	if err != nil {
		return err
	}
	for _, w := range warnings {
		e.log.Warn(w)
		fmt.Fprintln(e.stderr, "WARNING: "+w)
	}
	return nil
}

// serveGCPercent is the garbage collector's target for a serving node
// unless GOGC is set: a collection when the heap has grown by four times
// what the last one left live, not by once (Go's default). A node's live
// heap is small (3 MB under load), so at the default the collector ran 25
// times a second at 3 000 grants a second and took CPU from the requests;
// at 400, code exchange and refresh ran 20-30 % faster (issue 17,
// docs/performance.md) for a heap that stays in the tens of megabytes.
const serveGCPercent = 400

// serve runs a node until SIGINT or SIGTERM, then drains and exits.
func serve(ctx context.Context, e *cmdEnv) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
	if !e.cfg.DisableAdminBootstrap {
		password, err := admin.BootstrapAdmin(ctx, e.store, time.Now())
		if err != nil {
			return err
		}
		if password != "" {
			fmt.Fprintf(e.stdout, "Created the first administrator.\n  user name: admin\n  password:  %s\nThis password is shown only once.\n", password)
		}
	}
	srv, err := server.New(ctx, e.cfg, e.store, e.log, server.Options{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", e.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	stopCleanup := cleanup.Start(ctx, cleanup.Config{Store: e.store, Interval: e.cfg.CleanupInterval,
		AuditRetention: e.cfg.AuditRetention, UnusedClientsAfter: e.cfg.RegistrationUnusedAfter, Logger: e.log})
	defer stopCleanup() // before the store closes
	e.log.Info("latchkey listening", "addr", ln.Addr().String(), "base_url", e.cfg.Issuer(), "db", config.RedactDSN(e.cfg.DSN()))
	return srv.Serve(ctx, ln)
}
