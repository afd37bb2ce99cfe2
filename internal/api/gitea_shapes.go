package api

import (
	"net/url"
	"time"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// giteaAPIVersion is the Gitea version GET /api/v1/version reports: the
// Gitea API this dialect follows. Gitea's SDK checks it (NewClient needs
// at least 1.11; newer calls need newer versions) and picks the form of
// some requests by it.
const giteaAPIVersion = "1.22.0"

// giteaUserJSON is Gitea's User: the fields of giteaUser and the rest of
// what Gitea sends. Email is empty unless the caller may see it.
type giteaUserJSON struct {
	giteaUser
	LoginName         string    `json:"login_name"`
	SourceID          int64     `json:"source_id"`
	HTMLURL           string    `json:"html_url"`
	Language          string    `json:"language"`
	LastLogin         time.Time `json:"last_login"`
	Created           time.Time `json:"created"`
	Restricted        bool      `json:"restricted"`
	Active            bool      `json:"active"`
	ProhibitLogin     bool      `json:"prohibit_login"`
	Location          string    `json:"location"`
	Website           string    `json:"website"`
	Description       string    `json:"description"`
	Visibility        string    `json:"visibility"`
	FollowersCount    int       `json:"followers_count"`
	FollowingCount    int       `json:"following_count"`
	StarredReposCount int       `json:"starred_repos_count"`
}

// giteaUserFor shapes u as caller c may see it: the address only for the
// user themself or an administrator, is_admin only on the caller's own
// user (the one whose permissions the request loaded).
func (a *API) giteaUserFor(c *oauth.Caller, u store.User) giteaUserJSON {
	out := giteaUserJSON{
		giteaUser: giteaUser{ID: u.ID, Login: u.Username, Username: u.Username, FullName: u.DisplayName, Email: u.Email},
		HTMLURL:   a.cfg.BaseURL + "/" + url.PathEscape(u.Username), Created: u.CreatedAt.UTC(),
		Active: !u.Disabled, ProhibitLogin: u.Disabled, Visibility: "public",
	}
	if !c.Principal.SeesEmailOf(u.ID) {
		out.Email = ""
	}
	if c.Principal.UserID == u.ID {
		out.IsAdmin = c.Principal.User.Global >= scope.GlobalAdmin
	}
	return out
}

// giteaOrg is Gitea's Organization: a project.
type giteaOrg struct {
	ID                        int64  `json:"id"`
	Name                      string `json:"name"`
	UserName                  string `json:"username"`
	FullName                  string `json:"full_name"`
	Email                     string `json:"email"`
	AvatarURL                 string `json:"avatar_url"`
	Description               string `json:"description"`
	Website                   string `json:"website"`
	Location                  string `json:"location"`
	Visibility                string `json:"visibility"`
	RepoAdminChangeTeamAccess bool   `json:"repo_admin_change_team_access"`
}

func giteaOrgJSON(p store.Project) giteaOrg {
	visibility := "private"
	if p.Public {
		visibility = "public"
	}
	return giteaOrg{ID: p.ID, Name: p.Key, UserName: p.Key, FullName: p.Name, Description: p.Description,
		Visibility: visibility}
}
