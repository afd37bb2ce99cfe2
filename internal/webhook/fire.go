package webhook

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"latchkey/internal/delivery"
	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/outbound"
	"latchkey/internal/store"
)

// Defaults of Config.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultPollInterval = 5 * time.Second
	DefaultMaxAttempts  = 8
	DefaultRetryBackoff = 10 * time.Second
	DefaultMaxBackoff   = time.Hour
	DefaultConcurrency  = 4
	// MaxPayloadCommits is how many commits one Gitea push payload lists
	// (the newest); total_commits counts up to MaxCountedCommits.
	MaxPayloadCommits = 20
	MaxCountedCommits = 1000
	// MaxFileListedCommits bounds the commits of one push whose files are
	// read (one git process each, before the push answers); later ones
	// list none.
	MaxFileListedCommits = 100
	// MaxResponseBody is how much of an answer is read and kept.
	MaxResponseBody = 4 << 10
)

// Config is what the webhooks of a node need. Zero fields take the
// defaults.
type Config struct {
	Store   store.Store
	Secrets *Secrets
	// Client sends the deliveries; nil: an outbound client with Timeout,
	// MaxResponseBody and no allowed internal hosts.
	Client *outbound.Client
	// BaseURL is the node's public base URL (links in payloads).
	BaseURL string
	// Git is the git binary ("": git from PATH); RepoDir says where a
	// repository is on disk.
	Git     string
	RepoDir func(store.Repo) string
	Logger  *slog.Logger
	Now     func() time.Time
	// Timeout bounds one attempt (the client's own bound; the lease of a
	// claimed delivery is longer).
	Timeout time.Duration
	// PollInterval is how often the worker looks for due deliveries when
	// this node enqueued nothing (other nodes' deliveries and retries).
	PollInterval time.Duration
	// MaxAttempts is how many attempts a delivery gets before it is
	// marked failed; RetryBackoff is the wait after the first failed
	// attempt, doubled after each further one up to MaxBackoff.
	MaxAttempts  int
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	// Concurrency is how many deliveries this node sends at once.
	Concurrency int
}

// Hooks fires a node's webhooks and sends their deliveries.
type Hooks struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}
}

// New builds the webhooks of a node.
func New(cfg Config) *Hooks {
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.RetryBackoff = cmp.Or(cfg.RetryBackoff, DefaultRetryBackoff)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, DefaultConcurrency)
	if cfg.Client == nil {
		cfg.Client = outbound.New(outbound.Config{Timeout: cfg.Timeout, MaxBody: MaxResponseBody})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Hooks{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}
}

// hookConfig is what package webhook reads of a hook's Config (JSON):
// Gitea's branch filter.
type hookConfig struct {
	BranchFilter string `json:"branch_filter"`
}

// Fire turns a push into deliveries of the repository's active hooks
// that subscribe to its events, and stores them all in one transaction
// before it returns. When it returns nil, every delivery is in the
// database and will be sent, by this node or another, even if this
// process dies the next moment; when it returns an error, none was
// stored. The commits in the payloads are read from the repository on
// disk; if git fails, the payloads go without them (and the failure is
// logged): a hook is still told of the push.
//
// Gitea hooks get one push delivery per created or updated branch or tag
// ("push"), one create delivery per created one ("create") and one delete
// delivery per deleted one ("delete"), as Gitea sends them; Bitbucket
// hooks get one repo:refs_changed delivery per push, listing every
// changed branch and tag.
func (h *Hooks) Fire(ctx context.Context, pusher *oauth.Caller, repo store.Repo, changes []gitrepo.Change) error {
	if len(changes) == 0 {
		return nil
	}
	hooks, err := h.cfg.Store.ActiveWebhooks(ctx, repo.ID)
	if err != nil {
		return fmt.Errorf("webhook: list the hooks of repository %d: %w", repo.ID, err)
	}
	if len(hooks) == 0 {
		return nil
	}
	push, err := h.describe(ctx, pusher, repo, changes, needsCommits(hooks))
	if err != nil {
		return err
	}
	var ds []store.Delivery
	for _, hook := range hooks {
		built, err := h.deliveries(push, hook)
		if err != nil {
			return err
		}
		ds = append(ds, built...)
	}
	if len(ds) == 0 {
		return nil
	}
	if _, err := h.cfg.Store.EnqueueDeliveries(ctx, ds); err != nil {
		return fmt.Errorf("webhook: store %d deliveries: %w", len(ds), err)
	}
	h.Wake()
	return nil
}

// Wake tells this node's worker that deliveries are due now.
func (h *Hooks) Wake() { delivery.Wake(h.wake) }

// needsCommits reports whether some hook gets a Gitea push payload, the
// only one that lists commits.
func needsCommits(hooks []store.Webhook) bool {
	return slices.ContainsFunc(hooks, func(w store.Webhook) bool {
		return w.Kind == store.HookGitea && slices.Contains(w.Events, GiteaPush)
	})
}

// describe reads what the payloads need about the push.
func (h *Hooks) describe(ctx context.Context, pusher *oauth.Caller, repo store.Repo, changes []gitrepo.Change, commits bool) (*Push, error) {
	project, err := h.cfg.Store.GetProjectByKey(ctx, repo.ProjectKey)
	if err != nil {
		return nil, fmt.Errorf("webhook: load project %q: %w", repo.ProjectKey, err)
	}
	p := &Push{BaseURL: h.cfg.BaseURL, Repo: repo, Project: project, At: h.cfg.Now(), DefaultBranch: "main"}
	if pusher != nil {
		u := pusher.User
		p.Pusher = Actor{ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName}
		if u.ID == 0 {
			p.Pusher.Username = pusher.ClientID
		}
	}
	var g *gitrepo.Repo
	if h.cfg.RepoDir != nil {
		g = gitrepo.Open(h.cfg.Git, h.cfg.RepoDir(repo))
		if b, err := g.DefaultBranch(ctx); err == nil && b != "" {
			p.DefaultBranch = b
		}
	}
	fileLists := 0
	for _, c := range changes {
		rc := RefChange{Change: c}
		// Commits are listed for branches; a tag's push lists none, as in Gitea.
		if kind, _ := refKind(c.Ref); commits && g != nil && kind == "branch" && !zeroSHA(c.New) {
			list, err := g.Range(ctx, c.Old, c.New, MaxCountedCommits)
			if err != nil {
				h.log.Warn("webhook: read the commits of a push", "repo", repo.ID, "ref", c.Ref, "error", err)
			}
			rc.Total = len(list)
			rc.Commits = list[:min(len(list), MaxPayloadCommits)]
			rc.Files = map[string][]gitrepo.FileChange{}
			for _, cm := range rc.Commits {
				if fileLists++; fileLists > MaxFileListedCommits {
					break
				}
				files, err := g.Changes(ctx, "", cm.SHA)
				if err != nil {
					h.log.Warn("webhook: read the files of a pushed commit", "repo", repo.ID, "commit", cm.SHA, "error", err)
					continue
				}
				rc.Files[cm.SHA] = files
			}
		}
		p.Changes = append(p.Changes, rc)
	}
	return p, nil
}

// deliveries builds the deliveries of one hook for a push.
func (h *Hooks) deliveries(p *Push, hook store.Webhook) ([]store.Delivery, error) {
	now := h.cfg.Now()
	var out []store.Delivery
	add := func(event string, payload []byte, err error, headers func(event, guid string) map[string]string) error {
		if err != nil {
			return fmt.Errorf("webhook: build the %s payload: %w", event, err)
		}
		guid := newGUID()
		out = append(out, store.Delivery{HookID: hook.ID, RepoID: hook.RepoID, Event: event, GUID: guid,
			Payload: payload, Headers: headers(event, guid), State: store.DeliveryPending, NextAttemptAt: now, CreatedAt: now})
		return nil
	}
	switch hook.Kind {
	case store.HookGitea:
		filter := branchFilter(hook)
		for _, c := range p.Changes {
			kind, short := refKind(c.Ref)
			if kind == "" || (kind == "branch" && !filter.match(short)) {
				continue
			}
			var events []string
			switch {
			case c.Deleted():
				events = []string{GiteaDelete}
			case c.Created():
				events = []string{GiteaCreate, GiteaPush}
			default:
				events = []string{GiteaPush}
			}
			for _, event := range events {
				if !slices.Contains(hook.Events, event) {
					continue
				}
				var payload []byte
				var err error
				if event == GiteaPush {
					payload, err = p.giteaPush(c)
				} else {
					payload, err = p.giteaRef(c, event)
				}
				if err := add(event, payload, err, giteaHeaders); err != nil {
					return nil, err
				}
			}
		}
	case store.HookBitbucket:
		if !slices.Contains(hook.Events, BitbucketRefsChanged) {
			return nil, nil
		}
		if !slices.ContainsFunc(p.Changes, func(c RefChange) bool { k, _ := refKind(c.Ref); return k != "" }) {
			return nil, nil
		}
		payload, err := p.bitbucketRefsChanged()
		if err := add(BitbucketRefsChanged, payload, err, bitbucketHeaders); err != nil {
			return nil, err
		}
	default:
		// A kind this build does not know (a newer node's): not fired here.
		h.log.Warn("webhook: hook of an unknown kind not fired", "hook", hook.ID, "kind", hook.Kind)
	}
	return out, nil
}

// branchFilter is a Gitea hook's branch filter; a malformed one (which the
// API refuses) matches every branch.
func branchFilter(hook store.Webhook) glob {
	var cfg hookConfig
	if hook.Config != "" {
		_ = json.Unmarshal([]byte(hook.Config), &cfg)
	}
	g, err := compileGlob(cfg.BranchFilter)
	if err != nil {
		return glob{}
	}
	return g
}
