package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// This file holds what the Gitea routes that read git share: opening the
// bare repository of a repository row, the errors of package gitrepo in
// Gitea's words, and the JSON shapes of commits and branches.

// repoPaths is what the repositories on disk (gitserve.Repos, which
// api.Config.Repos is in a server) add to admin.RepoDisk: where one lives.
type repoPaths interface {
	Path(r store.Repo) string
}

// gitRepo is the git repository of r, read with the git binary in PATH
// (the one git over HTTP runs).
func (a *API) gitRepo(r store.Repo) (*gitrepo.Repo, error) {
	paths, ok := a.cfg.Repos.(repoPaths)
	if !ok {
		return nil, errors.New("api: the repositories on disk have no paths (Config.Repos)")
	}
	return gitrepo.Open("", paths.Path(r)), nil
}

// giteaRepoIn is a repository the caller was allowed to act on, with its
// project and its git repository.
type giteaRepoIn struct {
	repo    store.Repo
	project store.Project
	git     *gitrepo.Repo
}

// giteaRepoAt loads /repos/{owner}/{repo} and decides at level need, then
// opens its git repository.
func (a *API) giteaRepoAt(r *http.Request, c *oauth.Caller, need scope.Level) (giteaRepoIn, error) {
	repo, p, err := a.guard.Repo(r.Context(), c, r.PathValue("owner"), r.PathValue("repo"), need)
	if err != nil {
		return giteaRepoIn{}, err
	}
	g, err := a.gitRepo(repo)
	if err != nil {
		return giteaRepoIn{}, err
	}
	return giteaRepoIn{repo: repo, project: p, git: g}, nil
}

// apiURL is the repository's address in Gitea's API.
func (a *API) giteaAPIURL(in giteaRepoIn) string {
	return a.cfg.BaseURL + "/api/v1/repos/" + url.PathEscape(in.project.Key) + "/" + url.PathEscape(in.repo.Slug)
}

// htmlURL is the repository's page, as giteaRepo names it.
func (a *API) giteaHTMLURL(in giteaRepoIn) string {
	return a.cfg.BaseURL + "/" + in.project.Key + "/" + in.repo.Slug
}

// gitMissing turns gitrepo's not-found and bad-revision errors into
// Gitea's 404 naming what was asked for, and an answer too large to read
// into 413; other errors pass.
func gitMissing(err error, what string) error {
	switch {
	case errors.Is(err, gitrepo.ErrNotFound), errors.Is(err, gitrepo.ErrBadRevision):
		return notFound(what + " does not exist.")
	case errors.Is(err, gitrepo.ErrTooLarge):
		return tooLargeToRead()
	}
	return err
}

// giteaPayloadUser is Gitea's PayloadUser: a commit's author or committer
// with the user name of the account that has the address ("" for none).
type giteaPayloadUser struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	UserName string `json:"username"`
}

// giteaVerification is Gitea's PayloadCommitVerification. Latchkey checks
// no signatures: every commit reads as Gitea reads an unsigned one.
type giteaVerification struct {
	Verified  bool    `json:"verified"`
	Reason    string  `json:"reason"`
	Signature string  `json:"signature"`
	Signer    *string `json:"signer"`
	Payload   string  `json:"payload"`
}

func unsigned() *giteaVerification { return &giteaVerification{Reason: "gpg.error.not_signed_commit"} }

// giteaPayloadCommit is Gitea's PayloadCommit (a branch's commit).
type giteaPayloadCommit struct {
	ID           string             `json:"id"`
	Message      string             `json:"message"`
	URL          string             `json:"url"`
	Author       *giteaPayloadUser  `json:"author"`
	Committer    *giteaPayloadUser  `json:"committer"`
	Verification *giteaVerification `json:"verification"`
	Timestamp    time.Time          `json:"timestamp"`
	Added        []string           `json:"added"`
	Removed      []string           `json:"removed"`
	Modified     []string           `json:"modified"`
}

// giteaBranch is Gitea's Branch. Latchkey protects no branches.
type giteaBranch struct {
	Name                          string              `json:"name"`
	Commit                        *giteaPayloadCommit `json:"commit"`
	Protected                     bool                `json:"protected"`
	RequiredApprovals             int64               `json:"required_approvals"`
	EnableStatusCheck             bool                `json:"enable_status_check"`
	StatusCheckContexts           []string            `json:"status_check_contexts"`
	UserCanPush                   bool                `json:"user_can_push"`
	UserCanMerge                  bool                `json:"user_can_merge"`
	EffectiveBranchProtectionName string              `json:"effective_branch_protection_name"`
}

// giteaCommitMeta is Gitea's CommitMeta.
type giteaCommitMeta struct {
	URL     string    `json:"url"`
	SHA     string    `json:"sha"`
	Created time.Time `json:"created"`
}

// giteaCommitUser is Gitea's CommitUser: a signature with its date as
// RFC 3339 text.
type giteaCommitUser struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date"`
}

// giteaRepoCommit is Gitea's RepoCommit.
type giteaRepoCommit struct {
	URL          string             `json:"url"`
	Author       *giteaCommitUser   `json:"author"`
	Committer    *giteaCommitUser   `json:"committer"`
	Message      string             `json:"message"`
	Tree         *giteaCommitMeta   `json:"tree"`
	Verification *giteaVerification `json:"verification"`
}

// giteaCommit is Gitea's Commit. Author and Committer are the accounts
// with the signatures' addresses (null for none); Files and Stats, which
// need a diff, are not served (null).
type giteaCommit struct {
	giteaCommitMeta
	HTMLURL    string             `json:"html_url"`
	RepoCommit *giteaRepoCommit   `json:"commit"`
	Author     *giteaUserJSON     `json:"author"`
	Committer  *giteaUserJSON     `json:"committer"`
	Parents    []*giteaCommitMeta `json:"parents"`
	Files      []any              `json:"files"`
	Stats      any                `json:"stats"`
}

// accounts finds the users behind commit signatures by email address,
// once per address within a request.
type accounts struct {
	a     *API
	c     *oauth.Caller
	found map[string]*store.User
}

func (a *API) accounts(c *oauth.Caller) *accounts {
	return &accounts{a: a, c: c, found: map[string]*store.User{}}
}

// byEmail is the user with address email, nil for none.
func (ac *accounts) byEmail(ctx context.Context, email string) (*store.User, error) {
	key := strings.ToLower(email)
	if u, ok := ac.found[key]; ok {
		return u, nil
	}
	u, err := ac.a.store.GetUserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		ac.found[key] = nil
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("find the user of a commit: %w", err)
	}
	ac.found[key] = &u
	return &u, nil
}

func (ac *accounts) payloadUser(ctx context.Context, s gitrepo.Signature) (*giteaPayloadUser, error) {
	u, err := ac.byEmail(ctx, s.Email)
	if err != nil {
		return nil, err
	}
	out := &giteaPayloadUser{Name: s.Name, Email: s.Email}
	if u != nil {
		out.UserName = u.Username
	}
	return out, nil
}

func (ac *accounts) user(ctx context.Context, s gitrepo.Signature) (*giteaUserJSON, error) {
	u, err := ac.byEmail(ctx, s.Email)
	if err != nil || u == nil {
		return nil, err
	}
	out := ac.a.giteaUserFor(ac.c, *u)
	return &out, nil
}

// payloadCommit shapes a branch's commit as Gitea's PayloadCommit.
func (a *API) giteaPayloadCommit(ctx context.Context, ac *accounts, in giteaRepoIn, cm gitrepo.Commit) (*giteaPayloadCommit, error) {
	author, err := ac.payloadUser(ctx, cm.Author)
	if err != nil {
		return nil, err
	}
	committer, err := ac.payloadUser(ctx, cm.Committer)
	if err != nil {
		return nil, err
	}
	return &giteaPayloadCommit{
		ID: cm.SHA, Message: cm.Message, URL: a.giteaHTMLURL(in) + "/commit/" + cm.SHA,
		Author: author, Committer: committer, Verification: unsigned(), Timestamp: cm.Author.When,
	}, nil
}

// giteaCommit shapes a commit as Gitea's Commit.
func (a *API) giteaCommit(ctx context.Context, ac *accounts, in giteaRepoIn, cm gitrepo.Commit) (giteaCommit, error) {
	api := a.giteaAPIURL(in)
	author, err := ac.user(ctx, cm.Author)
	if err != nil {
		return giteaCommit{}, err
	}
	committer, err := ac.user(ctx, cm.Committer)
	if err != nil {
		return giteaCommit{}, err
	}
	parents := make([]*giteaCommitMeta, 0, len(cm.Parents))
	for _, p := range cm.Parents {
		parents = append(parents, &giteaCommitMeta{URL: api + "/git/commits/" + p, SHA: p})
	}
	self := api + "/git/commits/" + cm.SHA
	return giteaCommit{
		giteaCommitMeta: giteaCommitMeta{URL: self, SHA: cm.SHA, Created: cm.Committer.When},
		HTMLURL:         a.giteaHTMLURL(in) + "/commit/" + cm.SHA,
		RepoCommit: &giteaRepoCommit{
			URL: self, Author: commitUser(cm.Author), Committer: commitUser(cm.Committer), Message: cm.Message,
			Tree:         &giteaCommitMeta{URL: api + "/git/trees/" + cm.Tree, SHA: cm.Tree, Created: cm.Committer.When},
			Verification: unsigned(),
		},
		Author: author, Committer: committer, Parents: parents,
	}, nil
}

func commitUser(s gitrepo.Signature) *giteaCommitUser {
	return &giteaCommitUser{Name: s.Name, Email: s.Email, Date: s.When.Format(time.RFC3339)}
}
