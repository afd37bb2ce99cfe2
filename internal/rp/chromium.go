// Package rp runs Latchkey against real third-party relying parties: panva's
// openid-client from npm and Apache httpd with mod_auth_openidc, the latter
// driven by a real headless Chromium. The tests are in this package's
// _test.go files; this file holds the helper that starts the browser.
package rp

import (
	"context"
	"io"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// ChromiumFlags are the command-line switches Chromium needs here: headless,
// as root without a sandbox, no GPU, and none of the background network
// traffic that would wait for an internet that is not there.
var ChromiumFlags = []string{
	"headless",
	"no-sandbox",
	"disable-gpu",
	"disable-quic",
	"no-first-run",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
}

// FindChromium returns the path of an installed Chromium (or Chrome), or ""
// when there is none.
func FindChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}

// StartChromium starts the Chromium at execPath with a fresh profile in
// profileDir (an empty directory the caller owns) and returns a chromedp
// context for one tab. The browser's own output goes to output when it is
// not nil. cancel closes the tab, stops the browser and waits until it has
// exited, so profileDir can be removed after it.
func StartChromium(parent context.Context, execPath, profileDir string, output io.Writer) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(execPath), chromedp.UserDataDir(profileDir),
		chromedp.WindowSize(960, 720))
	for _, flag := range ChromiumFlags {
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
