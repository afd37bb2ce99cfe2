package rp

import (
	"fmt"
	"net"
	"os"
	"testing"
)

// missing skips the test because a third-party program it needs is not
// installed. On CI (CI=true) it fails instead: .ci/run installs everything
// these tests need, so a missing program there is a broken install step, not
// a reason to skip the test silently.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: this test must run; .ci/run installs what it needs)", msg)
	}
	t.Skipf("skipping: %s", msg)
}

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a moment
// ago, for a server that must be told its port before it starts.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
