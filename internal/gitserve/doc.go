// Package gitserve serves git over HTTP (the smart protocol) at
// /scm/{project}/{repo}.git, as an adapter over package access like the
// REST API, and keeps the bare repositories on disk.
//
// Control flow: the server mounts a Server on the API mux. Each request
// names a service (git-upload-pack to clone and fetch, git-receive-pack to
// push); the Server's access.Guard reads the credentials (an access token
// as "Authorization: Bearer", or in HTTP Basic as git sends it), asks the
// protocol core who the caller is now, and decides whether that caller may
// read (upload-pack) or write (receive-pack) the repository; only then is
// the request handed to `git http-backend` through net/http/cgi, rebuilt
// from what was authorized (request.go): a query git would read
// differently (a repeated service) is refused first. While git runs, the
// connection's deadlines move only while data flows (transfer.go), and
// the running git requests are bounded per caller and per node (limit.go):
// beyond a bound the answer is 503 with Retry-After. A refusal
// gets the status and challenges access gives (401 with a Basic and a
// Bearer challenge whenever credentials would help) and a plain-text body.
// The permission is evaluated on every request, so a permission taken from
// a user stops their next fetch, with the same token.
//
// Repos owns the directory layout: one bare repository per repository
// row, named by the row's ID (DIR/<id>.git), so that renaming a project or
// repository moves nothing on disk. Package admin creates and removes them
// together with the rows.
package gitserve
