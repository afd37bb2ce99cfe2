package webhook

import (
	"encoding/json"
	"strings"
)

// Bitbucket Data Center's repo:refs_changed payload: one per push, with
// every ref the push changed.

type bbLink struct {
	Href string `json:"href"`
	Name string `json:"name,omitempty"`
}

type bbUser struct {
	Name         string              `json:"name"`
	EmailAddress string              `json:"emailAddress,omitempty"`
	ID           int64               `json:"id"`
	DisplayName  string              `json:"displayName"`
	Active       bool                `json:"active"`
	Slug         string              `json:"slug"`
	Type         string              `json:"type"`
	Links        map[string][]bbLink `json:"links,omitempty"`
}

type bbProject struct {
	Key         string              `json:"key"`
	ID          int64               `json:"id"`
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Public      bool                `json:"public"`
	Type        string              `json:"type"`
	Links       map[string][]bbLink `json:"links"`
}

type bbRepository struct {
	Slug          string              `json:"slug"`
	ID            int64               `json:"id"`
	Name          string              `json:"name"`
	ScmID         string              `json:"scmId"`
	State         string              `json:"state"`
	StatusMessage string              `json:"statusMessage"`
	Forkable      bool                `json:"forkable"`
	Project       bbProject           `json:"project"`
	Public        bool                `json:"public"`
	Links         map[string][]bbLink `json:"links"`
}

type bbRef struct {
	ID        string `json:"id"`
	DisplayID string `json:"displayId"`
	Type      string `json:"type"` // BRANCH or TAG
}

type bbChange struct {
	Ref      bbRef  `json:"ref"`
	RefID    string `json:"refId"`
	FromHash string `json:"fromHash"`
	ToHash   string `json:"toHash"`
	Type     string `json:"type"` // ADD, UPDATE or DELETE
}

type bbRefsChanged struct {
	EventKey   string       `json:"eventKey"`
	Date       string       `json:"date"`
	Actor      bbUser       `json:"actor"`
	Repository bbRepository `json:"repository"`
	Changes    []bbChange   `json:"changes"`
}

// bbDate is Bitbucket's date format in webhook payloads; dates are sent in
// UTC ("+0000"), the one zone go-scm's stash parser reads.
const bbDate = "2006-01-02T15:04:05-0700"

func (p *Push) bitbucketRefsChanged() ([]byte, error) {
	pr, r, a := p.Project, p.Repo, p.Pusher
	slug := strings.ToLower(a.Username)
	payload := bbRefsChanged{
		EventKey: BitbucketRefsChanged, Date: p.At.UTC().Format(bbDate),
		Actor: bbUser{Name: a.Username, EmailAddress: a.Email, ID: a.ID, DisplayName: a.DisplayName,
			Active: true, Slug: slug, Type: "NORMAL",
			Links: map[string][]bbLink{"self": {{Href: p.BaseURL + "/users/" + slug}}}},
		Repository: bbRepository{
			Slug: r.Slug, ID: r.ID, Name: r.Name, ScmID: "git", State: "AVAILABLE", StatusMessage: "Available",
			Forkable: true, Public: r.Public || pr.Public,
			Project: bbProject{Key: pr.Key, ID: pr.ID, Name: pr.Name, Description: pr.Description, Public: pr.Public,
				Type: "NORMAL", Links: map[string][]bbLink{"self": {{Href: p.BaseURL + "/projects/" + pr.Key}}}},
			Links: map[string][]bbLink{
				"clone": {{Href: p.cloneURL(), Name: "http"}},
				"self":  {{Href: p.BaseURL + "/projects/" + pr.Key + "/repos/" + r.Slug + "/browse"}},
			},
		},
		Changes: []bbChange{},
	}
	if a.DisplayName == "" {
		payload.Actor.DisplayName = a.Username
	}
	for _, c := range p.Changes {
		kind, short := refKind(c.Ref)
		change := bbChange{Ref: bbRef{ID: c.Ref, DisplayID: short, Type: strings.ToUpper(kind)},
			RefID: c.Ref, FromHash: c.Old, ToHash: c.New, Type: "UPDATE"}
		if kind == "" {
			continue // Bitbucket reports branches and tags only
		}
		switch {
		case c.Created():
			change.Type = "ADD"
		case c.Deleted():
			change.Type = "DELETE"
		}
		payload.Changes = append(payload.Changes, change)
	}
	return json.Marshal(payload)
}

// bitbucketHeaders are Bitbucket's event headers of a delivery (the
// signature is added when it is sent).
func bitbucketHeaders(event, guid string) map[string]string {
	return map[string]string{
		"Content-Type": "application/json; charset=utf-8",
		"X-Event-Key":  event,
		"X-Request-Id": guid,
	}
}
