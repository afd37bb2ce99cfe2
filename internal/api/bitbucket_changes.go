package api

import (
	"net/http"
	"strings"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
)

// bbChange is Bitbucket's change of one file between two commits.
type bbChange struct {
	ContentID        string            `json:"contentId,omitempty"`
	FromContentID    string            `json:"fromContentId,omitempty"`
	Path             bbPathJSON        `json:"path"`
	SrcPath          *bbPathJSON       `json:"srcPath,omitempty"`
	Executable       bool              `json:"executable"`
	SrcExecutable    bool              `json:"srcExecutable"`
	PercentUnchanged int               `json:"percentUnchanged"`
	Type             string            `json:"type"`
	NodeType         string            `json:"nodeType"`
	Properties       map[string]string `json:"properties"`
	Links            links             `json:"links"`
}

// bbChangeJSON shapes a change; browse is the repository's browse URL and
// at the commit the file is shown at.
func bbChangeJSON(c gitrepo.FileChange, browse, at string) bbChange {
	out := bbChange{
		ContentID: c.SHA, FromContentID: c.SrcSHA, Path: bbPath(c.Path), Type: string(c.Type),
		Executable: c.Mode == "100755", SrcExecutable: c.SrcMode == "100755", PercentUnchanged: c.Similarity,
		NodeType: "FILE", Properties: map[string]string{"gitChangeType": string(c.Type)},
		Links: self(browse + "/" + c.Path + "?at=" + at),
	}
	if c.Mode == "160000" || c.SrcMode == "160000" {
		out.NodeType = "SUBMODULE"
	}
	if c.SrcPath != "" && c.SrcPath != c.Path {
		sp := bbPath(c.SrcPath)
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
	// Each revision is looked up on its own, so that a missing one is
	// named in the answer.
	for _, rev := range []string{tip, base} {
		if strings.Trim(rev, "0") == "" {
			continue // none, or all zeros: the tip's first parent
		}
		if _, err := g.Resolve(r.Context(), rev); err != nil {
			return 0, nil, bbGitProblem(err, bbCommitMissing(rev, repo))
		}
	}
	changes, err := g.Changes(r.Context(), base, tip)
	if err != nil {
		return 0, nil, bbGitProblem(err, bbCommitMissing(tip, repo))
	}
	browse := a.cfg.BaseURL + "/projects/" + p.Key + "/repos/" + repo.Slug + "/browse"
	return pagedSeq(r, mapSeq(seqOf(changes), func(ch gitrepo.FileChange) bbChange { return bbChangeJSON(ch, browse, tip) }))
}
