package api

import (
	"bytes"
	"cmp"
	"errors"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// bbMaxRawFile bounds the files that raw and browse read: a CI system reads
// its pipeline file, not the repository's media; larger files are cloned.
const bbMaxRawFile = 32 << 20

// bbFilePath is the {path...} of a file route, without surrounding slashes.
func bbFilePath(r *http.Request) string { return strings.Trim(r.PathValue("path"), "/") }

// bbPathMissing is Bitbucket's message for a path that is not in the tree.
func bbPathMissing(p, at string) string {
	if at == "" {
		return "The path \"" + p + "\" does not exist at the default branch."
	}
	return "The path \"" + p + "\" does not exist at revision \"" + at + "\"."
}

// bbFileAt resolves the at parameter (the default branch when absent) to a
// commit.
func bbFileAt(r *http.Request, g *gitrepo.Repo, repo store.Repo) (at, commit string, err error) {
	if at, err = single(r, "at"); err != nil {
		return "", "", err
	}
	commit, err = g.Resolve(r.Context(), at)
	if err != nil {
		return "", "", bbGitProblem(err, bbCommitMissing(cmp.Or(at, "HEAD"), repo))
	}
	return at, commit, nil
}

// bbRaw is GET …/repos/{slug}/raw/{path}?at=: the bytes of a file at a
// revision. Text that is valid UTF-8 is text/plain, anything else
// application/octet-stream; nothing is ever served as a type a browser
// would render.
func (a *API) bbRaw(r *http.Request, c *oauth.Caller) (bbTextBody, error) {
	repo, _, g, err := a.bbRepoGit(r, c, scope.Read)
	if err != nil {
		return bbTextBody{}, err
	}
	at, commit, err := bbFileAt(r, g, repo)
	if err != nil {
		return bbTextBody{}, err
	}
	p := bbFilePath(r)
	if p == "" {
		return bbTextBody{}, badRequest("A path to a file is required: raw serves files, not directories.")
	}
	data, entry, err := g.ReadFile(r.Context(), commit, p, bbMaxRawFile)
	switch {
	case errors.Is(err, gitrepo.ErrTooLarge):
		return bbTextBody{}, &apiError{status: http.StatusRequestEntityTooLarge,
			message: "The file \"" + p + "\" is larger than 32 MiB; clone the repository to read it."}
	case err != nil:
		return bbTextBody{}, bbGitProblem(err, bbPathMissing(p, at))
	case entry.Type == gitrepo.TypeDir:
		return bbTextBody{}, badRequest("The path \"" + p + "\" is a directory; raw serves files.")
	}
	ct := "application/octet-stream"
	if utf8.Valid(data) && !bytes.ContainsRune(data, 0) {
		ct = "text/plain;charset=UTF-8"
	}
	return bbTextBody{contentType: ct, data: data}, nil
}

// bbPathJSON is Bitbucket's path object.
type bbPathJSON struct {
	Components []string `json:"components"`
	Parent     string   `json:"parent"`
	Name       string   `json:"name"`
	Extension  string   `json:"extension,omitempty"`
	ToString   string   `json:"toString"`
}

// bbPath describes p ("" is the root).
func bbPath(p string) bbPathJSON {
	out := bbPathJSON{Components: []string{}, ToString: p}
	if p == "" {
		return out
	}
	out.Components = strings.Split(p, "/")
	out.Name = out.Components[len(out.Components)-1]
	out.Parent = strings.Join(out.Components[:len(out.Components)-1], "/")
	if ext := path.Ext(out.Name); len(ext) > 1 && ext != out.Name {
		out.Extension = ext[1:]
	}
	return out
}

// bbChildJSON is one entry of a directory in Bitbucket's browse answer.
type bbChildJSON struct {
	Path      bbPathJSON `json:"path"`
	ContentID string     `json:"contentId"`
	Type      string     `json:"type"`
	Size      *int64     `json:"size,omitempty"`
}

// bbEntryType is Bitbucket's name for a tree entry's type.
func bbEntryType(t gitrepo.EntryType) string {
	switch t {
	case gitrepo.TypeDir:
		return "DIRECTORY"
	case gitrepo.TypeSubmodule:
		return "SUBMODULE"
	}
	return "FILE" // files and symbolic links
}

// bbLineJSON is one line of a file in Bitbucket's browse answer.
type bbLineJSON struct {
	Text string `json:"text"`
}

// bbBrowseLimit is the default page size of browse (lines or children).
const bbBrowseLimit = 500

// bbBrowse is GET …/repos/{slug}/browse/{path}?at=: for a directory its
// children (a page of entries, named relative to it), for a file a page
// of its lines, as Bitbucket answers both; with type=true only the
// entry's type ({"type":"FILE"}).
func (a *API) bbBrowse(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, _, g, err := a.bbRepoGit(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	at, commit, err := bbFileAt(r, g, repo)
	if err != nil {
		return 0, nil, err
	}
	typeOnly, err := single(r, "type")
	if err != nil {
		return 0, nil, err
	}
	p := bbFilePath(r)
	ctx := r.Context()
	entry, err := g.Stat(ctx, commit, p)
	if err != nil {
		return 0, nil, bbGitProblem(err, bbPathMissing(p, at))
	}
	if strings.EqualFold(typeOnly, "true") {
		return http.StatusOK, map[string]string{"type": bbEntryType(entry.Type)}, nil
	}
	if entry.Type == gitrepo.TypeDir {
		return a.bbBrowseDir(r, g, commit, p, at)
	}
	if entry.Type == gitrepo.TypeSubmodule {
		return 0, nil, badRequest("The path \"" + p + "\" is a submodule; it has no lines.")
	}
	data, _, err := g.ReadFile(ctx, commit, p, bbMaxRawFile)
	if errors.Is(err, gitrepo.ErrTooLarge) {
		return 0, nil, &apiError{status: http.StatusRequestEntityTooLarge,
			message: "The file \"" + p + "\" is larger than 32 MiB; clone the repository to read it."}
	}
	if err != nil {
		return 0, nil, bbGitProblem(err, bbPathMissing(p, at))
	}
	return bbBrowseFile(r, data)
}

// bbBrowseDir answers browse for a directory.
func (a *API) bbBrowseDir(r *http.Request, g *gitrepo.Repo, commit, p, at string) (int, any, error) {
	entries, err := g.ReadDir(r.Context(), commit, p)
	if err != nil {
		return 0, nil, bbGitProblem(err, bbPathMissing(p, at))
	}
	children := make([]bbChildJSON, 0, len(entries))
	for _, e := range entries {
		child := bbChildJSON{Path: bbPath(e.Name), ContentID: e.SHA, Type: bbEntryType(e.Type)}
		if e.Type == gitrepo.TypeFile || e.Type == gitrepo.TypeSymlink {
			size := e.Size
			child.Size = &size
		}
		children = append(children, child)
	}
	pg, err := bbBrowsePage(r, children)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Path     bbPathJSON        `json:"path"`
		Revision string            `json:"revision"`
		Children page[bbChildJSON] `json:"children"`
	}{bbPath(p), bbDisplayRevision(at, commit), pg}, nil
}

// bbDisplayRevision is the revision as Bitbucket echoes it: as asked, or
// the commit when none was.
func bbDisplayRevision(at, commit string) string {
	if at != "" {
		return at
	}
	return commit
}

// bbBrowseFile answers browse for a file: a page of its lines, Bitbucket's
// page fields at the top level. A binary file has no lines.
func bbBrowseFile(r *http.Request, data []byte) (int, any, error) {
	if !utf8.Valid(data) || bytes.ContainsRune(data, 0) {
		return http.StatusOK, map[string]any{"binary": true, "lines": []bbLineJSON{}, "start": 0, "size": 0, "isLastPage": true}, nil
	}
	text := strings.TrimSuffix(string(data), "\n")
	lines := []bbLineJSON{}
	if len(data) > 0 {
		for _, l := range strings.Split(text, "\n") {
			lines = append(lines, bbLineJSON{Text: strings.TrimSuffix(l, "\r")})
		}
	}
	pg, err := bbBrowsePage(r, lines)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Lines         []bbLineJSON `json:"lines"`
		Start         int          `json:"start"`
		Size          int          `json:"size"`
		Limit         int          `json:"limit"`
		IsLastPage    bool         `json:"isLastPage"`
		NextPageStart *int         `json:"nextPageStart,omitempty"`
	}{pg.Values, pg.Start, pg.Size, pg.Limit, pg.IsLastPage, pg.NextPageStart}, nil
}

// bbBrowsePage cuts one page of items by start and limit, 500 by default
// (Bitbucket's browse pages are larger than its lists').
func bbBrowsePage[T any](r *http.Request, items []T) (page[T], error) {
	if r.URL.Query().Get("limit") == "" {
		q := r.URL.Query()
		q.Set("limit", strconv.Itoa(bbBrowseLimit))
		r = r.Clone(r.Context())
		r.URL.RawQuery = q.Encode()
	}
	return paginateSeq(r, seqOf(items))
}
