package gitserve

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"latchkey/internal/access"
	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/resource"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Git services of the smart HTTP protocol.
const (
	uploadPack  = "git-upload-pack"  // clone and fetch
	receivePack = "git-receive-pack" // push
)

// Config is what the git server needs.
type Config struct {
	Provider *oauth.Provider // checks access tokens
	Store    store.Store
	Repos    *Repos
	// Git is the git binary; empty: "git" found in PATH.
	Git    string
	Logger *slog.Logger
	Limits Limits
	// OnPush is told the refs a push changed, after git updated them and
	// before the push's response ends; nil: nobody is told. An error is
	// logged (the refs are updated whatever it says).
	OnPush func(ctx context.Context, pusher *oauth.Caller, repo store.Repo, changes []gitrepo.Change) error
}

// Limits bound what git requests may hold on this node. A zero field takes
// the default of package config (the same values), except MaxPushSize,
// where zero means no limit as in git.
type Limits struct {
	// IdleTimeout is the longest one read of the request body or one write
	// of the response may wait for the client.
	IdleTimeout time.Duration
	// MaxDuration is the ceiling on a whole request, however steadily data
	// flows.
	MaxDuration time.Duration
	// MaxProcesses bounds the git requests running at once (each one git
	// http-backend and the upload-pack or receive-pack it starts);
	// MaxProcessesPerCaller bounds those of one user, or of one client
	// address for callers without credentials.
	MaxProcesses, MaxProcessesPerCaller int
	// MaxPushSize is git's receive.maxInputSize: the largest pack a push
	// may send, in bytes.
	MaxPushSize int64
}

// The defaults of Limits, the same as package config's.
const (
	defaultIdleTimeout           = time.Minute
	defaultMaxDuration           = time.Hour
	defaultMaxProcesses          = 64
	defaultMaxProcessesPerCaller = 8
)

func (l Limits) withDefaults() Limits {
	l.IdleTimeout = cmp.Or(l.IdleTimeout, defaultIdleTimeout)
	l.MaxDuration = cmp.Or(l.MaxDuration, defaultMaxDuration)
	l.MaxProcesses = cmp.Or(l.MaxProcesses, defaultMaxProcesses)
	l.MaxProcessesPerCaller = cmp.Or(l.MaxProcessesPerCaller, defaultMaxProcessesPerCaller)
	return l
}

// Server serves git's smart HTTP protocol.
type Server struct {
	cfg     Config
	guard   *access.Guard
	log     *slog.Logger
	procs   *processes
	backend []string // the command that runs git http-backend
}

// New builds a git server. The git binary is looked up now; net/http/cgi
// runs it by path.
func New(cfg Config) *Server {
	cfg.Git = cmp.Or(cfg.Git, "git")
	if path, err := exec.LookPath(cfg.Git); err == nil {
		cfg.Git = path
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Limits = cfg.Limits.withDefaults()
	// git sends an access token as Bearer or in HTTP Basic, and only
	// after a 401 asks for it.
	code := resource.Code(cfg.Provider.Issuer())
	guard := access.New(access.Config{Tokens: cfg.Provider, Store: cfg.Store,
		Schemes: []access.Scheme{access.Basic(), access.Bearer()}, Prompt: true,
		Resource: code, ResourceMetadata: resource.MetadataURL(code)})
	return &Server{cfg: cfg, guard: guard, log: cfg.Logger, backend: httpBackend(cfg.Git),
		procs: newProcesses(cfg.Limits.MaxProcesses, cfg.Limits.MaxProcessesPerCaller)}
}

// httpBackend is the command that runs git http-backend: the program in
// git's exec path itself where it can be found, so that the process the
// CGI handler starts, waits for and kills is http-backend and not a git
// wrapper around it; else "git http-backend".
func httpBackend(git string) []string {
	out, err := exec.Command(git, "--exec-path").Output()
	if err == nil {
		path := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
		if _, err := os.Stat(path); err == nil {
			return []string{path}
		}
	}
	return []string{git, "http-backend"}
}

// Mount registers the git routes. The project key may be given in any
// letter case (Bitbucket's clone URLs use lower case) and the repository
// with or without ".git".
func (s *Server) Mount(mux routes.Mux) {
	mux.HandleFunc("GET /scm/{project}/{repo}/info/refs", s.serve)
	mux.HandleFunc("POST /scm/{project}/{repo}/{service}", s.serve)
}

// serve answers one git request in a fixed order: parse it (refusing what
// git would read differently), authorize the caller for exactly the
// service git will run, take a place among the running git processes,
// and only then run git http-backend on a request rebuilt from what was
// authorized, with the connection bounded by idle timeouts while it runs.
// The place is given back once git has ended.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	g, bad := parse(r)
	if bad != nil {
		http.Error(w, bad.text, bad.status)
		return
	}
	caller, repo, err := s.authorize(r, g)
	if err != nil {
		s.refuse(w, r, err, g)
		return
	}
	release, ok := s.procs.acquire(callerKey(caller, r))
	if !ok {
		s.log.Info("git request refused: too many running", "path", r.URL.Path, "caller", callerKey(caller, r))
		busy(w)
		return
	}
	defer release()
	t := newTransfer(w, r, s.cfg.Limits)
	defer t.finish()
	in := backendRequest(r, repo, g)
	in.Body = t.body(r.Body)
	var rec *commandRecorder
	if r.Method == http.MethodPost && g.service == receivePack {
		rec = &commandRecorder{ReadCloser: in.Body}
		in.Body = rec
	}
	s.cgi(caller, repo).ServeHTTP(t.writer(w), in)
	if rec != nil {
		s.reportPush(r, caller, repo, rec)
	}
}

// authorize authenticates the request (anonymous without credentials)
// and decides whether its caller may use the repository as g needs.
func (s *Server) authorize(r *http.Request, g gitRequest) (*oauth.Caller, store.Repo, error) {
	caller, err := s.guard.AuthenticateOrAnonymous(r)
	if err != nil {
		return nil, store.Repo{}, err
	}
	repo, _, err := s.guard.Repo(r.Context(), caller, g.project, g.slug, g.need)
	return caller, repo, err
}

// refuse answers a request that failed, with the status and challenges
// package access gives and a plain-text body. The Guard prompts: an
// anonymous request is asked for credentials whatever the reason, so that
// a private repository and a missing one look alike and git can retry
// with a token, and invalid credentials get both challenges, so that git
// drops them and asks anew.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error, g gitRequest) {
	ans := s.guard.Answer(err)
	if ans.Status >= 500 {
		s.log.Error("git request failed", "path", r.URL.Path, "error", err)
	}
	ans.WriteText(w, words(ans, g.need))
}

// words is the body of an answer.
func words(ans access.Answer, need scope.Level) string {
	switch ans.Reason {
	case access.NoCredentials:
		return "Authentication required."
	case access.BadCredentials:
		return "Authentication failed: " + ans.Bearer.Description + "."
	case access.Hidden:
		return "Repository not found."
	case access.NeedsScope:
		return "The token's scope does not allow you to " + verb(need) + " this repository."
	case access.NotPermitted:
		return "You are not permitted to " + verb(need) + " this repository."
	}
	return "The server could not complete the request."
}

func verb(need scope.Level) string {
	if need >= scope.Write {
		return "push to"
	}
	return "clone"
}

// cgi is `git http-backend` run as a CGI program over the repositories
// directory, with the caller's user name as REMOTE_USER. The git
// configuration of the machine and of the server's user is ignored; the
// one setting git takes from here is receive.maxInputSize, given through
// the environment (GIT_CONFIG_COUNT), which bounds the pack a push sends:
// beyond it receive-pack stops reading and the push fails.
func (s *Server) cgi(c *oauth.Caller, repo store.Repo) *cgi.Handler {
	env := []string{
		"GIT_PROJECT_ROOT=" + s.cfg.Repos.Dir(),
		"GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER=" + c.User.Username,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"HOME=" + s.cfg.Repos.Dir(),
	}
	if n := s.cfg.Limits.MaxPushSize; n > 0 {
		env = append(env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=receive.maxInputSize",
			"GIT_CONFIG_VALUE_0="+strconv.FormatInt(n, 10))
	}
	return &cgi.Handler{
		Path:   s.backend[0],
		Args:   s.backend[1:],
		Dir:    s.cfg.Repos.Dir(),
		Env:    env,
		Logger: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		Stderr: &logWriter{log: s.log, repo: repo.ID},
	}
}

// logWriter logs what git writes on its standard error.
type logWriter struct {
	log  *slog.Logger
	repo int64
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.log.Warn("git http-backend", "repo_id", l.repo, "stderr", strings.TrimSpace(string(p)))
	return len(p), nil
}

// Available reports whether the git binary can be run, for a start-up
// warning: without it nothing can be cloned or pushed.
func Available(git string) error {
	if _, err := exec.LookPath(cmp.Or(git, "git")); err != nil {
		return fmt.Errorf("gitserve: git over HTTP needs the git binary: %w", err)
	}
	return nil
}
