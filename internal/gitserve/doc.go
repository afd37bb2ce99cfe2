// Package gitserve serves git over HTTP (the smart protocol) at
// /scm/{project}/{repo}.git, behind the same bearer check as the REST API,
// and keeps the bare repositories on disk.
//
// Control flow: the server mounts a Server on the API mux. Each request
// names a service (git-upload-pack to clone and fetch, git-receive-pack to
// push); the Server reads the credentials (an access token as
// "Authorization: Bearer", or as the password of HTTP Basic with any user
// name), asks package oauth who the caller is now and package scope whether
// that caller may read (upload-pack) or write (receive-pack) the
// repository, and only then hands the request to `git http-backend`
// through net/http/cgi. The permission is evaluated on every request, so a
// permission taken from a user stops their next fetch, with the same token.
//
// Repos owns the directory layout: one bare repository per repository
// row, named by the row's ID (DIR/<id>.git), so that renaming a project or
// repository moves nothing on disk. Package admin creates and removes them
// together with the rows.
package gitserve
