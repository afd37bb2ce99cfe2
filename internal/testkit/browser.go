package testkit

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// Browser is a scripted user agent: it keeps cookies, follows redirects on
// the server, fills in the login form and answers the consent page the way
// a person would, through the same HTML forms.
type Browser struct {
	Username, Password string
	// Decision is the consent answer: "approve" (default) or "deny".
	Decision string
	// UserCode is typed into the device form when it is not prefilled.
	UserCode string
	// Code, when set, answers the second step of the sign-in (the factor
	// page's authenticator app code): a code the test computes.
	Code   func() string
	Client *http.Client
	base   *url.URL
	// Pages records every page the browser saw, for assertions.
	Pages []string
}

// Browser returns a new browser for the env's server, logging in as
// username with password when asked to.
func (e *Env) Browser(username, password string) *Browser {
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(e.URL)
	return &Browser{
		Username: username, Password: password, Decision: "approve", base: base,
		Client: &http.Client{Jar: jar, Transport: e.http.Client().Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

var (
	formPattern     = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)
	hiddenPattern   = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	userCodePattern = regexp.MustCompile(`name="user_code"[^>]*value="([^"]*)"`)
)

// ErrStuck means the flow ended on a page of the server instead of a
// redirect to the client.
var ErrStuck = errors.New("the flow stopped on a server page")

// Authorize starts at an authorization URL and plays the person until the
// server redirects away from itself (to the client's redirect URI), and
// returns that URL. An error page is returned as ErrStuck with its status.
func (b *Browser) Authorize(start string) (*url.URL, error) {
	left, body, err := b.run(start)
	if err != nil {
		return nil, err
	}
	if left == nil {
		return nil, fmt.Errorf("%w: no form to answer: %s", ErrStuck, textOf(body))
	}
	return left, nil
}

// Device plays the person of a device authorization: it opens the
// verification URI (with the user code prefilled, or typing Browser.UserCode),
// signs in, answers the consent page, and returns the text of the final page.
func (b *Browser) Device(verificationURI string) (string, error) {
	left, body, err := b.run(verificationURI)
	if err != nil {
		return "", err
	}
	if left != nil {
		return "", fmt.Errorf("the device flow left the server for %s", left)
	}
	return textOf(body), nil
}

// run follows the flow from start until it leaves the server (the URL) or
// stops on a page with no form to answer (its body).
func (b *Browser) run(start string) (*url.URL, string, error) {
	next, err := url.Parse(start)
	if err != nil {
		return nil, "", err
	}
	method, form := http.MethodGet, url.Values(nil)
	for range 20 {
		if next.Host != b.base.Host {
			return next, "", nil
		}
		resp, body, err := b.do(method, next, form)
		if err != nil {
			return nil, "", err
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			next, method, form = resp.Request.URL.ResolveReference(mustParse(loc)), http.MethodGet, nil
			continue
		}
		b.Pages = append(b.Pages, body)
		if resp.StatusCode != http.StatusOK {
			return nil, "", fmt.Errorf("%w: status %d: %s", ErrStuck, resp.StatusCode, textOf(body))
		}
		action, values, ok := b.answer(body)
		if !ok {
			return nil, body, nil
		}
		next, method, form = b.base.ResolveReference(mustParse(action)), http.MethodPost, values
	}
	return nil, "", errors.New("too many steps")
}

// answer fills the login or consent form of a page.
func (b *Browser) answer(body string) (string, url.Values, bool) {
	for _, m := range formPattern.FindAllStringSubmatch(body, -1) {
		action, inner := html.UnescapeString(m[1]), m[2]
		values := url.Values{}
		for _, h := range hiddenPattern.FindAllStringSubmatch(inner, -1) {
			values.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		switch {
		case action == "/login":
			values.Set("username", b.Username)
			values.Set("password", b.Password)
			return action, values, true
		case action == "/login/factor" && b.Code != nil && strings.Contains(inner, `name="code"`):
			values.Set("code", b.Code())
			return action, values, true
		case action == "/login/device":
			values.Set("user_code", b.UserCode)
			if m := userCodePattern.FindStringSubmatch(inner); m != nil && b.UserCode == "" {
				values.Set("user_code", html.UnescapeString(m[1]))
			}
			return action, values, true
		case strings.Contains(inner, `name="decision"`):
			values.Set("decision", b.Decision)
			return action, values, true
		}
	}
	return "", nil, false
}

// Get fetches a server page and returns status and body.
func (b *Browser) Get(path string) (int, string, error) {
	resp, body, err := b.do(http.MethodGet, b.base.ResolveReference(mustParse(path)), nil)
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, body, nil
}

// Post submits a form to a server path as-is and returns the response.
func (b *Browser) Post(path string, form url.Values) (*http.Response, string, error) {
	return b.do(http.MethodPost, b.base.ResolveReference(mustParse(path)), form)
}

func (b *Browser) do(method string, u *url.URL, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.String(), body)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base.Scheme+"://"+b.base.Host)
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, string(raw), err
}

func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return &url.URL{Path: "/invalid"}
	}
	return u
}

var tagPattern = regexp.MustCompile(`<[^>]*>`)

// textOf strips tags for short error messages.
func textOf(body string) string {
	t := strings.Join(strings.Fields(html.UnescapeString(tagPattern.ReplaceAllString(body, " "))), " ")
	if len(t) > 300 {
		t = t[:300]
	}
	return t
}
