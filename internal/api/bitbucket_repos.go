package api

import (
	"net/http"
	"strings"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
)

// repoListFilter reads the filters of Bitbucket's repository lists (GET
// /repos and /projects/{key}/repos) and returns the test a repository of
// the list must pass:
//
//   - name: the repository's name or slug holds it, case-insensitively,
//     leading and trailing white space ignored;
//   - projectname: likewise the project's name or key;
//   - permission: REPO_READ, REPO_WRITE or REPO_ADMIN, the level the
//     caller must have on it (go-scm's stash driver asks for REPO_WRITE to
//     learn whether it may push);
//   - visibility: public or private.
func repoListFilter(r *http.Request, c *oauth.Caller) (func(repoIn) bool, error) {
	var q struct{ name, project, permission, visibility string }
	for key, to := range map[string]*string{"name": &q.name, "projectname": &q.project, "permission": &q.permission,
		"visibility": &q.visibility} {
		v, err := single(r, key)
		if err != nil {
			return nil, err
		}
		*to = strings.ToLower(strings.TrimSpace(v))
	}
	need := scope.Read
	switch strings.ToUpper(q.permission) {
	case "", "REPO_READ":
	case "REPO_WRITE":
		need = scope.Write
	case "REPO_ADMIN":
		need = scope.Admin
	default:
		return nil, badRequest("permission must be REPO_READ, REPO_WRITE or REPO_ADMIN.")
	}
	if q.visibility != "" && q.visibility != "public" && q.visibility != "private" {
		return nil, badRequest("visibility must be public or private.")
	}
	holds := func(s, part string) bool { return strings.Contains(strings.ToLower(s), part) }
	return func(x repoIn) bool {
		public := x.repo.Public || x.project.Public
		switch {
		case q.name != "" && !holds(x.repo.Name, q.name) && !holds(x.repo.Slug, q.name):
			return false
		case q.project != "" && !holds(x.project.Name, q.project) && !holds(x.project.Key, q.project):
			return false
		case q.visibility == "public" && !public, q.visibility == "private" && public:
			return false
		}
		return c.Principal.RepoLevel(x.repo, x.project) >= need
	}, nil
}
