package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"latchkey/internal/gitrepo"
	"latchkey/internal/shape"
	"latchkey/internal/store"
)

// Event names, as each product spells them in a hook's events and in the
// event header of a delivery.
const (
	GiteaPush            = "push"
	GiteaCreate          = "create"
	GiteaDelete          = "delete"
	BitbucketRefsChanged = "repo:refs_changed"
)

// Push is what a push changed, with what the payloads need to describe it.
type Push struct {
	BaseURL string // the node's public base URL, without a trailing slash
	Pusher  Actor
	Repo    store.Repo
	Project store.Project
	// DefaultBranch is the branch HEAD names.
	DefaultBranch string
	Changes       []RefChange
	At            time.Time
}

// Actor is who pushed: a user, or a client acting for itself.
type Actor struct {
	ID          int64
	Username    string
	Email       string
	DisplayName string
}

// RefChange is one ref a push changed, with the commits it brought (newest
// first, as many as were read) and how many it brought in all (at least
// len(Commits); more when the list was cut).
type RefChange struct {
	gitrepo.Change
	Commits []gitrepo.Commit
	// Files are the files each listed commit changed against its first
	// parent, by commit SHA (absent when they could not be read).
	Files map[string][]gitrepo.FileChange
	Total int
}

// zeroSHA reports whether s is git's all-zero object name (a ref that did
// not exist before, or does not any more).
func zeroSHA(s string) bool { return strings.Trim(s, "0") == "" }

// Created and Deleted say what happened to the ref.
func (c RefChange) Created() bool { return zeroSHA(c.Old) && !zeroSHA(c.New) }

// Deleted reports whether the push deleted the ref.
func (c RefChange) Deleted() bool { return !zeroSHA(c.Old) && zeroSHA(c.New) }

// refKind is "branch", "tag" or "" for another kind of ref, and the short name.
func refKind(ref string) (kind, short string) {
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		return "branch", strings.TrimPrefix(ref, "refs/heads/")
	case strings.HasPrefix(ref, "refs/tags/"):
		return "tag", strings.TrimPrefix(ref, "refs/tags/")
	}
	return "", ref
}

// newGUID returns a random (version 4) UUID: a delivery's identity, sent
// in X-Gitea-Delivery and X-Request-Id.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// repoURL is the repository's page, Gitea's html_url.
func (p *Push) repoURL() string { return shape.Site(p.BaseURL).GiteaRepoHTML(p.Repo, p.Project) }
