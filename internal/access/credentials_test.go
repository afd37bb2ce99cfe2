package access

import (
	"encoding/base64"
	"errors"
	"net/http"
	"testing"

	"latchkey/internal/oauth"
)

// bearerOnly is configured as the API and userinfo are: Bearer only.
func bearerOnly() Config { return Config{Schemes: []Scheme{Bearer()}} }

// gitLike is configured as git's resource is: Basic and Bearer, prompting.
func gitLike() Config { return Config{Schemes: []Scheme{Basic(), Bearer()}, Prompt: true} }

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// outcome is what reading credentials gives: a token, or instead no
// credentials or a malformed header.
type outcome struct {
	token           string
	none, malformed bool
}

func read(token string) outcome { return outcome{token: token} }

// Outcomes other than a token.
var (
	noCreds   = outcome{none: true}
	badHeader = outcome{malformed: true}
)

func TestCredentialForms(t *testing.T) {
	const tok, other = "lka_token", "lka_other"
	for _, c := range []struct {
		name   string
		header string
		api    outcome // what the Bearer-only resource reads
		git    outcome // what git's resource reads
	}{
		{"no header is no credentials", "", noCreds, noCreds},
		{"Bearer", "Bearer " + tok, read(tok), read(tok)},
		{"Bearer in any letter case, trimmed", "bEaReR   " + tok + "  ", read(tok), read(tok)},
		{"Bearer without a token is malformed", "Bearer ", badHeader, badHeader},
		{"Bearer without a space is malformed", "Bearer", badHeader, badHeader},
		{"Bearer separated by a tab is malformed", "Bearer\t" + tok, badHeader, badHeader},
		{"Basic: the token as password with any user name", basic("whoever", tok), badHeader, read(tok)},
		{"Basic: the token as password with no user name", basic("", tok), badHeader, read(tok)},
		{"Basic: the token as user name with an empty password", basic(tok, ""), badHeader, read(tok)},
		{"Basic: TOKEN:x-oauth-basic", basic(tok, "x-oauth-basic"), badHeader, read(tok)},
		{"Basic: two tokens, the password wins", basic(tok, other), badHeader, read(other)},
		{"Basic: a user name that is no token, with an empty password", basic("someone", ""), badHeader, read("someone")},
		{"Basic: any password is what is checked", basic("someone", "secret"), badHeader, read("secret")},
		{"Basic: an empty pair is no credentials", basic("", ""), badHeader, noCreds},
		{"Basic in any letter case", "bASIC " + base64.StdEncoding.EncodeToString([]byte("u:"+tok)), badHeader, read(tok)},
		{"Basic with a non-ASCII look-alike name is malformed", "Baſic " + base64.StdEncoding.EncodeToString([]byte("u:"+tok)), badHeader, badHeader},
		{"Basic that is not base64 is malformed", "Basic !!!", badHeader, badHeader},
		{"Basic without a colon is malformed", "Basic " + base64.StdEncoding.EncodeToString([]byte(tok)), badHeader, badHeader},
		{"Basic with two spaces is malformed", "Basic  " + base64.StdEncoding.EncodeToString([]byte("u:"+tok)), badHeader, badHeader},
		{"Gitea's token scheme is not accepted (yet)", "token " + tok, badHeader, badHeader},
		{"an unknown scheme is malformed", "Digest x", badHeader, badHeader},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []struct {
				cfg  Config
				want outcome
			}{{bearerOnly(), c.api}, {gitLike(), c.git}} {
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
	case errors.Is(err, ErrNoCredentials):
		return noCreds
	case errors.As(err, &e) && e.Code == oauth.CodeInvalidRequest && e.Status == http.StatusBadRequest &&
		e.Description == `the Authorization header must be "Bearer <token>"`:
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
