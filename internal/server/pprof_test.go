package server_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"latchkey/internal/config"
	"latchkey/internal/server"
	"latchkey/internal/testkit"
)

// TestPprofListenServesProfilesOnItsOwnListenerOnly: with --pprof-listen
// the profiles answer on that address, never on the public listener, and
// the profiling listener closes with the node.
func TestPprofListenServesProfilesOnItsOwnListenerOnly(t *testing.T) {
	st, dir := openStore(t)
	pprofAddr := freeAddr(t)
	cfg := config.Config{BaseURL: "http://127.0.0.1:9", DataDir: dir, DB: filepath.Join(dir, "latchkey.db"),
		AccessTokenTTL: time.Hour, RefreshTokenTTL: time.Hour, CodeTTL: time.Minute, SessionTTL: time.Hour,
		ShutdownTimeout: time.Second, PprofListen: pprofAddr}
	srv, err := server.New(context.Background(), cfg, st, testkit.Logger(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	public := "http://" + ln.Addr().String()
	waitFor(t, public+"/healthz")

	if got := status(t, "http://"+pprofAddr+"/debug/pprof/cmdline"); got != http.StatusOK {
		t.Errorf("GET /debug/pprof/cmdline on the pprof listener: %d", got)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
		if got := status(t, public+path); got == http.StatusOK {
			t.Errorf("GET %s on the public listener: %d", path, got)
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := http.Get("http://" + pprofAddr + "/debug/pprof/"); err == nil {
		t.Error("the pprof listener still answers after the node stopped")
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func status(t *testing.T, u string) int {
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitFor(t *testing.T, u string) {
	for range 100 {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered", u)
}
