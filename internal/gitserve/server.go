package gitserve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"strings"
	"time"

	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
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
	cfg Config
	log *slog.Logger
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
	return &Server{cfg: cfg, log: cfg.Logger}
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
	caller, err := s.caller(r)
	if err != nil {
		s.refuseCredentials(w, err)
		return
	}
	repo, verdict, err := s.authorize(r.Context(), caller, g)
	if err != nil {
		s.log.Error("git request failed", "path", r.URL.Path, "error", err)
		http.Error(w, "The server could not complete the request.", statusOf(err))
		return
	}
	if verdict != scope.Allow {
		s.refuse(w, caller, verdict, g)
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

// statusOf is 503 while the database is unreachable, else 500.
func statusOf(err error) int {
	if errors.Is(err, store.ErrUnavailable) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// caller authenticates the request: anonymous without credentials, else
// the caller of the access token given as Bearer or in HTTP Basic.
func (s *Server) caller(r *http.Request) (*oauth.Caller, error) {
	token, err := credentials(r)
	if errors.Is(err, oauth.ErrNoToken) {
		return &oauth.Caller{Principal: scope.Anonymous()}, nil
	}
	if err != nil {
		return nil, err
	}
	return s.cfg.Provider.AuthenticateToken(r.Context(), token)
}

// credentials finds the token of a request: a Bearer token, or in HTTP
// Basic the password with any user name (Bitbucket's and Gitea's way), or
// the user name when it is the one that looks like an access token
// (GitHub's TOKEN:x-oauth-basic habit) or the password is empty.
func credentials(r *http.Request) (string, error) {
	user, password, ok := r.BasicAuth()
	switch {
	case !ok:
		return oauth.BearerToken(r)
	case strings.HasPrefix(user, secret.AccessTokenPrefix) && !strings.HasPrefix(password, secret.AccessTokenPrefix):
		return user, nil
	case password != "" || user != "":
		return cmp.Or(password, user), nil
	}
	return "", oauth.ErrNoToken
}

// authorize loads the repository and decides. A repository that does not
// exist is hidden, exactly like one the caller may not see.
func (s *Server) authorize(ctx context.Context, c *oauth.Caller, g gitRequest) (store.Repo, scope.Verdict, error) {
	repo, err := s.cfg.Store.GetRepo(ctx, g.project, g.slug)
	if errors.Is(err, store.ErrNotFound) {
		return store.Repo{}, scope.DenyHidden, nil
	}
	if err != nil {
		return store.Repo{}, 0, fmt.Errorf("gitserve: load repository: %w", err)
	}
	project, err := s.cfg.Store.GetProjectByKey(ctx, repo.ProjectKey)
	if err != nil {
		return store.Repo{}, 0, fmt.Errorf("gitserve: load project: %w", err)
	}
	return repo, c.Principal.RepoAccess(repo, project, g.need), nil
}

// basicChallenge makes git ask its credential helper for a user name and
// password (the token).
const basicChallenge = `Basic realm="latchkey"`

// refuseCredentials answers a request whose token is invalid: 401 with
// both challenges, so that git drops the stored credentials and asks anew.
func (s *Server) refuseCredentials(w http.ResponseWriter, err error) {
	e := oauth.AsError(err)
	if e.Status >= 500 {
		s.log.Error("git bearer check failed", "error", err)
		http.Error(w, "The server could not complete the request.", statusOf(err))
		return
	}
	w.Header().Add("WWW-Authenticate", basicChallenge)
	w.Header().Add("WWW-Authenticate", oauth.BearerChallenge(err))
	http.Error(w, "Authentication failed: "+e.Description+".", http.StatusUnauthorized)
}

// refuse answers a request the permission model denies. An anonymous
// request is asked for credentials whatever the reason, so that a private
// repository and a missing one look alike and git can retry with a token.
// With a token, a repository the caller may not see is 404, a token whose
// scopes are too low is 403 insufficient_scope, and a user without the
// permission is 403.
func (s *Server) refuse(w http.ResponseWriter, c *oauth.Caller, v scope.Verdict, g gitRequest) {
	switch {
	case c.Anonymous():
		w.Header().Add("WWW-Authenticate", basicChallenge)
		w.Header().Add("WWW-Authenticate", oauth.BearerChallenge(oauth.ErrNoToken))
		http.Error(w, "Authentication required.", http.StatusUnauthorized)
	case v == scope.DenyHidden:
		http.Error(w, "Repository not found.", http.StatusNotFound)
	case v == scope.DenyScope:
		w.Header().Set("WWW-Authenticate", oauth.BearerChallenge(oauth.InsufficientScope(requiredScope(g.need))))
		http.Error(w, "The token's scope does not allow you to "+verb(g.need)+" this repository.", http.StatusForbidden)
	default:
		http.Error(w, "You are not permitted to "+verb(g.need)+" this repository.", http.StatusForbidden)
	}
}

func requiredScope(need scope.Level) string {
	if need >= scope.Write {
		return scope.RepoWrite
	}
	return scope.RepoRead
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
