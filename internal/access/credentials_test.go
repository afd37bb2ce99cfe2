package access

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"latchkey/internal/oauth"
)

// bearerOnly is configured as the API and userinfo are: Bearer only.
func bearerOnly() Config { return Config{Schemes: []Scheme{Bearer()}} }

// gitLike is configured as git's resource is: Basic and Bearer, prompting.
func gitLike() Config { return Config{Schemes: []Scheme{Basic(), Bearer()}, Prompt: true} }

// giteaLike is configured as the Gitea dialect's routes are: Gitea's
// token, Bearer and Basic.
func giteaLike() Config { return Config{Schemes: []Scheme{Token(), Bearer(), Basic()}} }

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// outcome is what reading credentials gives: a token, or instead no
// credentials, a malformed header, or a scheme the resource does not take.
type outcome struct {
	token                    string
	none, malformed, foreign bool
}

func read(token string) outcome { return outcome{token: token} }

// Outcomes other than a token.
var (
	noCreds   = outcome{none: true}
	badHeader = outcome{malformed: true}
	foreign   = outcome{foreign: true}
)

func TestCredentialForms(t *testing.T) {
	const tok, other = "lka_token", "lka_other"
	for _, c := range []struct {
		name   string
		header string
		api    outcome // what the Bearer-only resource reads
		git    outcome // what git's resource reads
		gitea  outcome // what the Gitea dialect reads
	}{
		{"no header is no credentials", "", noCreds, noCreds, noCreds},
		{"Bearer", "Bearer " + tok, read(tok), read(tok), read(tok)},
		{"Bearer in any letter case, trimmed", "bEaReR   " + tok + "  ", read(tok), read(tok), read(tok)},
		{"Bearer without a token is malformed", "Bearer ", badHeader, badHeader, badHeader},
		{"Bearer without a space is malformed", "Bearer", badHeader, badHeader, badHeader},
		{"Bearer separated by a tab is malformed", "Bearer\t" + tok, badHeader, badHeader, badHeader},
		{"Basic: the token as password with any user name", basic("whoever", tok), foreign, read(tok), read(tok)},
		{"Basic: the token as password with no user name", basic("", tok), foreign, read(tok), read(tok)},
		{"Basic: the token as user name with an empty password", basic(tok, ""), foreign, read(tok), read(tok)},
		{"Basic: TOKEN:x-oauth-basic", basic(tok, "x-oauth-basic"), foreign, read(tok), read(tok)},
		{"Basic: two tokens, the password wins", basic(tok, other), foreign, read(other), read(other)},
		{"Basic: a user name that is no token, with an empty password", basic("someone", ""), foreign, read("someone"), read("someone")},
		{"Basic: any password is what is checked", basic("someone", "secret"), foreign, read("secret"), read("secret")},
		{"Basic: an empty pair is no credentials", basic("", ""), foreign, noCreds, noCreds},
		{"Basic in any letter case", "bASIC " + base64.StdEncoding.EncodeToString([]byte("u:"+tok)), foreign, read(tok), read(tok)},
		{"Basic with a non-ASCII look-alike name is malformed", "Baſic " + base64.StdEncoding.EncodeToString([]byte("u:"+tok)), badHeader, badHeader, badHeader},
		{"Basic that is not base64 is malformed", "Basic !!!", foreign, badHeader, badHeader},
		{"Basic without a colon is malformed", "Basic " + base64.StdEncoding.EncodeToString([]byte(tok)), foreign, badHeader, badHeader},
		{"Basic with two spaces is malformed", "Basic  " + base64.StdEncoding.EncodeToString([]byte("u:"+tok)), foreign, badHeader, badHeader},
		{"Gitea's token scheme, where Gitea's dialect is served", "token " + tok, foreign, foreign, read(tok)},
		{"token in any letter case, trimmed", "TOKEN  " + tok + " ", foreign, foreign, read(tok)},
		{"token without a token is malformed", "token ", foreign, foreign, badHeader},
		{"token without a space is malformed", "token", foreign, foreign, badHeader},
		{"an unknown scheme is a scheme not taken here", "Digest x", foreign, foreign, foreign},
		{"a scheme name that is no token is malformed", "Dig(est x", badHeader, badHeader, badHeader},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []struct {
				cfg  Config
				want outcome
			}{{bearerOnly(), c.api}, {gitLike(), c.git}, {giteaLike(), c.gitea}} {
				got, err := New(r.cfg).token(c.header)
				if o := outcomeOf(t, got, err); o != r.want {
					t.Errorf("schemes %v: %q read as %+v, want %+v", names(r.cfg), c.header, o, r.want)
				}
			}
		})
	}
}

// outcomeOf is the outcome of a read; any other error fails the test.
func outcomeOf(t *testing.T, token string, err error) outcome {
	t.Helper()
	var e *oauth.Error
	switch {
	case err == nil:
		return read(token)
	case errors.Is(err, ErrUnsupportedScheme):
		return foreign
	case errors.Is(err, ErrNoCredentials):
		return noCreds
	case errors.As(err, &e) && e.Code == oauth.CodeInvalidRequest && e.Status == http.StatusBadRequest &&
		strings.HasPrefix(e.Description, "the Authorization header must be ") && strings.Contains(e.Description, `"Bearer <token>"`):
		return badHeader
	}
	t.Fatalf("unexpected error %v", err)
	return outcome{}
}

func names(cfg Config) []string {
	var out []string
	for _, s := range cfg.Schemes {
		out = append(out, s.name)
	}
	return out
}

// TestMalformedHeaderNamesEveryAcceptedForm checks the words of the
// invalid_request error: they name what the resource takes.
func TestMalformedHeaderNamesEveryAcceptedForm(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{bearerOnly(), `the Authorization header must be "Bearer <token>"`},
		{giteaLike(), `the Authorization header must be one of: "token <token>", "Bearer <token>", Basic with the token as password`},
	} {
		_, err := New(c.cfg).token("Bearer")
		if e := oauth.AsError(err); e.Description != c.want {
			t.Errorf("schemes %v: %q, want %q", names(c.cfg), e.Description, c.want)
		}
	}
}

// TestBearerToken: BearerToken reads the header as a Bearer-only Guard
// does, and does not check the token.
func TestBearerToken(t *testing.T) {
	for _, c := range []struct {
		headers []string
		token   string
		err     func(error) bool
	}{
		{headers: []string{"Bearer abc"}, token: "abc"},
		{headers: []string{"bEaReR  abc "}, token: "abc"},
		{headers: nil, err: func(err error) bool { return errors.Is(err, ErrNoCredentials) && !errors.Is(err, ErrUnsupportedScheme) }},
		{headers: []string{"Digest x"}, err: func(err error) bool { return errors.Is(err, ErrUnsupportedScheme) }},
		{headers: []string{"Bearer"}, err: isInvalidRequest},
		{headers: []string{"Bearer  "}, err: isInvalidRequest},
		{headers: []string{"Bearer a", "Bearer b"}, err: isInvalidRequest},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		for _, h := range c.headers {
			r.Header.Add("Authorization", h)
		}
		token, err := BearerToken(r)
		if c.err == nil && (err != nil || token != c.token) || c.err != nil && !c.err(err) {
			t.Errorf("%q: %q, %v", c.headers, token, err)
		}
	}
}

func isInvalidRequest(err error) bool {
	var e *oauth.Error
	return errors.As(err, &e) && e.Code == "invalid_request"
}
