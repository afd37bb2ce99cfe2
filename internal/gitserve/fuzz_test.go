package gitserve

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"latchkey/internal/store"
)

// FuzzGitRequest sends arbitrary paths, methods and query strings through
// the git routes' parser: a request it accepts names a repository and one
// of the two smart-HTTP services, pushes always need write, git
// http-backend reading the raw query (as it would) finds the same service
// or none, and the request handed to git carries exactly the authorized
// service.
func FuzzGitRequest(f *testing.F) {
	f.Add("GET", "/scm/prj/repo.git/info/refs", "service=git-upload-pack")
	f.Add("POST", "/scm/prj/repo.git/git-receive-pack", "")
	f.Add("GET", "/scm/prj/.git/info/refs", "service=git-receive-pack")
	f.Add("POST", "/scm/%2e%2e/x/git-upload-pack", "service=git-receive-pack")
	// The service confusions of finding 6.
	f.Add("GET", "/scm/PRJ/repo.git/info/refs", "service=git-upload-pack&service=git-receive-pack")
	f.Add("GET", "/scm/%50RJ/repo.git/info/refs", "service=git-upload-pack&%73ervice=git-receive-pack")
	f.Add("GET", "/scm/prj/repo.git/info/refs", "service=git-upload-pack;service=git-receive-pack")
	f.Add("GET", "/scm/prj/repo.git/info/refs", "service=git-upload-pack&service=%zz")
	f.Add("GET", "/scm/prj/repo.git/info/refs", "x&service=git-upload-pack&service%00=git-receive-pack")
	f.Add("GET", "/scm/prj/repo.git/info/refs", "ser+vice=git-receive-pack&service=git-upload-pack")
	f.Fuzz(func(t *testing.T, method, path, query string) {
		mux := http.NewServeMux()
		var got gitRequest
		var bad *badRequest
		var req *http.Request
		called := false
		handler := func(_ http.ResponseWriter, r *http.Request) { got, bad = parse(r); req = r; called = true }
		mux.HandleFunc("GET /scm/{project}/{repo}/info/refs", handler)
		mux.HandleFunc("POST /scm/{project}/{repo}/{service}", handler)
		r, err := http.NewRequest(method, "http://h"+path+"?"+query, nil)
		if err != nil {
			return
		}
		mux.ServeHTTP(httptest.NewRecorder(), r)
		if !called || bad != nil {
			return
		}
		if got.slug == "" || (got.service != uploadPack && got.service != receivePack) {
			t.Fatalf("%s %s?%s accepted as %+v", method, path, query, got)
		}
		if got.service == receivePack && got.need < 2 {
			t.Fatalf("a push needs only level %d", got.need)
		}
		if s, ok := gitQueryService(req.URL.RawQuery); req.Method == http.MethodGet && ok && s != got.service {
			t.Fatalf("?%s authorized as %s, git would read %s", req.URL.RawQuery, got.service, s)
		}
		out := backendRequest(req, store.Repo{ID: 1}, got)
		wantQuery := ""
		if req.Method == http.MethodGet {
			wantQuery = "service=" + got.service
		}
		if out.URL.RawQuery != wantQuery || !strings.HasPrefix(out.URL.Path, "/1.git/") {
			t.Fatalf("%s %s?%s authorized as %s reaches git as %s?%s", method, path, query, got.service, out.URL.Path, out.URL.RawQuery)
		}
	})
}

// gitQueryService reads the service parameter of a query as git
// http-backend does (http-backend.c get_parameters, url.c
// url_decode_internal): pairs split at '&', a name ends at '=' or '&', a
// value at '&', '+' is a space, %XX is decoded unless it is %00 or not
// hex, and the last value of a name wins.
func gitQueryService(query string) (string, bool) {
	service, found := "", false
	for query != "" {
		var name, value string
		name, query = gitDecode(query, "&=")
		value, query = gitDecode(query, "&")
		if name == "service" {
			service, found = value, true
		}
	}
	return service, found
}

func gitDecode(q, stopAt string) (string, string) {
	var out strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == 0:
			return out.String(), ""
		case strings.IndexByte(stopAt, c) >= 0:
			return out.String(), q[i+1:]
		case c == '%' && i+2 < len(q) && hexByte(q[i+1:i+3]) > 0:
			out.WriteByte(byte(hexByte(q[i+1 : i+3])))
			i += 2
		case c == '+':
			out.WriteByte(' ')
		default:
			out.WriteByte(c)
		}
	}
	return out.String(), ""
}

// hexByte is the value of two hex digits, or -1.
func hexByte(s string) int {
	v := 0
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9':
			v = v*16 + int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v*16 + int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v*16 + int(c-'A'+10)
		default:
			return -1
		}
	}
	return v
}
