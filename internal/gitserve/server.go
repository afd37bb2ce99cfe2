package gitserve

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"strings"
	"time"

	"latchkey/internal/access"
	"latchkey/internal/oauth"
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
}

// Server serves git's smart HTTP protocol.
type Server struct {
	cfg   Config
	guard *access.Guard
	log   *slog.Logger
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
	// git sends an access token as Bearer or in HTTP Basic, and only
	// after a 401 asks for it.
	guard := access.New(access.Config{Tokens: cfg.Provider, Store: cfg.Store,
		Schemes: []access.Scheme{access.Basic(), access.Bearer()}, Prompt: true})
	return &Server{cfg: cfg, guard: guard, log: cfg.Logger}
}

// Mount registers the git routes. The project key may be given in any
// letter case (Bitbucket's clone URLs use lower case) and the repository
// with or without ".git".
func (s *Server) Mount(mux routes.Mux) {
	mux.HandleFunc("GET /scm/{project}/{repo}/info/refs", s.serve)
	mux.HandleFunc("POST /scm/{project}/{repo}/{service}", s.serve)
}

// gitRequest is a parsed git request: the repository, the service and the
// level it needs.
type gitRequest struct {
	project, slug string
	service       string
	need          scope.Level
}

// parse reads the repository and service of a request, or returns ok false
// for requests this server does not answer (the dumb protocol, unknown
// services).
func parse(r *http.Request) (gitRequest, bool) {
	g := gitRequest{project: r.PathValue("project"), slug: strings.TrimSuffix(r.PathValue("repo"), ".git")}
	g.service = r.PathValue("service")
	if r.Method == http.MethodGet {
		g.service = r.URL.Query().Get("service")
	}
	switch g.service {
	case uploadPack:
		g.need = scope.Read
	case receivePack:
		g.need = scope.Write
	default:
		return g, false
	}
	return g, g.slug != ""
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	g, ok := parse(r)
	if !ok {
		http.Error(w, "Only git's smart HTTP protocol (git-upload-pack, git-receive-pack) is served here.", http.StatusNotFound)
		return
	}
	caller, repo, err := s.authorize(r, g)
	if err != nil {
		s.refuse(w, r, err, g)
		return
	}
	liftDeadlines(w)
	s.backend(caller, repo).ServeHTTP(w, s.backendRequest(r, repo))
}

// gitTransferTimeout bounds one authorized clone, fetch or push. The
// server's read and write timeouts suit API calls, not pack transfers of
// large repositories, so an authorized git request gets this much instead.
const gitTransferTimeout = time.Hour

// liftDeadlines extends the connection's deadlines for a pack transfer.
func liftDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(gitTransferTimeout)
	_ = rc.SetReadDeadline(deadline) // not every ResponseWriter supports deadlines (tests)
	_ = rc.SetWriteDeadline(deadline)
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

// backend is `git http-backend` run as a CGI program over the repositories
// directory, with the caller's user name as REMOTE_USER. The git
// configuration of the machine and of the server's user is ignored.
func (s *Server) backend(c *oauth.Caller, repo store.Repo) *cgi.Handler {
	return &cgi.Handler{
		Path: s.cfg.Git,
		Args: []string{"http-backend"},
		Dir:  s.cfg.Repos.Dir(),
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.cfg.Repos.Dir(),
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER=" + c.User.Username,
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"HOME=" + s.cfg.Repos.Dir(),
		},
		Logger: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		Stderr: &logWriter{log: s.log, repo: repo.ID},
	}
}

// backendRequest is the request as git http-backend sees it: the path
// inside the repositories directory, and no credentials.
func (s *Server) backendRequest(r *http.Request, repo store.Repo) *http.Request {
	rest := "info/refs"
	if r.Method == http.MethodPost {
		rest = r.PathValue("service")
	}
	out := r.Clone(r.Context())
	out.URL.Path, out.URL.RawPath = "/"+Name(repo)+"/"+rest, ""
	out.Header.Del("Authorization")
	return out
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
