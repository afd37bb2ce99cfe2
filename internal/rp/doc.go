// Package rp runs Latchkey against real third-party relying parties and
// clients: panva's openid-client from npm, Apache httpd with
// mod_auth_openidc (driven by a real headless Chromium), and Debian's
// git-credential-oauth. The tests are in this package's _test.go files.
package rp
