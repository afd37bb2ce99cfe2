package shape

import (
	"net/url"
	"time"

	"latchkey/internal/store"
)

// GiteaUser is Gitea's user, as a repository's owner (here the project,
// which plays Gitea's organization) and as a payload's pusher or sender.
type GiteaUser struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	LoginName string `json:"login_name"`
	FullName  string `json:"full_name"`
	Email     string `json:"email"`
	AvatarURL string `json:"avatar_url"`
	Username  string `json:"username"`
	HTMLURL   string `json:"html_url"`
	IsAdmin   bool   `json:"is_admin"`
	Created   string `json:"created,omitempty"`
}

// GiteaPermissions is what a caller may do with a repository.
type GiteaPermissions struct {
	Admin bool `json:"admin"`
	Push  bool `json:"push"`
	Pull  bool `json:"pull"`
}

// GiteaRepo is Gitea's repository.
type GiteaRepo struct {
	ID            int64            `json:"id"`
	Owner         GiteaUser        `json:"owner"`
	Name          string           `json:"name"`
	FullName      string           `json:"full_name"`
	Description   string           `json:"description"`
	Empty         bool             `json:"empty"`
	Private       bool             `json:"private"`
	Fork          bool             `json:"fork"`
	Template      bool             `json:"template"`
	Mirror        bool             `json:"mirror"`
	Size          int              `json:"size"`
	HTMLURL       string           `json:"html_url"`
	URL           string           `json:"url"`
	SSHURL        string           `json:"ssh_url"`
	CloneURL      string           `json:"clone_url"`
	Website       string           `json:"website"`
	DefaultBranch string           `json:"default_branch"`
	Archived      bool             `json:"archived"`
	CreatedAt     string           `json:"created_at"`
	UpdatedAt     string           `json:"updated_at"`
	Permissions   GiteaPermissions `json:"permissions"`
}

// GiteaTime is Gitea's time format.
func GiteaTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// GiteaRepoHTML is a repository's page in Gitea's URL form.
func (s Site) GiteaRepoHTML(r store.Repo, p store.Project) string {
	return string(s) + "/" + p.Key + "/" + r.Slug
}

// GiteaUserHTML is a user's page in Gitea's URL form.
func (s Site) GiteaUserHTML(username string) string {
	return string(s) + "/" + url.PathEscape(username)
}

// GiteaRepo shapes a repository of project p (the owner) with its default
// branch and the permissions of whoever reads it.
func (s Site) GiteaRepo(r store.Repo, p store.Project, defaultBranch string, perms GiteaPermissions) GiteaRepo {
	created := GiteaTime(r.CreatedAt)
	return GiteaRepo{
		ID: r.ID, Name: r.Slug, FullName: p.Key + "/" + r.Slug, Description: r.Name,
		Owner: GiteaUser{ID: p.ID, Login: p.Key, Username: p.Key, FullName: p.Name,
			HTMLURL: string(s) + "/" + p.Key, Created: GiteaTime(p.CreatedAt)},
		Private: !(r.Public || p.Public), HTMLURL: s.GiteaRepoHTML(r, p),
		URL:      string(s) + "/api/v1/repos/" + p.Key + "/" + r.Slug,
		CloneURL: s.CloneURL(r, p), DefaultBranch: defaultBranch,
		CreatedAt: created, UpdatedAt: created, Permissions: perms,
	}
}
