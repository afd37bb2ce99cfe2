package mcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"latchkey/internal/access"
	"latchkey/internal/fault"
	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
	"latchkey/internal/visible"
)

// The tools. Each handler takes the caller of its request, checks its
// arguments (a bad one is a tool error), decides with the guard and
// package visible as the REST API does, and returns its result both as
// structured content (the Out type, whose JSON schema the SDK derives and
// publishes) and as text.

// Descriptions of arguments shared by several tools.
const (
	repoArg  = "The repository, named PROJECT/slug as list_repositories names it (e.g. PRJ/code)."
	refArg   = "A branch name, tag name, full or abbreviated (4+ hex digits) commit SHA, or full ref name (refs/...). Empty means the default branch."
	startArg = "How many items to skip before the first returned (for the next page: the previous start plus the number returned). Default 0."
)

func (e *Endpoint) addTools(s *sdk.Server) {
	readOnly := &sdk.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: new(bool)}
	sdk.AddTool(s, &sdk.Tool{Name: "list_projects", Title: "List projects", Annotations: readOnly,
		Description: fmt.Sprintf("Lists the projects you may see, by key, at most limit (default %d, at most %d) from start.", defaultList, maxList),
	}, e.listProjects)
	sdk.AddTool(s, &sdk.Tool{Name: "list_repositories", Title: "List repositories", Annotations: readOnly,
		Description: fmt.Sprintf("Lists the repositories you may read, as PROJECT/slug, ordered by project and slug; "+
			"all of them, or those of one project. At most limit (default %d, at most %d) from start.", defaultList, maxList),
	}, e.listRepositories)
	sdk.AddTool(s, &sdk.Tool{Name: "list_branches", Title: "List branches", Annotations: readOnly,
		Description: fmt.Sprintf("Lists the branches of a repository by name, each with the commit it points at, and names the default branch. "+
			"At most limit (default %d, at most %d) from start.", defaultList, maxList),
	}, e.listBranches)
	sdk.AddTool(s, &sdk.Tool{Name: "list_commits", Title: "List commits", Annotations: readOnly,
		Description: fmt.Sprintf("Lists the history of a ref, newest first, optionally only the commits that touch a path. "+
			"At most limit (default %d, at most %d) from start.", defaultCommits, maxCommits),
	}, e.listCommits)
	sdk.AddTool(s, &sdk.Tool{Name: "read_file", Title: "Read a file", Annotations: readOnly,
		Description: fmt.Sprintf("Reads a text file (UTF-8) of a repository at a ref. Files larger than %d bytes and binary files are refused; "+
			"a symbolic link reads as its target path.", maxFileSize),
	}, e.readFile)
	sdk.AddTool(s, &sdk.Tool{Name: "search_files", Title: "Search file names", Annotations: readOnly,
		Description: fmt.Sprintf("Finds the files of a repository at a ref whose path matches a pattern: a substring (any letter case) "+
			"of the path, or a glob (* ? [...], which never match a slash) matched against the file name, or against the "+
			"whole path when the glob holds a slash. At most limit (default %d, at most %d) paths, in path order.", defaultMatches, maxMatches),
	}, e.searchFiles)
}

// ---- list_projects

type listProjectsIn struct {
	Start int `json:"start,omitempty" jsonschema:"How many items to skip before the first returned (for the next page: the previous start plus the number returned). Default 0."`
	Limit int `json:"limit,omitempty" jsonschema:"How many projects to return at most: 1 to 500, default 100."`
}

type projectOut struct {
	Key         string `json:"key" jsonschema:"The project key, the first part of its repositories' names."`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Public      bool   `json:"public" jsonschema:"Whether everyone may read the project."`
}

type listProjectsOut struct {
	Projects []projectOut `json:"projects"`
	Start    int          `json:"start"`
	More     bool         `json:"more" jsonschema:"Whether more projects follow."`
}

func (e *Endpoint) listProjects(ctx context.Context, req *sdk.CallToolRequest, in listProjectsIn) (*sdk.CallToolResult, listProjectsOut, error) {
	c, err := e.authenticated(req)
	if err != nil {
		return nil, listProjectsOut{}, err
	}
	start, limit, err := window(in.Start, in.Limit, defaultList, maxList)
	if err != nil {
		return nil, listProjectsOut{}, err
	}
	win, err := store.Cut(visible.Projects(ctx, e.cfg.Store, c), start, limit)
	if err != nil {
		return nil, listProjectsOut{}, e.fail(err)
	}
	out := listProjectsOut{Projects: []projectOut{}, Start: start, More: win.More}
	var text strings.Builder
	for _, p := range win.Items {
		out.Projects = append(out.Projects, projectOut{Key: p.Key, Name: p.Name, Description: p.Description, Public: p.Public})
		fmt.Fprintf(&text, "%s\t%s%s\n", p.Key, p.Name, publicMark(p.Public))
	}
	return textResult(&text, len(out.Projects), "projects", start, win.More), out, nil
}

// ---- list_repositories

type listReposIn struct {
	Project string `json:"project,omitempty" jsonschema:"A project key: list only this project's repositories. Empty lists those of every project."`
	Start   int    `json:"start,omitempty" jsonschema:"How many items to skip before the first returned (for the next page: the previous start plus the number returned). Default 0."`
	Limit   int    `json:"limit,omitempty" jsonschema:"How many repositories to return at most: 1 to 500, default 100."`
}

type repoOut struct {
	Repository string `json:"repository" jsonschema:"The repository's name, PROJECT/slug, as the other tools take it."`
	Project    string `json:"project"`
	Slug       string `json:"slug"`
	Name       string `json:"name"`
	Public     bool   `json:"public" jsonschema:"Whether everyone may read the repository."`
}

type listReposOut struct {
	Repositories []repoOut `json:"repositories"`
	Start        int       `json:"start"`
	More         bool      `json:"more" jsonschema:"Whether more repositories follow."`
}

func (e *Endpoint) listRepositories(ctx context.Context, req *sdk.CallToolRequest, in listReposIn) (*sdk.CallToolResult, listReposOut, error) {
	c, err := e.authenticated(req)
	if err != nil {
		return nil, listReposOut{}, err
	}
	start, limit, err := window(in.Start, in.Limit, defaultList, maxList)
	if err != nil {
		return nil, listReposOut{}, err
	}
	repos := visible.Repos(ctx, e.cfg.Store, c)
	if in.Project != "" {
		if err := checkProjectKey(in.Project); err != nil {
			return nil, listReposOut{}, err
		}
		p, err := e.guard.Project(ctx, c, in.Project, scope.Read, func(p store.Project) (bool, error) {
			return visible.ReadsRepo(ctx, e.cfg.Store, c, p)
		})
		if err != nil {
			return nil, listReposOut{}, e.refuse(err)
		}
		repos = func(yield func(visible.RepoIn, error) bool) {
			for r, err := range visible.ReadableRepos(ctx, e.cfg.Store, c, p) {
				if !yield(visible.RepoIn{Repo: r, Project: p}, err) {
					return
				}
			}
		}
	}
	win, err := store.Cut(repos, start, limit)
	if err != nil {
		return nil, listReposOut{}, e.fail(err)
	}
	out := listReposOut{Repositories: []repoOut{}, Start: start, More: win.More}
	var text strings.Builder
	for _, x := range win.Items {
		name := x.Project.Key + "/" + x.Repo.Slug
		public := x.Repo.Public || x.Project.Public
		out.Repositories = append(out.Repositories, repoOut{Repository: name, Project: x.Project.Key, Slug: x.Repo.Slug, Name: x.Repo.Name, Public: public})
		fmt.Fprintf(&text, "%s\t%s%s\n", name, x.Repo.Name, publicMark(public))
	}
	return textResult(&text, len(out.Repositories), "repositories", start, win.More), out, nil
}

// ---- list_branches

type listBranchesIn struct {
	Repository string `json:"repository" jsonschema:"The repository, named PROJECT/slug as list_repositories names it (e.g. PRJ/code)."`
	Start      int    `json:"start,omitempty" jsonschema:"How many items to skip before the first returned (for the next page: the previous start plus the number returned). Default 0."`
	Limit      int    `json:"limit,omitempty" jsonschema:"How many branches to return at most: 1 to 500, default 100."`
}

type branchOut struct {
	Name    string `json:"name"`
	Commit  string `json:"commit" jsonschema:"The full SHA of the commit the branch points at."`
	Default bool   `json:"default"`
}

type listBranchesOut struct {
	Repository    string      `json:"repository"`
	DefaultBranch string      `json:"default_branch,omitempty" jsonschema:"The branch HEAD names, the ref the other tools read when none is given."`
	Branches      []branchOut `json:"branches"`
	Start         int         `json:"start"`
	More          bool        `json:"more" jsonschema:"Whether more branches follow."`
}

func (e *Endpoint) listBranches(ctx context.Context, req *sdk.CallToolRequest, in listBranchesIn) (*sdk.CallToolResult, listBranchesOut, error) {
	start, limit, err := window(in.Start, in.Limit, defaultList, maxList)
	if err != nil {
		return nil, listBranchesOut{}, err
	}
	g, name, err := e.repo(ctx, req, in.Repository)
	if err != nil {
		return nil, listBranchesOut{}, err
	}
	branches, err := g.Branches(ctx)
	if err != nil {
		return nil, listBranchesOut{}, e.gitError(err, name, "")
	}
	def, err := g.DefaultBranch(ctx)
	if err != nil && !errors.Is(err, gitrepo.ErrNotFound) {
		return nil, listBranchesOut{}, e.fail(err)
	}
	out := listBranchesOut{Repository: name, DefaultBranch: def, Branches: []branchOut{}, Start: start,
		More: start+limit < len(branches)}
	var text strings.Builder
	for _, b := range branches[min(start, len(branches)):min(start+limit, len(branches))] {
		out.Branches = append(out.Branches, branchOut{Name: b.Name, Commit: b.Commit, Default: b.Name == def})
		mark := ""
		if b.Name == def {
			mark = " (default)"
		}
		fmt.Fprintf(&text, "%s\t%s%s\n", b.Name, b.Commit, mark)
	}
	return textResult(&text, len(out.Branches), "branches of "+name, start, out.More), out, nil
}

// ---- list_commits

type listCommitsIn struct {
	Repository string `json:"repository" jsonschema:"The repository, named PROJECT/slug as list_repositories names it (e.g. PRJ/code)."`
	Ref        string `json:"ref,omitempty" jsonschema:"A branch name, tag name, full or abbreviated (4+ hex digits) commit SHA, or full ref name (refs/...). Empty means the default branch."`
	Path       string `json:"path,omitempty" jsonschema:"Only commits that change this file or directory (a path from the repository's root)."`
	Start      int    `json:"start,omitempty" jsonschema:"How many items to skip before the first returned (for the next page: the previous start plus the number returned). Default 0."`
	Limit      int    `json:"limit,omitempty" jsonschema:"How many commits to return at most: 1 to 100, default 20."`
}

type personOut struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date" jsonschema:"RFC 3339, in the time zone it was recorded in."`
}

type commitOut struct {
	SHA       string    `json:"sha"`
	Parents   []string  `json:"parents"`
	Author    personOut `json:"author"`
	Committer personOut `json:"committer"`
	Message   string    `json:"message"`
}

type listCommitsOut struct {
	Repository string      `json:"repository"`
	Ref        string      `json:"ref" jsonschema:"The ref as asked for (empty: the default branch)."`
	Commits    []commitOut `json:"commits" jsonschema:"Newest first."`
	Start      int         `json:"start"`
	More       bool        `json:"more" jsonschema:"Whether older commits follow."`
}

func (e *Endpoint) listCommits(ctx context.Context, req *sdk.CallToolRequest, in listCommitsIn) (*sdk.CallToolResult, listCommitsOut, error) {
	start, limit, err := window(in.Start, in.Limit, defaultCommits, maxCommits)
	if err != nil {
		return nil, listCommitsOut{}, err
	}
	if err := checkRefAndPath(in.Ref, in.Path); err != nil {
		return nil, listCommitsOut{}, err
	}
	g, name, err := e.repo(ctx, req, in.Repository)
	if err != nil {
		return nil, listCommitsOut{}, err
	}
	commits, more, err := g.Log(ctx, in.Ref, in.Path, start, limit)
	if err != nil {
		return nil, listCommitsOut{}, e.gitError(err, name, in.Ref)
	}
	out := listCommitsOut{Repository: name, Ref: in.Ref, Commits: []commitOut{}, Start: start, More: more}
	var text strings.Builder
	for _, cm := range commits {
		out.Commits = append(out.Commits, commitOut{SHA: cm.SHA, Parents: append([]string{}, cm.Parents...),
			Author: person(cm.Author), Committer: person(cm.Committer), Message: cm.Message})
		subject, _, _ := strings.Cut(cm.Message, "\n")
		fmt.Fprintf(&text, "%s\t%s\t%s <%s>\t%s\n", cm.SHA, cm.Author.When.Format(time.RFC3339), cm.Author.Name, cm.Author.Email, subject)
	}
	return textResult(&text, len(out.Commits), "commits of "+name, start, more), out, nil
}

func person(s gitrepo.Signature) personOut {
	return personOut{Name: s.Name, Email: s.Email, Date: s.When.Format(time.RFC3339)}
}

// ---- read_file

type readFileIn struct {
	Repository string `json:"repository" jsonschema:"The repository, named PROJECT/slug as list_repositories names it (e.g. PRJ/code)."`
	Ref        string `json:"ref,omitempty" jsonschema:"A branch name, tag name, full or abbreviated (4+ hex digits) commit SHA, or full ref name (refs/...). Empty means the default branch."`
	Path       string `json:"path" jsonschema:"The file's path from the repository's root, e.g. docs/README.md."`
}

type readFileOut struct {
	Repository string `json:"repository"`
	Ref        string `json:"ref"`
	Commit     string `json:"commit" jsonschema:"The full SHA of the commit read."`
	Path       string `json:"path"`
	Size       int64  `json:"size" jsonschema:"In bytes."`
	Content    string `json:"content"`
}

func (e *Endpoint) readFile(ctx context.Context, req *sdk.CallToolRequest, in readFileIn) (*sdk.CallToolResult, readFileOut, error) {
	if err := checkRefAndPath(in.Ref, in.Path); err != nil {
		return nil, readFileOut{}, err
	}
	if strings.Trim(in.Path, "/") == "" {
		return nil, readFileOut{}, badArg("path is empty; name a file (search_files finds them)")
	}
	g, name, sha, err := e.commit(ctx, req, in.Repository, in.Ref)
	if err != nil {
		return nil, readFileOut{}, err
	}
	data, entry, err := g.ReadFile(ctx, sha, in.Path, maxFileSize)
	switch {
	case errors.Is(err, gitrepo.ErrNotFound) && entry.Type != "":
		return nil, readFileOut{}, badArg("%s is a %s in %s at %s, not a file", in.Path, entry.Type, name, refName(in.Ref))
	case errors.Is(err, gitrepo.ErrNotFound):
		return nil, readFileOut{}, badArg("%s does not exist in %s at %s", in.Path, name, refName(in.Ref))
	case errors.Is(err, gitrepo.ErrTooLarge):
		return nil, readFileOut{}, badArg("%s is %d bytes, larger than the %d bytes read_file returns", in.Path, entry.Size, maxFileSize)
	case err != nil:
		return nil, readFileOut{}, e.gitError(err, name, in.Ref)
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return nil, readFileOut{}, badArg("%s is a binary file (%d bytes, not UTF-8 text); read_file returns text only", in.Path, entry.Size)
	}
	out := readFileOut{Repository: name, Ref: in.Ref, Commit: sha, Path: entry.Path, Size: entry.Size, Content: string(data)}
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(data)}}}, out, nil
}

// ---- search_files

type searchFilesIn struct {
	Repository string `json:"repository" jsonschema:"The repository, named PROJECT/slug as list_repositories names it (e.g. PRJ/code)."`
	Ref        string `json:"ref,omitempty" jsonschema:"A branch name, tag name, full or abbreviated (4+ hex digits) commit SHA, or full ref name (refs/...). Empty means the default branch."`
	Pattern    string `json:"pattern" jsonschema:"A substring of the path (any letter case), e.g. readme; or a glob: *.go matches file names, cmd/*/main.go whole paths."`
	Limit      int    `json:"limit,omitempty" jsonschema:"How many paths to return at most: 1 to 1000, default 100."`
}

type searchFilesOut struct {
	Repository string   `json:"repository"`
	Ref        string   `json:"ref"`
	Commit     string   `json:"commit" jsonschema:"The full SHA of the commit searched."`
	Pattern    string   `json:"pattern"`
	Paths      []string `json:"paths" jsonschema:"Paths from the repository's root, in byte order."`
	More       bool     `json:"more" jsonschema:"Whether more paths match than were returned."`
}

func (e *Endpoint) searchFiles(ctx context.Context, req *sdk.CallToolRequest, in searchFilesIn) (*sdk.CallToolResult, searchFilesOut, error) {
	_, limit, err := window(0, in.Limit, defaultMatches, maxMatches)
	if err != nil {
		return nil, searchFilesOut{}, err
	}
	if err := checkRefAndPath(in.Ref, ""); err != nil {
		return nil, searchFilesOut{}, err
	}
	match, err := parsePattern(in.Pattern)
	if err != nil {
		return nil, searchFilesOut{}, err
	}
	g, name, sha, err := e.commit(ctx, req, in.Repository, in.Ref)
	if err != nil {
		return nil, searchFilesOut{}, err
	}
	paths, more, err := g.Files(ctx, sha, match, limit)
	if err != nil {
		return nil, searchFilesOut{}, e.gitError(err, name, in.Ref)
	}
	out := searchFilesOut{Repository: name, Ref: in.Ref, Commit: sha, Pattern: in.Pattern, Paths: paths, More: more}
	var text strings.Builder
	for _, p := range paths {
		text.WriteString(p + "\n")
	}
	return textResult(&text, len(paths), "paths in "+name+" matching "+fmt.Sprintf("%q", in.Pattern), 0, more), out, nil
}

// ---- shared

// authenticated is the caller of req; its absence is a failure of the server
// (the endpoint's handler authenticates every request), answered as fail's.
func (e *Endpoint) authenticated(req *sdk.CallToolRequest) (*oauth.Caller, error) {
	c, err := caller(req)
	if err != nil {
		return nil, e.fail(err)
	}
	return c, nil
}

// repo parses a repository name, decides whether the caller of req may
// read it, and opens its git repository; it returns the name as
// PROJECT/slug.
func (e *Endpoint) repo(ctx context.Context, req *sdk.CallToolRequest, repository string) (*gitrepo.Repo, string, error) {
	c, err := e.authenticated(req)
	if err != nil {
		return nil, "", err
	}
	key, slug, err := parseRepoName(repository)
	if err != nil {
		return nil, "", err
	}
	r, p, err := e.guard.Repo(ctx, c, key, slug, scope.Read)
	if err != nil {
		return nil, "", e.refuse(err)
	}
	return e.gitRepo(r), p.Key + "/" + r.Slug, nil
}

// commit is repo, then the full SHA of the commit ref names in the
// repository (the default branch's for ""); an unknown or invalid ref is
// gitError's tool error.
func (e *Endpoint) commit(ctx context.Context, req *sdk.CallToolRequest, repository, ref string) (*gitrepo.Repo, string, string, error) {
	g, name, err := e.repo(ctx, req, repository)
	if err != nil {
		return nil, "", "", err
	}
	sha, err := g.Resolve(ctx, ref)
	if err != nil {
		return nil, "", "", e.gitError(err, name, ref)
	}
	return g, name, sha, nil
}

// checkRefAndPath checks a ref and a path argument ("" for none) before
// anything is loaded; gitrepo refuses what git could misread.
func checkRefAndPath(ref, p string) error {
	if err := checkText("ref", ref, maxName); err != nil {
		return err
	}
	return checkText("path", p, maxPath)
}

// refuse turns an error of the guard into the tool's answer: a hidden
// project or repository is a tool error worded as for one that does not
// exist; other refusals say why; failures are fail's.
func (e *Endpoint) refuse(err error) error {
	var d *access.Denied
	if !errors.As(err, &d) {
		return e.fail(err)
	}
	ans := e.guard.Answer(err)
	switch {
	case ans.Reason == access.Hidden:
		return badArg("%s does not exist.", ans.What)
	case ans.Bearer != nil:
		return badArg("%s", ans.Bearer.Description)
	}
	return badArg("You are not permitted to access this resource.")
}

// gitError turns an error of package gitrepo into the tool's answer.
func (e *Endpoint) gitError(err error, repo, ref string) error {
	switch {
	case errors.Is(err, gitrepo.ErrBadRevision):
		return badArg("%s or the path is not a valid name", refName(ref))
	case errors.Is(err, gitrepo.ErrNotFound) && ref == "":
		return badArg("%s has no commits yet", repo)
	case errors.Is(err, gitrepo.ErrNotFound):
		return badArg("ref %q does not exist in %s", ref, repo)
	case errors.Is(err, gitrepo.ErrTooLarge):
		return badArg("the answer is too large to read; narrow the request")
	}
	return e.fail(err)
}

// fail is the answer to a failure of the server: a JSON-RPC error, not a
// tool result, with no detail; the detail is logged.
func (e *Endpoint) fail(err error) error {
	if errors.Is(err, context.Canceled) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the request was cancelled"}
	}
	e.log.Error("mcp: tool failed", "error", err)
	if fault.Status(err) == http.StatusServiceUnavailable {
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the service is temporarily unavailable; try again later"}
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "internal error"}
}

// refName names a ref in a message.
func refName(ref string) string {
	if ref == "" {
		return "the default branch"
	}
	return fmt.Sprintf("ref %q", ref)
}

func publicMark(public bool) string {
	if public {
		return " (public)"
	}
	return ""
}

// textResult is the text rendering of a listing: a line saying how many
// items it holds, then the items, then whether more follow.
func textResult(items *strings.Builder, n int, what string, start int, more bool) *sdk.CallToolResult {
	head := fmt.Sprintf("%d %s", n, what)
	if start > 0 {
		head += fmt.Sprintf(" from %d", start)
	}
	text := head + ":\n" + items.String()
	if more {
		text += fmt.Sprintf("(more follow: call again with start %d)\n", start+n)
	}
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}
}
