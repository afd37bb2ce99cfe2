package api

import (
	"errors"
	"net/http"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Bitbucket Data Center's side of the CI loop: who the token is, the
// branches, commits and files of a repository (read from its bare git
// repository on disk through package gitrepo), build statuses and
// webhooks. Every route under bb is served under /rest/api/1.0/ too
// (Mount).

// mountBitbucket registers the routes of this file's siblings
// (bitbucket_*.go).
func (a *API) mountBitbucket(mux routes.Mux) {
	const repo = bb + "/projects/{key}/repos/{slug}"
	mux.Handle("GET /plugins/servlet/applinks/whoami", a.handleBBText(public, a.bbWhoami))

	mux.Handle("GET "+repo+"/branches", a.handle(public, a.bbBranches))
	mux.Handle("GET "+repo+"/branches/default", a.handle(public, a.bbDefaultBranch))
	mux.Handle("GET "+repo+"/commits", a.handle(public, a.bbCommits))
	mux.Handle("GET "+repo+"/commits/{id}", a.handle(public, a.bbCommit))
	mux.Handle("GET "+repo+"/commits/{id}/changes", a.handle(public, a.bbCommitChanges))
	mux.Handle("GET "+repo+"/compare/changes", a.handle(public, a.bbCompareChanges))
	mux.Handle("GET "+repo+"/raw/{path...}", a.handleBBText(public, a.bbRaw))
	mux.Handle("GET "+repo+"/browse", a.handle(public, a.bbBrowse))
	mux.Handle("GET "+repo+"/browse/{path...}", a.handle(public, a.bbBrowse))

	mux.Handle("GET "+repo+"/commits/{id}/builds", a.handle(public, a.bbRepoBuilds))
	mux.Handle("POST "+repo+"/commits/{id}/builds", a.handle(authenticated, a.bbPostRepoBuild))
	for _, v := range []string{"1.0", "latest"} {
		legacy := "/rest/build-status/" + v + "/commits/{id}"
		mux.Handle("GET "+legacy, a.handle(authenticated, a.bbLegacyBuilds))
		mux.Handle("POST "+legacy, a.handle(authenticated, a.bbPostLegacyBuild))
	}

	mux.Handle("GET "+repo+"/webhooks", a.handle(authenticated, a.bbListHooks))
	mux.Handle("POST "+repo+"/webhooks", a.handle(authenticated, a.bbCreateHook))
	mux.Handle("GET "+repo+"/webhooks/{id}", a.handle(authenticated, a.bbGetHook))
	mux.Handle("PUT "+repo+"/webhooks/{id}", a.handle(authenticated, a.bbUpdateHook))
	mux.Handle("DELETE "+repo+"/webhooks/{id}", a.handle(authenticated, a.bbDeleteHook))
}

// bbRepoGit loads repository slug of project key, decides whether the
// caller may act on it at level need, and opens its git repository.
func (a *API) bbRepoGit(r *http.Request, c *oauth.Caller, need scope.Level) (store.Repo, store.Project, *gitrepo.Repo, error) {
	repo, p, err := a.guard.Repo(r.Context(), c, r.PathValue("key"), r.PathValue("slug"), need)
	if err != nil {
		return store.Repo{}, store.Project{}, nil, err
	}
	g, err := a.gitRepo(repo) // gitea_git.go
	if err != nil {
		return store.Repo{}, store.Project{}, nil, err
	}
	return repo, p, g, nil
}

// bbGitProblem turns an error of package gitrepo into Bitbucket's answer:
// a missing revision or path is 404 with missing's message, a revision
// or path git may not be given is 400; anything else passes through to
// the central renderer (500).
func bbGitProblem(err error, missing string) error {
	switch {
	case errors.Is(err, gitrepo.ErrNotFound):
		return notFound(missing)
	case errors.Is(err, gitrepo.ErrBadRevision):
		return badRequest(missing + " The revision or path is not valid.")
	case errors.Is(err, gitrepo.ErrTooLarge):
		return tooLargeToRead()
	}
	return err
}

// tooLargeToRead is the answer when what git would print for a request (a
// tree listing, a history) is beyond what is read for one: the
// repository's content is the caller's, so it is no server fault.
func tooLargeToRead() error {
	return &apiError{status: http.StatusRequestEntityTooLarge,
		message: "The answer is larger than this server reads for one request; clone the repository to read it."}
}

// bbTextBody is an answer that is not JSON: raw bytes of a content type.
type bbTextBody struct {
	contentType string
	data        []byte
}

// bbTextHandlerFunc is a handler whose success is not JSON (whoami's plain
// user name, a file's raw bytes); its errors are rendered like any
// other handler's, as the dialect's error JSON.
type bbTextHandlerFunc func(r *http.Request, c *oauth.Caller) (bbTextBody, error)

// handleBBText wraps h with the credential check and the error renderer,
// as handle does.
func (a *API) handleBBText(rt route, h bbTextHandlerFunc) http.Handler {
	return a.wrap(rt, func(w http.ResponseWriter, r *http.Request, c *oauth.Caller) error {
		body, err := h(r, c)
		if err != nil {
			return err
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", body.contentType)
		// A file may be HTML or script: never let a browser run it on
		// this origin.
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body.data)
		return nil
	})
}

// bbWhoami is Bitbucket's GET /plugins/servlet/applinks/whoami: the user
// name of the token's user as plain text, empty for an anonymous request
// (as Bitbucket answers). go-scm's stash driver and Jenkins ask it who
// the token is.
func (a *API) bbWhoami(_ *http.Request, c *oauth.Caller) (bbTextBody, error) {
	name := ""
	if !c.Anonymous() {
		name = c.User.Username
	}
	return bbTextBody{contentType: "text/plain;charset=UTF-8", data: []byte(name)}, nil
}
