package gitserve

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzGitRequest sends arbitrary paths, methods and query strings through
// the git routes' parser: a request it accepts names a repository and one
// of the two smart-HTTP services, and pushes always need write.
func FuzzGitRequest(f *testing.F) {
	f.Add("GET", "/scm/prj/repo.git/info/refs", "service=git-upload-pack")
	f.Add("POST", "/scm/prj/repo.git/git-receive-pack", "")
	f.Add("GET", "/scm/prj/.git/info/refs", "service=git-receive-pack")
	f.Add("POST", "/scm/%2e%2e/x/git-upload-pack", "service=git-receive-pack")
	f.Fuzz(func(t *testing.T, method, path, query string) {
		mux := http.NewServeMux()
		var got gitRequest
		var ok, called bool
		handler := func(_ http.ResponseWriter, r *http.Request) { got, ok = parse(r); called = true }
		mux.HandleFunc("GET /scm/{project}/{repo}/info/refs", handler)
		mux.HandleFunc("POST /scm/{project}/{repo}/{service}", handler)
		r, err := http.NewRequest(method, "http://h"+path+"?"+query, nil)
		if err != nil {
			return
		}
		mux.ServeHTTP(httptest.NewRecorder(), r)
		if !called || !ok {
			return
		}
		if got.slug == "" || (got.service != uploadPack && got.service != receivePack) {
			t.Fatalf("%s %s?%s accepted as %+v", method, path, query, got)
		}
		if got.service == receivePack && got.need < 2 {
			t.Fatalf("a push needs only level %d", got.need)
		}
	})
}
