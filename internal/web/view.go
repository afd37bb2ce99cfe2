package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// templateFuncs are the helpers the templates may call.
var templateFuncs = template.FuncMap{
	"when":      when,
	"iso":       func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join":      strings.Join,
	"auditTime": auditTime,
}

// when formats a time for people; the zero time reads "never".
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// section names the navigation entry a path belongs to, for aria-current.
func section(path string) string {
	switch {
	case strings.HasPrefix(path, applicationsPath), strings.HasPrefix(path, authorizationsPath):
		return "applications"
	case strings.HasPrefix(path, accountPath), strings.HasPrefix(path, securityPath):
		return "account"
	case strings.HasPrefix(path, adminPath):
		return "admin"
	}
	return ""
}

// notices are the confirmations a page shows after a change, chosen by the
// "done" query parameter of the redirect that follows a form. Only these
// fixed texts can appear, so the parameter cannot inject anything.
var notices = map[string]string{
	"updated":  "The application was saved.",
	"deleted":  "The application was deleted. Its tokens no longer work.",
	"revoked":  "Access was revoked. Every token of that application for your account stopped working.",
	"password": "Your password was changed. You were signed out everywhere else.",
	"password_revoked": "Your password was changed. You were signed out everywhere else, and every application " +
		"you authorized lost its access: each must ask you again.",
	"signed_out": "You were signed out everywhere, and every application you authorized lost its access. " +
		"Sign in again to continue.",
	"user_signed_out": "The user was signed out everywhere. Every token of theirs stopped working.",
	"suspended":       "The application was suspended. Its tokens no longer work.",
	"reinstated":      "The application was reinstated. It must ask its users again for tokens.",
	"disabled":        "The account was disabled and signed out everywhere. Its tokens no longer work.",
	"enabled":         "The account was enabled.",
	"device-on":       "The device grant of the application was switched on.",
	"device-off":      "The device grant of the application was switched off. It can no longer start or finish device sign-ins.",
	"granted":         "The permission was granted.",
	"taken":           "The permission was removed.",
	"email_sent": "A confirmation link was sent to the new address. Your address changes when you open it " +
		"while signed in as yourself; until then applications see your current address.",
	"email_unchanged":   "That is your address already; nothing changed.",
	"email_removed":     "Your email address was removed.",
	"email_confirmed":   "Your email address was confirmed. Applications now see it as verified.",
	"email_set":         "The email address was set. It counts as verified.",
	"factor_added":      "The authenticator app was added. Sign-ins now ask for its code after your password.",
	"factor_removed":    "The factor was removed.",
	"identity_linked":   "The identity was linked: you can sign in with it now.",
	"identity_unlinked": "The link was removed.",
	"key_added":         "The security key or passkey was added.",
	"key_added_no_codes": "The security key or passkey was added. You have no recovery codes: generate them below " +
		"and keep them somewhere safe, so that losing the key does not lock you out.",
	"factors_reset": "Every second factor and recovery code of the user was removed, and their sessions ended. " +
		"They sign in with their password alone (or enrol again, if the policy requires a factor).",
}

// notice returns the confirmation the request asks to show, or "".
func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }

// redirectDone sends the browser to path with a confirmation to show
// (POST, then redirect, then GET: reloading repeats nothing).
func redirectDone(w http.ResponseWriter, r *http.Request, path, done string) {
	http.Redirect(w, r, path+"?"+url.Values{"done": {done}}.Encode(), http.StatusSeeOther)
}

// signedIn returns the signed-in user and session, or asks the person to
// sign in first (see signInFirst).
func (p *Pages) signedIn(r *http.Request) (*store.User, *store.Session, error) {
	user, session, err := p.currentUser(r)
	if err != nil {
		return nil, nil, err
	}
	if user == nil {
		return nil, nil, &signInFirst{}
	}
	return user, session, nil
}

// globalLevel is the user's global permission now.
func (p *Pages) globalLevel(ctx context.Context, userID int64) (scope.Global, error) {
	perms, err := p.store.ListPermissions(ctx, userID)
	if err != nil {
		return scope.NoGlobal, fmt.Errorf("load permissions of user %d: %w", userID, err)
	}
	return scope.NewUserAccess(perms).Global, nil
}

// isAdmin reports whether the user holds global ADMIN or SYS_ADMIN; on a
// store error it logs and answers no (the link is only navigation; the
// admin pages check again).
func (p *Pages) isAdmin(ctx context.Context, userID int64) bool {
	g, err := p.globalLevel(ctx, userID)
	if err != nil {
		p.log.Warn("check administrator", "user_id", userID, "error", err)
		return false
	}
	return g >= scope.GlobalAdmin
}

// scopeOption is one checkbox of the scope checklist.
type scopeOption struct {
	Name, Description string
	Checked           bool
}

// scopeGroup is one vocabulary of the checklist, in a fieldset. More are
// scopes that grant nothing here, shown folded away unless one is ticked.
type scopeGroup struct {
	Legend      string
	Hint        string
	Options     []scopeOption
	More        []scopeOption
	MoreChecked bool
}

// bitbucketScopes and oidcScopes are listed in this order; every other
// known scope is Gitea's.
var (
	bitbucketScopes = []string{scope.PublicRepos, scope.RepoRead, scope.RepoWrite, scope.RepoAdmin,
		scope.ProjectAdmin, scope.AdminWrite, scope.SystemAdmin, scope.AccountWrite}
	oidcScopes  = []string{scope.OpenID, scope.Profile, scope.Email, scope.Groups}
	giteaScopes = []string{scope.GiteaReadRepository, scope.GiteaWriteRepository, scope.GiteaReadUser,
		scope.GiteaWriteUser, scope.GiteaReadOrganization, scope.GiteaWriteOrganization, scope.GiteaReadAdmin,
		scope.GiteaWriteAdmin, scope.GiteaPublicOnly, scope.GiteaAll}
)

// scopeChecklist builds the checklist of both vocabularies with the given
// scopes ticked.
func scopeChecklist(checked []string) []scopeGroup {
	rest := slices.DeleteFunc(scope.Known(), func(s string) bool {
		return slices.Contains(bitbucketScopes, s) || slices.Contains(oidcScopes, s) || slices.Contains(giteaScopes, s)
	})
	options := func(names []string) []scopeOption {
		var out []scopeOption
		for _, n := range names {
			out = append(out, scopeOption{Name: n, Description: scope.Descriptions[n], Checked: slices.Contains(checked, n)})
		}
		return out
	}
	gitea := scopeGroup{Legend: "Gitea scopes", Options: options(giteaScopes), More: options(rest)}
	gitea.MoreChecked = slices.ContainsFunc(gitea.More, func(o scopeOption) bool { return o.Checked })
	return []scopeGroup{
		{Legend: "Bitbucket scopes", Hint: "Each includes the ones before it, except ACCOUNT_WRITE.", Options: options(bitbucketScopes)},
		gitea,
		{Legend: "OpenID Connect scopes", Hint: "For signing people in with ID tokens.", Options: options(oidcScopes)},
	}
}

// describedScopes pairs each scope with its plain-words description.
// describedScopes words each scope for a person: Latchkey's from their
// descriptions, an external resource server's own as a permission at
// that server.
func describedScopes(scopes []string, servers []store.ResourceServer) []consentScope {
	out := make([]consentScope, 0, len(scopes))
	for _, s := range scopes {
		d := scope.Descriptions[s]
		for _, rs := range servers {
			if d == "" && slices.Contains(rs.Scopes, s) {
				d = "Use the permission “" + s + "” at " + rs.Name + "."
			}
		}
		out = append(out, consentScope{Name: s, Description: d})
	}
	return out
}
