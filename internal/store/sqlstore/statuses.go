package sqlstore

import (
	"context"

	"latchkey/internal/store"
)

const statusColumns = `id, repo_id, sha, context, state, name, target_url, description, creator_id, created_at`

func scanStatus(r rowScanner) (store.CommitStatus, error) {
	var cs store.CommitStatus
	var state string
	var created int64
	err := r.Scan(&cs.ID, &cs.RepoID, &cs.SHA, &cs.Context, &state, &cs.Name, &cs.TargetURL, &cs.Description,
		&cs.CreatorID, &created)
	cs.State, cs.CreatedAt = store.StatusState(state), fromMillis(created)
	return cs, err
}

// AddCommitStatus implements store.Store. ErrNotFound if the repository
// does not exist.
func (s *Store) AddCommitStatus(ctx context.Context, cs store.CommitStatus) (store.CommitStatus, error) {
	cs.CreatedAt = truncate(cs.CreatedAt)
	id, err := s.insertID(ctx, `INSERT INTO commit_statuses
		(repo_id, sha, context, state, name, target_url, description, creator_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		cs.RepoID, cs.SHA, cs.Context, string(cs.State), cs.Name, cs.TargetURL, cs.Description, cs.CreatorID,
		millis(cs.CreatedAt))
	if err != nil {
		return store.CommitStatus{}, wrap("add commit status", err)
	}
	cs.ID = id
	return cs, nil
}

// ListCommitStatuses implements store.Store.
func (s *Store) ListCommitStatuses(ctx context.Context, repoID int64, sha string, p store.Page) ([]store.CommitStatus, store.Cursor, error) {
	before := int64(maxID)
	if err := readCursor(p.After, &before); err != nil {
		return nil, "", wrap("list commit statuses", err)
	}
	if isBadText(sha) {
		return nil, "", nil // nothing stored can match it
	}
	return listPage(ctx, s, "list commit statuses", p, `SELECT `+statusColumns+` FROM commit_statuses
		WHERE repo_id = $1 AND sha = $2 AND id < $3 ORDER BY id DESC LIMIT CAST($4 AS INTEGER)`,
		func(r rowScanner) (keyed[store.CommitStatus], error) {
			cs, err := scanStatus(r)
			return keyed[store.CommitStatus]{cs, cursorOf(cs.ID)}, err
		}, repoID, sha, before)
}
