package access

import (
	"net/http"
	"strings"
	"testing"

	"latchkey/internal/secret"
)

// FuzzCredentials feeds arbitrary Authorization headers to the credential
// reader of every protected resource. It never panics. A Bearer-only
// resource reports no credentials only for an absent header, reads a
// token only from a "Bearer <token>" header (any case, trimmed), refuses
// a header in any other well-formed scheme as a scheme it does not take
// (401 with its challenge), and otherwise answers invalid_request with
// 400. A resource that also takes
// HTTP Basic reads Basic exactly as net/http parses it: no credentials for
// an empty pair, else the password, or the user name when only it looks
// like an access token or the password is empty; any other header reads as
// on the Bearer-only resource. The Gitea dialect reads "token <token>" as
// Bearer and anything else as git's resource does.
func FuzzCredentials(f *testing.F) {
	for _, seed := range []string{"", "Bearer lka_abc", "bearer  x ", "Basic Zm9vOmJhcg==", "Bearer", "Bearer ",
		"Bearer\tx", "BEARER a b", "Basic Og==", "Basic bGthX3g6", "Basic !!", "token lka_x", "Baſic Og=="} {
		f.Add(seed)
	}
	bearer, git, gitea := New(bearerOnly()), New(gitLike()), New(giteaLike())
	f.Fuzz(func(t *testing.T, header string) {
		token, err := bearer.token(header)
		bearerOutcome := outcomeOf(t, token, err)
		switch scheme, _, _ := strings.Cut(header, " "); {
		case header == "":
			if bearerOutcome != noCreds {
				t.Fatalf("no header read as %+v", bearerOutcome)
			}
		case bearerOutcome == noCreds:
			t.Fatalf("header %q read as no credentials", header)
		case !sameScheme(scheme, "Bearer") && isSchemeName(scheme):
			if bearerOutcome != foreign {
				t.Fatalf("header %q in another scheme read as %+v, want the scheme refused", header, bearerOutcome)
			}
		case bearerOutcome == foreign:
			t.Fatalf("header %q read as a foreign scheme", header)
		case !bearerOutcome.malformed:
			if !strings.EqualFold(scheme, "Bearer") || token == "" || token != strings.TrimSpace(token) {
				t.Fatalf("header %q gave token %q", header, token)
			}
		}

		token, err = git.token(header)
		gitOutcome := outcomeOf(t, token, err)
		r := &http.Request{Header: http.Header{}}
		if header != "" {
			r.Header["Authorization"] = []string{header}
		}
		user, password, isBasic := r.BasicAuth()
		scheme, _, _ := strings.Cut(header, " ")
		want := basicOutcome(user, password, isBasic, bearerOutcome)
		if !isBasic && sameScheme(scheme, "Basic") {
			want = badHeader // Basic is taken here, but this is no Basic net/http reads
		}
		if gitOutcome != want {
			t.Fatalf("header %q read by git as %+v, want %+v", header, gitOutcome, want)
		}

		token, err = gitea.token(header)
		want = gitOutcome
		if rest, ok := cutScheme(header, "token"); ok {
			token, err := bearer.token("Bearer " + rest)
			want = outcomeOf(t, token, err)
		} else if sameScheme(scheme, "token") {
			want = badHeader // the scheme without credentials
		}
		if got := outcomeOf(t, token, err); got != want {
			t.Fatalf("header %q read by the Gitea dialect as %+v, want %+v", header, got, want)
		}
	})
}

// basicOutcome is what git's resource reads from a header net/http parses
// as Basic (user, password, isBasic), else what the Bearer-only one read.
func basicOutcome(user, password string, isBasic bool, bearerOutcome outcome) outcome {
	switch {
	case !isBasic:
		return bearerOutcome
	case user == "" && password == "":
		return noCreds
	case password == "":
		return read(user)
	case strings.HasPrefix(user, secret.AccessTokenPrefix) && !strings.HasPrefix(password, secret.AccessTokenPrefix):
		return read(user)
	}
	return read(password)
}

// cutScheme returns the credentials of header when its scheme is name (in
// any ASCII letter case).
func cutScheme(header, name string) (string, bool) {
	scheme, rest, ok := strings.Cut(header, " ")
	return rest, ok && len(scheme) == len(name) && strings.EqualFold(scheme, name)
}
