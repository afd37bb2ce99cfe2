package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
)

// The files of a repository as Gitea serves them: GET …/contents/{path}
// (a file's metadata and content, or a directory's entries) and GET
// …/raw/{path} (a file's bytes).

const (
	// giteaMaxContent is the largest file whose content the contents API
	// inlines (Gitea's API.DefaultMaxBlobSize); larger files come with
	// content and encoding null, and download_url.
	giteaMaxContent = 10 << 20
	// giteaMaxRaw is the largest file the raw API serves.
	giteaMaxRaw = 32 << 20
	// maxRefPathSegments bounds the prefixes of a raw path tried as a ref
	// name when no ref is given.
	maxRefPathSegments = 16
)

// cleanTreePath turns the path of a request into a path in a tree: no
// leading or trailing slash, no empty, "." or ".." segments ("a/../b" is
// "b", as Gitea cleans it; nothing climbs above the root). "" is the
// root. A path with a NUL byte or invalid UTF-8 is refused.
func cleanTreePath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
		return "", badRequest("The path holds a NUL byte or invalid UTF-8.")
	}
	return strings.TrimPrefix(path.Clean("/"+p), "/"), nil
}

// splitRefPath splits a cleaned tree path that starts with a ref name
// (Gitea's legacy …/raw/{ref}/{path}) at the shortest prefix of whole
// segments for which isRef holds, trying at most maxRefPathSegments
// prefixes. ok is false when none does.
func splitRefPath(p string, isRef func(string) bool) (ref, rest string, ok bool) {
	if p == "" {
		return "", "", false
	}
	end := 0
	for i := 0; i < maxRefPathSegments; i++ {
		next := strings.IndexByte(p[end:], '/')
		if next < 0 {
			if isRef(p) {
				return p, "", true
			}
			return "", "", false
		}
		end += next
		if isRef(p[:end]) {
			return p[:end], p[end+1:], true
		}
		end++
	}
	return "", "", false
}

// giteaRef is a revision a request named, resolved.
type giteaRef struct {
	name string // as given, or the default branch
	kind string // "branch", "tag" or "commit" (Gitea's RefTypeNameSubURL)
	sha  string
}

// resolveRef resolves a ref parameter: "" is the default branch.
func resolveRef(ctx context.Context, g *gitrepo.Repo, name string) (giteaRef, error) {
	if name == "" {
		def, err := g.DefaultBranch(ctx)
		if err != nil {
			return giteaRef{}, gitMissing(err, "The default branch")
		}
		name = def
	}
	sha, err := g.Resolve(ctx, name)
	if err != nil {
		return giteaRef{}, gitMissing(err, "The ref "+name)
	}
	kind := "commit"
	if _, err := g.Branch(ctx, name); err == nil {
		kind = "branch"
	} else if tag, err := g.Resolve(ctx, "refs/tags/"+name); err == nil && tag == sha {
		kind = "tag"
	}
	return giteaRef{name: name, kind: kind, sha: sha}, nil
}

// giteaContentLinks is Gitea's FileLinksResponse.
type giteaContentLinks struct {
	Self    *string `json:"self"`
	GitURL  *string `json:"git"`
	HTMLURL *string `json:"html"`
}

// giteaContent is Gitea's ContentsResponse. The last-commit fields are
// set on a single entry, not on a directory's entries.
type giteaContent struct {
	Name              string             `json:"name"`
	Path              string             `json:"path"`
	SHA               string             `json:"sha"`
	LastCommitSHA     *string            `json:"last_commit_sha,omitempty"`
	LastCommitterDate *time.Time         `json:"last_committer_date,omitempty"`
	LastAuthorDate    *time.Time         `json:"last_author_date,omitempty"`
	LastCommitMessage *string            `json:"last_commit_message,omitempty"`
	Type              string             `json:"type"`
	Size              int64              `json:"size"`
	Encoding          *string            `json:"encoding"`
	Content           *string            `json:"content"`
	Target            *string            `json:"target"`
	URL               *string            `json:"url"`
	HTMLURL           *string            `json:"html_url"`
	GitURL            *string            `json:"git_url"`
	DownloadURL       *string            `json:"download_url"`
	SubmoduleGitURL   *string            `json:"submodule_git_url"`
	Links             *giteaContentLinks `json:"_links"`
}

func ptr[T any](v T) *T { return &v }

// escapePath escapes each segment of a tree path for a URL.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// giteaContentJSON shapes one entry without its content.
func (a *API) giteaContentJSON(in giteaRepoIn, ref giteaRef, e gitrepo.Entry) giteaContent {
	api, html := a.giteaAPIURL(in), a.giteaHTMLURL(in)
	out := giteaContent{Name: e.Name, Path: e.Path, SHA: e.SHA, Type: string(e.Type), Size: e.Size}
	self := api + "/contents/" + escapePath(e.Path) + "?ref=" + url.QueryEscape(ref.name)
	htmlURL := html + "/src/" + ref.kind + "/" + escapePath(ref.name) + "/" + escapePath(e.Path)
	out.URL, out.HTMLURL = &self, &htmlURL
	switch e.Type {
	case gitrepo.TypeDir:
		out.GitURL = ptr(api + "/git/trees/" + e.SHA)
	case gitrepo.TypeFile:
		out.GitURL = ptr(api + "/git/blobs/" + e.SHA)
		out.DownloadURL = ptr(html + "/raw/" + ref.kind + "/" + escapePath(ref.name) + "/" + escapePath(e.Path))
	case gitrepo.TypeSymlink:
		out.GitURL = ptr(api + "/git/blobs/" + e.SHA)
	}
	out.Links = &giteaContentLinks{Self: out.URL, GitURL: out.GitURL, HTMLURL: out.HTMLURL}
	return out
}

// giteaContents is GET /repos/{owner}/{repo}/contents/{path}?ref=: a file,
// symbolic link or submodule as one object (a file with its content in
// base64), a directory as the array of its entries.
func (a *API) giteaContents(r *http.Request, c *oauth.Caller) (int, any, error) {
	ctx := r.Context()
	in, err := a.giteaRepoAt(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	file, err := cleanTreePath(r.PathValue("path"))
	if err != nil {
		return 0, nil, err
	}
	refName, err := single(r, "ref")
	if err != nil {
		return 0, nil, err
	}
	ref, err := resolveRef(ctx, in.git, refName)
	if err != nil {
		return 0, nil, err
	}
	e, err := in.git.Stat(ctx, ref.sha, file)
	if err != nil {
		return 0, nil, gitMissing(err, "The path "+file+" at "+ref.name)
	}
	if e.Type == gitrepo.TypeDir {
		entries, err := in.git.ReadDir(ctx, ref.sha, file)
		if err != nil {
			return 0, nil, gitMissing(err, "The path "+file+" at "+ref.name)
		}
		out := make([]giteaContent, 0, len(entries))
		for _, e := range entries {
			out = append(out, a.giteaContentJSON(in, ref, e))
		}
		return http.StatusOK, out, nil
	}
	out := a.giteaContentJSON(in, ref, e)
	if last, _, err := in.git.Log(ctx, ref.sha, file, 0, 1); err == nil && len(last) == 1 {
		out.LastCommitSHA, out.LastCommitMessage = &last[0].SHA, &last[0].Message
		out.LastCommitterDate, out.LastAuthorDate = &last[0].Committer.When, &last[0].Author.When
	} else if err != nil && !errors.Is(err, gitrepo.ErrNotFound) {
		return 0, nil, err
	}
	if (e.Type == gitrepo.TypeFile && e.Size <= giteaMaxContent) || e.Type == gitrepo.TypeSymlink {
		data, _, err := in.git.ReadFile(ctx, ref.sha, file, giteaMaxContent)
		if err != nil {
			return 0, nil, gitMissing(err, "The path "+file+" at "+ref.name)
		}
		if e.Type == gitrepo.TypeSymlink {
			out.Target = ptr(string(data))
		} else {
			out.Encoding, out.Content = ptr("base64"), ptr(base64.StdEncoding.EncodeToString(data))
		}
	}
	return http.StatusOK, out, nil
}

// rawFile is a file's bytes for handleRaw.
type rawFile struct {
	name string
	data []byte
}

// handleRaw is handle for a route that answers with a file's bytes rather
// than JSON; errors are rendered as by handle.
func (a *API) handleRaw(rt route, h func(r *http.Request, c *oauth.Caller) (rawFile, error)) http.Handler {
	return a.wrap(rt, func(w http.ResponseWriter, r *http.Request, c *oauth.Caller) error {
		f, err := h(r, c)
		if err != nil {
			return err
		}
		kind, disposition := "application/octet-stream", "attachment"
		if sniffed := http.DetectContentType(f.data); strings.HasPrefix(sniffed, "text/") && utf8.Valid(f.data) {
			kind, disposition = "text/plain; charset=utf-8", "inline"
		}
		w.Header().Set("Content-Type", kind)
		w.Header().Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": f.name}))
		w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(f.data)
		return nil
	})
}

// giteaRaw is GET /repos/{owner}/{repo}/raw/{path}?ref=: the bytes of a
// file (a symbolic link's target). Without ref, the path starts with a
// branch (or HEAD), a tag or a commit SHA, as Gitea reads it: the
// shortest leading segments that name a branch, else a tag, else a first
// segment that is a commit SHA; else the whole path is a file on the
// default branch.
func (a *API) giteaRaw(r *http.Request, c *oauth.Caller) (rawFile, error) {
	ctx := r.Context()
	in, err := a.giteaRepoAt(r, c, scope.Read)
	if err != nil {
		return rawFile{}, err
	}
	p, err := cleanTreePath(r.PathValue("path"))
	if err != nil {
		return rawFile{}, err
	}
	refName, err := single(r, "ref")
	if err != nil {
		return rawFile{}, err
	}
	file := p
	if refName == "" {
		refName, file, err = legacyRef(ctx, in.git, p)
		if err != nil {
			return rawFile{}, err
		}
	}
	ref, err := resolveRef(ctx, in.git, refName)
	if err != nil {
		return rawFile{}, err
	}
	data, _, err := in.git.ReadFile(ctx, ref.sha, file, giteaMaxRaw)
	if errors.Is(err, gitrepo.ErrTooLarge) {
		return rawFile{}, &apiError{status: http.StatusRequestEntityTooLarge,
			message: fmt.Sprintf("The file is larger than %d MiB; clone the repository to read it.", giteaMaxRaw>>20)}
	}
	if err != nil {
		return rawFile{}, gitMissing(err, "The file "+file+" at "+ref.name)
	}
	return rawFile{name: path.Base(file), data: data}, nil
}

// legacyRef splits a raw path given without ?ref= into a ref name and a
// file ("" for the default branch).
func legacyRef(ctx context.Context, g *gitrepo.Repo, p string) (string, string, error) {
	branches, err := g.Branches(ctx)
	if err != nil {
		return "", "", err
	}
	names := map[string]bool{"HEAD": true} // HEAD is the default branch, as in Gitea
	for _, b := range branches {
		names[b.Name] = true
	}
	if ref, rest, ok := splitRefPath(p, func(s string) bool { return names[s] }); ok {
		return ref, rest, nil
	}
	var failed error
	isTag := func(s string) bool {
		_, err := g.Resolve(ctx, "refs/tags/"+s)
		if err != nil && !errors.Is(err, gitrepo.ErrNotFound) && !errors.Is(err, gitrepo.ErrBadRevision) {
			failed = err
		}
		return err == nil
	}
	if ref, rest, ok := splitRefPath(p, isTag); ok || failed != nil {
		return ref, rest, failed
	}
	first, rest, _ := strings.Cut(p, "/")
	if len(first) >= 7 && isHexString(first) {
		if has, err := g.HasCommit(ctx, first); err != nil {
			return "", "", err
		} else if has {
			return first, rest, nil
		}
	}
	return "", p, nil
}

func isHexString(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return s != ""
}
