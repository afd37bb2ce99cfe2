package api

import (
	"net/http"
	"path"
	"strings"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
)

// bbChangePath is Bitbucket's path of a changed file.
type bbChangePath struct {
	Components []string `json:"components"`
	Parent     string   `json:"parent"`
	Name       string   `json:"name"`
	Extension  string   `json:"extension,omitempty"`
	ToString   string   `json:"toString"`
}

// bbChange is Bitbucket's change of one file between two commits.
type bbChange struct {
	ContentID        string            `json:"contentId,omitempty"`
	FromContentID    string            `json:"fromContentId,omitempty"`
	Path             bbChangePath      `json:"path"`
	SrcPath          *bbChangePath     `json:"srcPath,omitempty"`
	Executable       bool              `json:"executable"`
	SrcExecutable    bool              `json:"srcExecutable"`
	PercentUnchanged int               `json:"percentUnchanged"`
	Type             string            `json:"type"`
	NodeType         string            `json:"nodeType"`
	Properties       map[string]string `json:"properties"`
	Links            links             `json:"links"`
}

func bbPathOf(p string) bbChangePath {
	dir, name := path.Split(p)
	out := bbChangePath{Components: strings.Split(p, "/"), Parent: strings.TrimSuffix(dir, "/"), Name: name, ToString: p}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		out.Extension = name[i+1:]
	}
	return out
}

// bbChangeJSON shapes a change; browse is the repository's browse URL and
// at the commit the file is shown at.
func bbChangeJSON(c gitrepo.FileChange, browse, at string) bbChange {
	out := bbChange{
		ContentID: c.SHA, FromContentID: c.SrcSHA, Path: bbPathOf(c.Path), Type: string(c.Type),
		Executable: c.Mode == "100755", SrcExecutable: c.SrcMode == "100755", PercentUnchanged: c.Similarity,
		NodeType: "FILE", Properties: map[string]string{"gitChangeType": string(c.Type)},
		Links: self(browse + "/" + c.Path + "?at=" + at),
	}
	if c.Mode == "160000" || c.SrcMode == "160000" {
		out.NodeType = "SUBMODULE"
	}
	if c.SrcPath != "" && c.SrcPath != c.Path {
		sp := bbPathOf(c.SrcPath)
		out.SrcPath = &sp
	}
	return out
}

// bbCompareChanges is GET …/repos/{slug}/compare/changes?from=&to=: the
// files that differ from to (the older revision; absent: from's first
// parent) to from, paged.
func (a *API) bbCompareChanges(r *http.Request, c *oauth.Caller) (int, any, error) {
	return a.bbChanges(r, c, "from", "to")
}

// bbCommitChanges is GET …/repos/{slug}/commits/{id}/changes?since=: the
// files the commit changed against since (absent: its first parent),
// paged.
func (a *API) bbCommitChanges(r *http.Request, c *oauth.Caller) (int, any, error) {
	return a.bbChanges(r, c, "", "since")
}

// bbChanges answers both change lists: tipParam names the query parameter
// of the newer revision ("" for the path's {id}), baseParam the older.
func (a *API) bbChanges(r *http.Request, c *oauth.Caller, tipParam, baseParam string) (int, any, error) {
	repo, p, g, err := a.bbRepoGit(r, c, scope.Read)
	if err != nil {
		return 0, nil, err
	}
	tip := r.PathValue("id")
	if tipParam != "" {
		if tip, err = single(r, tipParam); err != nil {
			return 0, nil, err
		}
		if tip == "" {
			return 0, nil, badRequest("The " + tipParam + " parameter is required.")
		}
	}
	base, err := single(r, baseParam)
	if err != nil {
		return 0, nil, err
	}
	changes, err := g.Changes(r.Context(), base, tip)
	if err != nil {
		return 0, nil, bbGitProblem(err, bbCommitMissing(strings.TrimSpace(tip+" "+base), repo))
	}
	browse := a.cfg.BaseURL + "/projects/" + p.Key + "/repos/" + repo.Slug + "/browse"
	return pagedSeq(r, mapSeq(seqOf(changes), func(ch gitrepo.FileChange) bbChange { return bbChangeJSON(ch, browse, tip) }))
}
