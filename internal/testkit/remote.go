package testkit

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"
)

// RemoteBrowser returns a scripted browser for a Latchkey node that this
// process did not start (a `latchkey serve` process, say), reached at
// baseURL, logging in as username with password when asked to. Each
// request gives up after 30 seconds.
func RemoteBrowser(baseURL, username, password string) *Browser {
	jar, _ := cookiejar.New(nil)
	return newBrowser(baseURL, username, password, jar)
}

// At returns a browser that talks to another node at baseURL and shares
// b's cookies, as one person's browser does when a load balancer sends its
// requests to different nodes. (Cookies do not depend on the port, so the
// nodes of one host see the same cookies.)
func (b *Browser) At(baseURL string) *Browser {
	nb := newBrowser(baseURL, b.Username, b.Password, b.Client.Jar)
	nb.Decision = b.Decision
	return nb
}

func newBrowser(baseURL, username, password string, jar http.CookieJar) *Browser {
	base, err := url.Parse(baseURL)
	if err != nil {
		base = &url.URL{Scheme: "http", Host: "invalid"}
	}
	return &Browser{
		Username: username, Password: password, Decision: "approve", base: base,
		Client: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}
