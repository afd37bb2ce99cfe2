package api

import (
	"errors"
	"latchkey/internal/audit"
	"net/http"
	"strings"

	"latchkey/internal/access"
	"latchkey/internal/admin"
	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

func (a *API) mountProjects(mux routes.Mux) {
	mux.Handle("GET "+bb+"/projects", a.handle(public, a.listProjects))
	mux.Handle("POST "+bb+"/projects", a.handle(authenticated, a.createProject))
	mux.Handle("GET "+bb+"/projects/{key}", a.handle(public, a.getProject))
	mux.Handle("PUT "+bb+"/projects/{key}", a.handle(authenticated, a.updateProject))
	mux.Handle("DELETE "+bb+"/projects/{key}", a.handle(authenticated, a.deleteProject))
}

// listProjects lists the projects the caller may see.
func (a *API) listProjects(r *http.Request, c *oauth.Caller) (int, any, error) {
	return pagedSeq(r, mapSeq(a.visibleProjects(r.Context(), c), a.projectJSON))
}

// projectInput is the body of project creation and update; absent fields
// are left as they are on update.
type projectInput struct {
	Key         *string `json:"key"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Public      *bool   `json:"public"`
}

// apply copies the fields given onto p.
func (in projectInput) apply(p store.Project) store.Project {
	if in.Key != nil {
		p.Key = *in.Key
	}
	if in.Name != nil {
		p.Name = strings.TrimSpace(*in.Name)
	}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.Public != nil {
		p.Public = *in.Public
	}
	return p
}

// createProject is POST /projects. It needs the global PROJECT_CREATE
// permission (or ADMIN) and a token with PROJECT_ADMIN; the creator
// becomes the project's administrator, as in Bitbucket.
func (a *API) createProject(r *http.Request, c *oauth.Caller) (int, any, error) {
	if err := access.Global(c, scope.ProjectCreator); err != nil {
		return 0, nil, err
	}
	var in projectInput
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Key == nil {
		return 0, nil, badRequest("A project needs a key.")
	}
	p, err := admin.AddProject(r.Context(), a.store, in.apply(store.Project{}), a.cfg.Provider.Now())
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	err = a.store.SetPermission(r.Context(), store.Permission{
		UserID: c.User.ID, Target: store.TargetProject, TargetID: p.ID, Name: string(scope.PermProjectAdmin)})
	if err != nil {
		return 0, nil, err
	}
	a.audit(r, c, audit.ProjectCreated, "project %s", p.Key)
	return http.StatusCreated, a.projectJSON(p), nil
}

// getProject is GET /projects/{key}.
func (a *API) getProject(r *http.Request, c *oauth.Caller) (int, any, error) {
	p, err := a.project(r.Context(), c, r.PathValue("key"), scope.Read)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.projectJSON(p), nil
}

// updateProject is PUT /projects/{key}: a project administrator changes
// its key, name, description or visibility.
func (a *API) updateProject(r *http.Request, c *oauth.Caller) (int, any, error) {
	p, err := a.project(r.Context(), c, r.PathValue("key"), scope.Admin)
	if err != nil {
		return 0, nil, err
	}
	var in projectInput
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Key != nil {
		if err := admin.CheckProjectKey(*in.Key); err != nil {
			return 0, nil, fromAdmin(err)
		}
	}
	p, err = a.store.UpdateProject(r.Context(), p.ID, func(old store.Project) (store.Project, error) {
		return in.apply(old), nil
	})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return 0, nil, conflict("Project " + strings.ToUpper(*in.Key) + " already exists.")
	case errors.Is(err, store.ErrNotFound):
		return 0, nil, projectMissing(r.PathValue("key"))
	case err != nil:
		return 0, nil, err
	}
	a.audit(r, c, audit.ProjectUpdated, "project %s", p.Key)
	return http.StatusOK, a.projectJSON(p), nil
}

// deleteProject is DELETE /projects/{key}. As in Bitbucket, a project that
// still holds repositories is not deleted (409).
func (a *API) deleteProject(r *http.Request, c *oauth.Caller) (int, any, error) {
	p, err := a.project(r.Context(), c, r.PathValue("key"), scope.Admin)
	if err != nil {
		return 0, nil, err
	}
	repos, _, err := a.store.ListRepos(r.Context(), p.ID, store.Page{Limit: 1})
	if err != nil {
		return 0, nil, err
	}
	if len(repos) > 0 {
		return 0, nil, conflict("The project " + p.Key + " cannot be deleted because it still holds repositories.")
	}
	if err := a.store.DeleteProject(r.Context(), p.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, nil, err
	}
	a.audit(r, c, audit.ProjectDeleted, "project %s", p.Key)
	return http.StatusNoContent, nil, nil
}
