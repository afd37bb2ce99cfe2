package api

import (
	"latchkey/internal/gitserve"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/shape"
	"latchkey/internal/store"
)

// This file holds the JSON shapes of both dialects and their builders.

// Bitbucket's project, repository, user and links are package shape's,
// which the webhook payloads share.
type (
	link        = shape.Link
	links       = shape.Links
	projectJSON = shape.BBProject
	repoJSON    = shape.BBRepo
	userJSON    = shape.BBUser
)

func self(href string) links { return shape.Self(href) }

// site is the node's base URL for package shape.
func (a *API) site() shape.Site { return shape.Site(a.cfg.BaseURL) }

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

func (a *API) projectJSON(p store.Project) projectJSON { return a.site().BBProject(p) }

// cloneURL is where git clones the repository (Bitbucket's lower-case form).
func (a *API) cloneURL(r store.Repo, p store.Project) string { return a.site().CloneURL(r, p) }

func (a *API) repoJSON(r store.Repo, p store.Project) repoJSON { return a.site().BBRepo(r, p) }

// userSlug is the user's name as it appears in URLs.
func userSlug(u store.User) string { return shape.UserSlug(u.Username) }

func (a *API) userJSON(u store.User) userJSON { return a.site().BBUser(u) }

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

// Gitea's repository, its owner and permissions are package shape's,
// which the webhook payloads share.
type (
	giteaPermissions = shape.GiteaPermissions
	giteaRepo        = shape.GiteaRepo
)

// giteaRepo shapes r for a caller whose level on it is level.
func (a *API) giteaRepo(r store.Repo, p store.Project, level scope.Level) giteaRepo {
	return a.site().GiteaRepo(r, p, gitserve.DefaultBranch,
		giteaPermissions{Admin: level >= scope.Admin, Push: level >= scope.Write, Pull: level >= scope.Read})
}
