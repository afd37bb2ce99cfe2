package gitserve

import (
	"net/http"
	"net/url"
	"strings"

	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// gitRequest is a parsed git request: the repository, the service and the
// level it needs.
type gitRequest struct {
	project, slug string
	service       string
	need          scope.Level
}

// badRequest is a request this server does not answer, with the status
// and the plain-text words of the answer.
type badRequest struct {
	status int
	text   string
}

func (e *badRequest) Error() string { return e.text }

// notServed answers what is not git's smart protocol (the dumb protocol,
// unknown services, no repository).
func notServed() *badRequest {
	return &badRequest{http.StatusNotFound, "Only git's smart HTTP protocol (git-upload-pack, git-receive-pack) is served here."}
}

// parse reads the repository and service of a request. The service is the
// one git http-backend would run: for info/refs the query's one service
// parameter, for a fetch or push the last path segment. A query that git
// could read differently from this server is refused (400): one that does
// not parse as application/x-www-form-urlencoded (a semicolon, a bad
// percent escape: git reads those on its own terms), a repeated service
// (git takes the last, url.Values.Get the first), or a service in the query
// of a fetch or push (git reads the path there). Parameters names and
// values are decoded alike by both otherwise ('+' and %XX; git keeps %00 as
// written, which cannot spell "service" for either). Whatever else the
// query holds never reaches git: backendRequest rebuilds it.
func parse(r *http.Request) (gitRequest, *badRequest) {
	g := gitRequest{project: r.PathValue("project"), slug: strings.TrimSuffix(r.PathValue("repo"), ".git")}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return g, &badRequest{http.StatusBadRequest, "The query string is malformed."}
	}
	services := query["service"]
	switch {
	case r.Method != http.MethodGet && len(services) > 0:
		return g, &badRequest{http.StatusBadRequest, "A fetch or push names its service in the path, not in the query."}
	case len(services) > 1:
		return g, &badRequest{http.StatusBadRequest, "The query names the service more than once."}
	case r.Method != http.MethodGet:
		g.service = r.PathValue("service")
	case len(services) == 1:
		g.service = services[0]
	}
	switch g.service {
	case uploadPack:
		g.need = scope.Read
	case receivePack:
		g.need = scope.Write
	default:
		return g, notServed()
	}
	if g.slug == "" {
		return g, notServed()
	}
	return g, nil
}

// backendRequest is the request as git http-backend sees it, rebuilt from
// what was authorized rather than forwarded: the path names the
// authorized repository by its directory and the service g names, the
// query is the authorized service alone (for info/refs) or empty, and the
// credentials are gone. A chunked body is passed on as a body of unknown
// length, which net/http/cgi would refuse and git reads to its end.
func backendRequest(r *http.Request, repo store.Repo, g gitRequest) *http.Request {
	out := r.Clone(r.Context())
	out.URL.Path, out.URL.RawPath, out.URL.RawQuery = "/"+Name(repo)+"/"+g.service, "", ""
	if r.Method == http.MethodGet {
		out.URL.Path = "/" + Name(repo) + "/info/refs"
		out.URL.RawQuery = "service=" + g.service
	}
	out.RequestURI = out.URL.RequestURI()
	out.Header.Del("Authorization")
	if len(out.TransferEncoding) > 0 {
		out.TransferEncoding, out.ContentLength = nil, -1
	}
	return out
}
