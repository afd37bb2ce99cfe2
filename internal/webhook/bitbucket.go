package webhook

import (
	"encoding/json"
	"strings"

	"latchkey/internal/shape"
	"latchkey/internal/store"
)

// Bitbucket Data Center's repo:refs_changed payload: one per push, with
// every ref the push changed.

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
	Actor      shape.BBUser `json:"actor"`
	Repository shape.BBRepo `json:"repository"`
	Changes    []bbChange   `json:"changes"`
}

// bbDate is Bitbucket's date format in webhook payloads; dates are sent in
// UTC ("+0000"), the one zone go-scm's stash parser reads.
const bbDate = "2006-01-02T15:04:05-0700"

func (p *Push) bitbucketRefsChanged() ([]byte, error) {
	a := p.Pusher
	site := shape.Site(p.BaseURL)
	payload := bbRefsChanged{
		EventKey: BitbucketRefsChanged, Date: p.At.UTC().Format(bbDate),
		Actor:      site.BBUser(store.User{ID: a.ID, Username: a.Username, Email: a.Email, DisplayName: a.DisplayName}),
		Repository: site.BBRepo(p.Repo, p.Project),
		Changes:    []bbChange{},
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
