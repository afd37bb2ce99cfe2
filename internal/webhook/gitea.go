package webhook

import (
	"encoding/json"
	"strings"
	"time"

	"latchkey/internal/gitrepo"
	"latchkey/internal/shape"
)

// Gitea's payloads (modules/structs/hook.go of Gitea): push, create and
// delete, with the repository, pusher and sender objects of its API.

// giteaUser and giteaRepository are the Gitea API's objects, as package
// shape builds them for the REST API too.
type (
	giteaUser       = shape.GiteaUser
	giteaRepository = shape.GiteaRepo
)

type giteaPayloadUser struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Username string `json:"username"`
}

type giteaCommit struct {
	ID        string           `json:"id"`
	Message   string           `json:"message"`
	URL       string           `json:"url"`
	Author    giteaPayloadUser `json:"author"`
	Committer giteaPayloadUser `json:"committer"`
	// Verification is null: Latchkey does not verify signatures.
	Verification *struct{} `json:"verification"`
	Timestamp    string    `json:"timestamp"`
	Added        []string  `json:"added"`
	Removed      []string  `json:"removed"`
	Modified     []string  `json:"modified"`
}

type giteaPushPayload struct {
	Ref          string          `json:"ref"`
	Before       string          `json:"before"`
	After        string          `json:"after"`
	CompareURL   string          `json:"compare_url"`
	Commits      []giteaCommit   `json:"commits"`
	TotalCommits int             `json:"total_commits"`
	HeadCommit   *giteaCommit    `json:"head_commit"`
	Repository   giteaRepository `json:"repository"`
	Pusher       giteaUser       `json:"pusher"`
	Sender       giteaUser       `json:"sender"`
}

type giteaRefPayload struct {
	Ref        string          `json:"ref"` // the short name
	RefType    string          `json:"ref_type"`
	Sha        string          `json:"sha,omitempty"`         // create
	PusherType string          `json:"pusher_type,omitempty"` // delete
	Repository giteaRepository `json:"repository"`
	Sender     giteaUser       `json:"sender"`
}

func (p *Push) giteaActor() giteaUser {
	a := p.Pusher
	return giteaUser{ID: a.ID, Login: a.Username, FullName: a.DisplayName, Email: a.Email,
		Username: a.Username, HTMLURL: shape.Site(p.BaseURL).GiteaUserHTML(a.Username)}
}

// giteaRepository is the pushed repository; as in Gitea, a hook's payload
// carries the owner's permissions.
func (p *Push) giteaRepository() giteaRepository {
	return shape.Site(p.BaseURL).GiteaRepo(p.Repo, p.Project, p.DefaultBranch,
		shape.GiteaPermissions{Admin: true, Push: true, Pull: true})
}

// gtime is a commit's time in Gitea's format, in the zone git recorded.
func gtime(t time.Time) string { return t.Format(time.RFC3339) }

func (p *Push) giteaCommit(c gitrepo.Commit, files []gitrepo.FileChange) giteaCommit {
	user := func(s gitrepo.Signature) giteaPayloadUser {
		u := giteaPayloadUser{Name: s.Name, Email: s.Email}
		if p.Pusher.Email != "" && strings.EqualFold(s.Email, p.Pusher.Email) {
			u.Username = p.Pusher.Username
		}
		return u
	}
	out := giteaCommit{ID: c.SHA, Message: c.Message, URL: p.repoURL() + "/commit/" + c.SHA,
		Author: user(c.Author), Committer: user(c.Committer), Timestamp: gtime(c.Author.When),
		Added: []string{}, Removed: []string{}, Modified: []string{}}
	// As Gitea lists them (git's name-status without rename detection): a
	// move is its source removed and its path added, a copy its path added.
	for _, f := range files {
		switch f.Type {
		case gitrepo.ChangeAdd, gitrepo.ChangeCopy:
			out.Added = append(out.Added, f.Path)
		case gitrepo.ChangeDelete:
			out.Removed = append(out.Removed, f.Path)
		case gitrepo.ChangeMove:
			out.Removed = append(out.Removed, f.SrcPath)
			out.Added = append(out.Added, f.Path)
		default:
			out.Modified = append(out.Modified, f.Path)
		}
	}
	return out
}

// giteaPush is Gitea's push payload for one ref: its commits newest first,
// head_commit the commit the ref now points at.
func (p *Push) giteaPush(c RefChange) ([]byte, error) {
	payload := giteaPushPayload{Ref: c.Ref, Before: c.Old, After: c.New, Commits: []giteaCommit{},
		TotalCommits: c.Total, Repository: p.giteaRepository(), Pusher: p.giteaActor(), Sender: p.giteaActor()}
	if !zeroSHA(c.Old) {
		payload.CompareURL = p.repoURL() + "/compare/" + c.Old + "..." + c.New
	}
	for _, commit := range c.Commits {
		payload.Commits = append(payload.Commits, p.giteaCommit(commit, c.Files[commit.SHA]))
	}
	if len(payload.Commits) > 0 && payload.Commits[0].ID == c.New {
		head := payload.Commits[0]
		payload.HeadCommit = &head
	}
	return json.Marshal(payload)
}

// giteaRef is Gitea's create or delete payload for a branch or tag.
func (p *Push) giteaRef(c RefChange, event string) ([]byte, error) {
	kind, short := refKind(c.Ref)
	payload := giteaRefPayload{Ref: short, RefType: kind, Repository: p.giteaRepository(), Sender: p.giteaActor()}
	if event == GiteaCreate {
		payload.Sha = c.New
	} else {
		payload.PusherType = "user"
	}
	return json.Marshal(payload)
}

// giteaHeaders are Gitea's event headers of a delivery (the signatures are
// added when it is sent). Gitea sends its Gogs and GitHub names too.
func giteaHeaders(event, guid string) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	for _, product := range []string{"Gitea", "Gogs", "GitHub"} {
		h["X-"+product+"-Delivery"] = guid
		h["X-"+product+"-Event"] = event
		h["X-"+product+"-Event-Type"] = event
	}
	return h
}
