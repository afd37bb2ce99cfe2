// Package shape owns the JSON objects that the REST API and the webhook
// payloads of both dialects share: Bitbucket's project, repository and
// user, and Gitea's repository and its owner. Each is built in one place
// from the stored rows and the node's base URL, so that a repository looks
// the same in an API answer and in a delivery.
package shape

import (
	"strings"

	"latchkey/internal/store"
)

// Site is the node's public base URL, without a trailing slash.
type Site string

// CloneURL is where git clones a repository (Bitbucket's lower-case
// project form, which the git routes take in any case).
func (s Site) CloneURL(r store.Repo, p store.Project) string {
	return string(s) + "/scm/" + strings.ToLower(p.Key) + "/" + r.Slug + ".git"
}

// Link is one entry of Bitbucket's links arrays.
type Link struct {
	Href string `json:"href"`
	Name string `json:"name,omitempty"`
}

// Links are Bitbucket's links of an object, by relation.
type Links map[string][]Link

// Self is links with only a self link.
func Self(href string) Links { return Links{"self": {{Href: href}}} }

// BBProject is Bitbucket's project.
type BBProject struct {
	Key         string `json:"key"`
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Public      bool   `json:"public"`
	Type        string `json:"type"`
	Links       Links  `json:"links"`
}

// BBRepo is Bitbucket's repository.
type BBRepo struct {
	Slug          string    `json:"slug"`
	ID            int64     `json:"id"`
	Name          string    `json:"name"`
	ScmID         string    `json:"scmId"`
	State         string    `json:"state"`
	StatusMessage string    `json:"statusMessage"`
	Forkable      bool      `json:"forkable"`
	Project       BBProject `json:"project"`
	Public        bool      `json:"public"`
	Links         Links     `json:"links"`
}

// BBUser is Bitbucket's user.
type BBUser struct {
	Name         string `json:"name"`
	EmailAddress string `json:"emailAddress,omitempty"`
	Active       bool   `json:"active"`
	DisplayName  string `json:"displayName"`
	ID           int64  `json:"id"`
	Slug         string `json:"slug"`
	Type         string `json:"type"`
	Links        Links  `json:"links"`
}

// BBProject shapes a project.
func (s Site) BBProject(p store.Project) BBProject {
	return BBProject{
		Key: p.Key, ID: p.ID, Name: p.Name, Description: p.Description, Public: p.Public, Type: "NORMAL",
		Links: Self(string(s) + "/projects/" + p.Key),
	}
}

// BBRepo shapes a repository of project p; it is public when it or its
// project is.
func (s Site) BBRepo(r store.Repo, p store.Project) BBRepo {
	return BBRepo{
		Slug: r.Slug, ID: r.ID, Name: r.Name, ScmID: "git", State: "AVAILABLE", StatusMessage: "Available",
		Forkable: true, Project: s.BBProject(p), Public: r.Public || p.Public,
		Links: Links{
			"clone": {{Href: s.CloneURL(r, p), Name: "http"}},
			"self":  {{Href: string(s) + "/projects/" + p.Key + "/repos/" + r.Slug + "/browse"}},
		},
	}
}

// UserSlug is a user's name as it appears in Bitbucket's URLs.
func UserSlug(username string) string { return strings.ToLower(username) }

// BBUser shapes a user, with the email address as given (callers leave
// it out where the reader may not see it).
func (s Site) BBUser(u store.User) BBUser {
	slug := UserSlug(u.Username)
	return BBUser{
		Name: u.Username, EmailAddress: u.Email, Active: !u.Disabled, DisplayName: u.DisplayName,
		ID: u.ID, Slug: slug, Type: "NORMAL", Links: Self(string(s) + "/users/" + slug),
	}
}
