// Package browser tests Latchkey's pages the way a person uses them: in a
// real headless Chromium (Debian's chromium package, driven by chromedp),
// against a real node started by package testkit. The tests register an
// application, copy its secret from the page, sign in and approve, revoke
// access, suspend applications as an administrator, change a password,
// check the login throttle, and take the screenshots in docs/img/. A plain
// HTTP test checks that every state-changing form refuses forged posts.
//
// This file holds the small launcher the tests share; the tests are in the
// _test.go files.
package browser

import (
	"context"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Flags are the command-line switches Chromium needs here: headless, as
// root without a sandbox, without a GPU, and without the background
// traffic that would wait for an internet that is not there.
var Flags = []string{
	"headless",
	"no-sandbox",
	"disable-gpu",
	"disable-quic",
	"no-first-run",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
}

// ExecPath returns the path of an installed Chromium (or Chrome), or ""
// when there is none.
func ExecPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}

// Require returns the Chromium to test with. Without one it skips t, saying
// how to install it, except in CI (CI=true), where a missing browser fails
// the test: CI installs it, so its absence is a broken set-up, not a skip.
func Require(t testing.TB) string {
	t.Helper()
	path := ExecPath()
	if path != "" {
		return path
	}
	const msg = "no Chromium found: install it (apt-get install -y --no-install-recommends chromium) to run the browser tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Start starts the Chromium at execPath with a fresh profile in profileDir
// (an empty directory the caller owns) and a window of width×height, and
// returns a chromedp context for one tab. Chromium's own output goes to
// output unless it is nil. cancel closes the tab, stops the browser and
// waits until it has exited, so that profileDir can be removed after it.
func Start(parent context.Context, execPath, profileDir string, width, height int, output io.Writer) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(execPath),
		chromedp.UserDataDir(profileDir), chromedp.WindowSize(width, height))
	for _, flag := range Flags {
		opts = append(opts, chromedp.Flag(flag, true))
	}
	if output != nil {
		opts = append(opts, chromedp.CombinedOutput(output))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	return ctx, func() {
		cancelTab()
		cancelAlloc()
	}
}
