package api

import (
	"strings"
	"time"

	"latchkey/internal/gitserve"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// This file holds the JSON shapes of both dialects and their builders.

// link is one entry of Bitbucket's links arrays.
type link struct {
	Href string `json:"href"`
	Name string `json:"name,omitempty"`
}

type links map[string][]link

func self(href string) links { return links{"self": {{Href: href}}} }

type projectJSON struct {
	Key         string `json:"key"`
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Public      bool   `json:"public"`
	Type        string `json:"type"`
	Links       links  `json:"links"`
}

type repoJSON struct {
	Slug          string      `json:"slug"`
	ID            int64       `json:"id"`
	Name          string      `json:"name"`
	ScmID         string      `json:"scmId"`
	State         string      `json:"state"`
	StatusMessage string      `json:"statusMessage"`
	Forkable      bool        `json:"forkable"`
	Project       projectJSON `json:"project"`
	Public        bool        `json:"public"`
	Links         links       `json:"links"`
}

// userJSON is Bitbucket's user.
type userJSON struct {
	Name         string `json:"name"`
	EmailAddress string `json:"emailAddress,omitempty"`
	Active       bool   `json:"active"`
	DisplayName  string `json:"displayName"`
	ID           int64  `json:"id"`
	Slug         string `json:"slug"`
	Type         string `json:"type"`
	Links        links  `json:"links"`
}

// detailedUserJSON is Bitbucket's user as the admin API shows it.
type detailedUserJSON struct {
	userJSON
	DirectoryName  string `json:"directoryName"`
	Deletable      bool   `json:"deletable"`
	MutableDetails bool   `json:"mutableDetails"`
	MutableGroups  bool   `json:"mutableGroups"`
	CreatedDate    int64  `json:"createdDate"`
}

// permissionJSON is one entry of Bitbucket's permission lists.
type permissionJSON struct {
	User       userJSON `json:"user"`
	Permission string   `json:"permission"`
}

func (a *API) projectJSON(p store.Project) projectJSON {
	return projectJSON{
		Key: p.Key, ID: p.ID, Name: p.Name, Description: p.Description, Public: p.Public, Type: "NORMAL",
		Links: self(a.cfg.BaseURL + "/projects/" + p.Key),
	}
}

// cloneURL is where git clones the repository (Bitbucket's lower-case form).
func (a *API) cloneURL(r store.Repo, p store.Project) string {
	return a.cfg.BaseURL + "/scm/" + strings.ToLower(p.Key) + "/" + r.Slug + ".git"
}

func (a *API) repoJSON(r store.Repo, p store.Project) repoJSON {
	return repoJSON{
		Slug: r.Slug, ID: r.ID, Name: r.Name, ScmID: "git", State: "AVAILABLE", StatusMessage: "Available",
		Forkable: true, Project: a.projectJSON(p), Public: r.Public || p.Public,
		Links: links{
			"clone": {{Href: a.cloneURL(r, p), Name: "http"}},
			"self":  {{Href: a.cfg.BaseURL + "/projects/" + p.Key + "/repos/" + r.Slug + "/browse"}},
		},
	}
}

// userSlug is the user's name as it appears in URLs.
func userSlug(u store.User) string { return strings.ToLower(u.Username) }

func (a *API) userJSON(u store.User) userJSON {
	return userJSON{
		Name: u.Username, EmailAddress: u.Email, Active: !u.Disabled, DisplayName: u.DisplayName,
		ID: u.ID, Slug: userSlug(u), Type: "NORMAL", Links: self(a.cfg.BaseURL + "/users/" + userSlug(u)),
	}
}

// visibleUserJSON is userJSON as caller c may see it: without the email
// address unless c is the user or an administrator (SeesEmailOf).
func (a *API) visibleUserJSON(c *oauth.Caller, u store.User) userJSON {
	out := a.userJSON(u)
	if !c.Principal.SeesEmailOf(u.ID) {
		out.EmailAddress = ""
	}
	return out
}

func (a *API) detailedUserJSON(u store.User, deletable bool) detailedUserJSON {
	return detailedUserJSON{
		userJSON: a.userJSON(u), DirectoryName: "Latchkey", Deletable: deletable,
		MutableDetails: true, MutableGroups: false, CreatedDate: u.CreatedAt.UnixMilli(),
	}
}

// giteaUser is Gitea's user.
type giteaUser struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	Username  string `json:"username"`
	FullName  string `json:"full_name"`
	Email     string `json:"email"`
	AvatarURL string `json:"avatar_url"`
	IsAdmin   bool   `json:"is_admin"`
}

// giteaOwner is the owner of a Gitea repository: here, the project, which
// plays Gitea's organization.
type giteaOwner struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	Username  string `json:"username"`
	FullName  string `json:"full_name"`
	AvatarURL string `json:"avatar_url"`
}

// giteaPermissions is what the caller may do with a repository.
type giteaPermissions struct {
	Admin bool `json:"admin"`
	Push  bool `json:"push"`
	Pull  bool `json:"pull"`
}

// giteaRepo is Gitea's repository.
type giteaRepo struct {
	ID            int64            `json:"id"`
	Owner         giteaOwner       `json:"owner"`
	Name          string           `json:"name"`
	FullName      string           `json:"full_name"`
	Description   string           `json:"description"`
	Private       bool             `json:"private"`
	Fork          bool             `json:"fork"`
	HTMLURL       string           `json:"html_url"`
	CloneURL      string           `json:"clone_url"`
	SSHURL        string           `json:"ssh_url"`
	DefaultBranch string           `json:"default_branch"`
	Permissions   giteaPermissions `json:"permissions"`
	CreatedAt     string           `json:"created_at"`
	UpdatedAt     string           `json:"updated_at"`
}

// giteaRepo shapes r for a caller whose level on it is level.
func (a *API) giteaRepo(r store.Repo, p store.Project, level scope.Level) giteaRepo {
	created := r.CreatedAt.UTC().Format(time.RFC3339)
	return giteaRepo{
		ID: r.ID, Name: r.Slug, FullName: p.Key + "/" + r.Slug, Description: r.Name,
		Owner:   giteaOwner{ID: p.ID, Login: p.Key, Username: p.Key, FullName: p.Name},
		Private: !(r.Public || p.Public), HTMLURL: a.cfg.BaseURL + "/" + p.Key + "/" + r.Slug,
		CloneURL: a.cloneURL(r, p), DefaultBranch: gitserve.DefaultBranch,
		Permissions: giteaPermissions{Admin: level >= scope.Admin, Push: level >= scope.Write, Pull: level >= scope.Read},
		CreatedAt:   created, UpdatedAt: created,
	}
}
