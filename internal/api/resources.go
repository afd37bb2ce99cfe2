package api

import (
	"net/http"
	"strings"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// link is one entry of Bitbucket's links arrays.
type link struct {
	Href string `json:"href"`
	Name string `json:"name,omitempty"`
}

type projectJSON struct {
	Key         string            `json:"key"`
	ID          int64             `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Public      bool              `json:"public"`
	Type        string            `json:"type"`
	Links       map[string][]link `json:"links"`
}

type repoJSON struct {
	Slug          string            `json:"slug"`
	ID            int64             `json:"id"`
	Name          string            `json:"name"`
	ScmID         string            `json:"scmId"`
	State         string            `json:"state"`
	StatusMessage string            `json:"statusMessage"`
	Forkable      bool              `json:"forkable"`
	Project       projectJSON       `json:"project"`
	Public        bool              `json:"public"`
	Links         map[string][]link `json:"links"`
}

func (a *API) projectJSON(p store.Project) projectJSON {
	return projectJSON{
		Key: p.Key, ID: p.ID, Name: p.Name, Description: p.Description, Public: p.Public, Type: "NORMAL",
		Links: map[string][]link{"self": {{Href: a.cfg.BaseURL + "/projects/" + p.Key}}},
	}
}

func (a *API) repoJSON(r store.Repo, p store.Project) repoJSON {
	clone := a.cfg.BaseURL + "/scm/" + strings.ToLower(p.Key) + "/" + r.Slug + ".git"
	return repoJSON{
		Slug: r.Slug, ID: r.ID, Name: r.Name, ScmID: "git", State: "AVAILABLE", StatusMessage: "Available",
		Forkable: true, Project: a.projectJSON(p), Public: r.Public || p.Public,
		Links: map[string][]link{
			"clone": {{Href: clone, Name: "http"}},
			"self":  {{Href: a.cfg.BaseURL + "/projects/" + p.Key + "/repos/" + r.Slug + "/browse"}},
		},
	}
}

// applicationProperties is how Bitbucket clients learn who the token's
// user is: from the X-AUSERNAME header that handle sets.
func (a *API) applicationProperties(_ *http.Request, _ *oauth.Caller) (int, any, error) {
	return http.StatusOK, map[string]string{
		"version": a.cfg.Version, "buildNumber": a.cfg.Version, "buildDate": "", "displayName": "Latchkey",
	}, nil
}

// listProjects lists the projects the caller may see.
func (a *API) listProjects(r *http.Request, c *oauth.Caller) (int, any, error) {
	projects, err := a.store.ListProjects(r.Context())
	if err != nil {
		return 0, nil, err
	}
	var visible []projectJSON
	for _, p := range projects {
		if c.Principal.ProjectLevel(p) >= scope.Read {
			visible = append(visible, a.projectJSON(p))
			continue
		}
		repos, err := a.visibleRepos(r.Context(), c, p)
		if err != nil {
			return 0, nil, err
		}
		if len(repos) > 0 {
			visible = append(visible, a.projectJSON(p))
		}
	}
	pg, err := paginate(r, visible)
	return http.StatusOK, pg, err
}

// listRepos lists the repositories of one project that the caller may read.
func (a *API) listRepos(r *http.Request, c *oauth.Caller) (int, any, error) {
	p, err := a.visibleProject(r.Context(), c, r.PathValue("key"))
	if err != nil {
		return 0, nil, err
	}
	repos, err := a.visibleRepos(r.Context(), c, p)
	if err != nil {
		return 0, nil, err
	}
	out := make([]repoJSON, 0, len(repos))
	for _, repo := range repos {
		out = append(out, a.repoJSON(repo, p))
	}
	pg, err := paginate(r, out)
	return http.StatusOK, pg, err
}

type giteaUser struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	Username  string `json:"username"`
	FullName  string `json:"full_name"`
	Email     string `json:"email"`
	AvatarURL string `json:"avatar_url"`
	IsAdmin   bool   `json:"is_admin"`
}

// giteaUser is Gitea's GET /api/v1/user: any valid token may read its own user.
func (a *API) giteaUser(_ *http.Request, c *oauth.Caller) (int, any, error) {
	u := c.User
	return http.StatusOK, giteaUser{
		ID: u.ID, Login: u.Username, Username: u.Username, FullName: u.DisplayName, Email: u.Email,
		AvatarURL: "", IsAdmin: c.Principal.User.Global >= scope.GlobalAdmin,
	}, nil
}
