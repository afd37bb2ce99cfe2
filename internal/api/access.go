package api

import (
	"context"
	"net/http"

	"latchkey/internal/access"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// project loads the project with key and decides (access.Guard.Project);
// a caller who may read one of its repositories may view it.
func (a *API) project(ctx context.Context, c *oauth.Caller, key string, need scope.Level) (store.Project, error) {
	return a.guard.Project(ctx, c, key, need, func(p store.Project) (bool, error) {
		return a.readsRepo(ctx, c, p)
	})
}

// missing is the error of a resource that does not exist, worded as the
// answer to a hidden one: what names it as the request did.
func missing(what string) error { return notFound(what + " does not exist.") }

func projectMissing(key string) error { return missing("Project " + key) }

func repoMissing(key, slug string) error { return missing("Repository " + key + "/" + slug) }

// words is the message of the dialect's error JSON for an answer that
// names no RFC 6750 error.
func words(ans access.Answer) string {
	switch {
	case ans.Reason == access.Hidden:
		return ans.What + " does not exist."
	case ans.Reason == access.NotPermitted:
		return "You are not permitted to access this resource."
	case ans.Status == http.StatusBadRequest:
		return "A value holds a NUL byte or invalid UTF-8."
	case ans.Status == http.StatusServiceUnavailable:
		return "The service is temporarily unavailable. Try again later."
	}
	return "The server could not complete the request."
}
