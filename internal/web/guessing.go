package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"latchkey/internal/secret"
)

// Password guessing is slowed per requester and capped per account, so
// that guessing stays slow however many addresses a guesser has, while
// failures elsewhere do not lock the person with the right password out:
//
//   - an account seen from one source (pairKey) gets five free failures,
//     then waits: a source that keeps failing is stopped quickly;
//   - a source (an IPv4 address or IPv6 /64) failing at any accounts gets
//     the same budget, against spraying one password across accounts;
//   - all failures at one account, from everywhere, share a ceiling much
//     higher than a source's (perAccount), past which the account's
//     delay starts at a minute and doubles to 15 minutes;
//   - a browser that signed in to the account before carries a signed
//     "known browser" cookie; it is throttled on its own (pairKey and the
//     browser's key) and not by the account's ceiling or the source's
//     failures, so the account's owner still signs in from their browser
//     while others hammer the account.
//
// A sign-in from a fresh source and a browser the account has not seen
// passes until the account reaches its ceiling; past it, it waits like
// every other unknown requester: that is the ceiling on guessing.

// knownBrowserCookie remembers that a browser signed in to an account.
const knownBrowserCookie = "latchkey_known"

// knownBrowserTTL is how long a browser stays known after a sign-in.
const knownBrowserTTL = 180 * 24 * time.Hour

// loginAttempt is what one sign-in is charged to: keys for Reserve and
// Release, the keys a success clears, and the account and known-browser
// nonce (empty if unknown) to remember after a success.
type loginAttempt struct {
	keys    []throttleKey
	clear   []string
	account string
	browser string
}

// accountName is the throttle's name of the account a user name stands
// for (whether or not it exists), hashed so that the database does not
// keep what is typed.
func accountName(username string) string {
	return "account:" + secret.Hash(strings.ToLower(username))
}

// pairKey counts the failures at an account from the request's source.
func pairKey(account string, r *http.Request) throttleKey {
	return throttleKey{name: "pair:" + account + "|" + source(r), kind: perRequester, gate: true}
}

// loginAttempt lists the throttle keys of a sign-in as username (see the
// design above).
func (p *Pages) loginAttempt(r *http.Request, username string) loginAttempt {
	account := accountName(username)
	pair := pairKey(account, r)
	ceiling := throttleKey{name: account, kind: perAccount, gate: true}
	if nonce, ok := p.knownBrowser(r, account); ok {
		known := throttleKey{name: "browser:" + nonce, kind: perRequester, gate: true}
		ceiling.gate = false // counted, but the owner's browser is not stopped by it
		return loginAttempt{keys: []throttleKey{pair, known, ceiling}, clear: []string{pair.name, known.name},
			account: account, browser: nonce}
	}
	from := throttleKey{name: "source:" + source(r), kind: perRequester, gate: true}
	return loginAttempt{keys: []throttleKey{pair, from, ceiling}, clear: []string{pair.name}, account: account}
}

// knownBrowser returns the nonce of the request's known-browser cookie if
// the cookie is valid for account.
func (p *Pages) knownBrowser(r *http.Request, account string) (string, bool) {
	c, err := r.Cookie(p.cookieName(knownBrowserCookie))
	if err != nil {
		return "", false
	}
	nonce, mac, ok := strings.Cut(c.Value, ".")
	if !ok || nonce == "" || !hmac.Equal([]byte(mac), []byte(p.knownBrowserMAC(account, nonce))) {
		return "", false
	}
	return nonce, true
}

// rememberBrowser sets the known-browser cookie for account after a
// successful sign-in, keeping the browser's nonce if it had one for it.
func (p *Pages) rememberBrowser(w http.ResponseWriter, account, nonce string) {
	if nonce == "" {
		nonce = secret.New("")
	}
	http.SetCookie(w, p.cookie(knownBrowserCookie, nonce+"."+p.knownBrowserMAC(account, nonce), knownBrowserTTL))
}

// knownBrowserMAC signs (account, nonce) with the key the CSRF tokens use,
// under its own label, so every node accepts every node's cookie.
func (p *Pages) knownBrowserMAC(account, nonce string) string {
	mac := hmac.New(sha256.New, p.csrfKey)
	mac.Write([]byte("known-browser\x00" + account + "\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
