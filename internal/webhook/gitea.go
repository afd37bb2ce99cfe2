package webhook

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"latchkey/internal/gitrepo"
)

// Gitea's payloads (modules/structs/hook.go of Gitea): push, create and
// delete, with the repository, pusher and sender objects of its API.

type giteaUser struct {
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

type giteaPerms struct {
	Admin bool `json:"admin"`
	Push  bool `json:"push"`
	Pull  bool `json:"pull"`
}

type giteaRepository struct {
	ID            int64      `json:"id"`
	Owner         giteaUser  `json:"owner"`
	Name          string     `json:"name"`
	FullName      string     `json:"full_name"`
	Description   string     `json:"description"`
	Empty         bool       `json:"empty"`
	Private       bool       `json:"private"`
	Fork          bool       `json:"fork"`
	Template      bool       `json:"template"`
	Mirror        bool       `json:"mirror"`
	Size          int        `json:"size"`
	HTMLURL       string     `json:"html_url"`
	URL           string     `json:"url"`
	SSHURL        string     `json:"ssh_url"`
	CloneURL      string     `json:"clone_url"`
	Website       string     `json:"website"`
	DefaultBranch string     `json:"default_branch"`
	Archived      bool       `json:"archived"`
	CreatedAt     string     `json:"created_at"`
	UpdatedAt     string     `json:"updated_at"`
	Permissions   giteaPerms `json:"permissions"`
}

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
		Username: a.Username, HTMLURL: p.BaseURL + "/" + url.PathEscape(a.Username)}
}

func (p *Push) giteaRepository() giteaRepository {
	pr, r := p.Project, p.Repo
	html := p.repoURL()
	return giteaRepository{
		ID: r.ID, Name: r.Slug, FullName: pr.Key + "/" + r.Slug, Description: r.Name,
		Owner: giteaUser{ID: pr.ID, Login: pr.Key, Username: pr.Key, FullName: pr.Name,
			HTMLURL: p.BaseURL + "/" + pr.Key, Created: gtime(pr.CreatedAt)},
		Private: !(r.Public || pr.Public), HTMLURL: html, URL: p.BaseURL + "/api/v1/repos/" + pr.Key + "/" + r.Slug,
		CloneURL: p.cloneURL(), DefaultBranch: p.DefaultBranch,
		CreatedAt: gtime(r.CreatedAt), UpdatedAt: gtime(r.CreatedAt),
		// As in Gitea, a hook's payload carries the owner's permissions.
		Permissions: giteaPerms{Admin: true, Push: true, Pull: true},
	}
}

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
