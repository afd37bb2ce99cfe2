package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"latchkey/internal/audit"
	"latchkey/internal/identity"
	"latchkey/internal/ldapdir"
	"latchkey/internal/scope"
	"latchkey/internal/store"
	"latchkey/internal/upstream"
)

// sourcesPath is where the identity sources are administered.
const sourcesPath = adminPath + "/sources"

// sourceNotices are the confirmations of the sources pages (see notices).
var sourceNotices = map[string]string{
	"source_added":   "The identity source was added.",
	"source_saved":   "The identity source was saved. Accounts get changed group mappings at their next sign-in or sync.",
	"source_enabled": "The identity source was enabled: its people can sign in again.",
	"source_moved":   "The order of the identity sources was changed.",
	"source_deleted": "The identity source was deleted.",
	"sync_failed":    "The sync failed before it disabled anyone; the table shows why.",
}

// sourceNotice is the confirmation the request asks to show: a fixed
// text, or one with the counts a disable or sync reported (numbers only).
func sourceNotice(r *http.Request) string {
	q := r.URL.Query()
	count := func(name string) int {
		n, err := strconv.Atoi(q.Get(name))
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	switch q.Get("done") {
	case "source_disabled":
		return fmt.Sprintf("The identity source was disabled: %s ended and %s revoked. Its people cannot sign in "+
			"until it is enabled again.", pluralize(count("sessions"), "session"), pluralize(count("grants"), "token grant"))
	case "source_synced":
		return fmt.Sprintf("The directory was synchronised: %s checked, %s disabled because the directory no longer has them.",
			pluralize(count("checked"), "account"), pluralize(count("disabled"), "account"))
	}
	if s, ok := sourceNotices[q.Get("done")]; ok {
		return s
	}
	return notice(r)
}

// redirectCounts is redirectDone with counts for sourceNotice.
func redirectCounts(w http.ResponseWriter, r *http.Request, path, done string, counts map[string]int) {
	q := url.Values{"done": {done}}
	for k, n := range counts {
		q.Set(k, strconv.Itoa(n))
	}
	http.Redirect(w, r, path+"?"+q.Encode(), http.StatusSeeOther)
}

// sourcesAdmin returns the signed-in system administrator and the
// node's identity sources. Only a SYS_ADMIN may change how people sign
// in: whoever controls a source's directory or provider, or its group
// mappings, controls the accounts that sign in through it.
func (p *Pages) sourcesAdmin(r *http.Request) (*store.User, *identity.Service, error) {
	user, level, err := p.signedInAdmin(r)
	if err != nil {
		return nil, nil, err
	}
	if level < scope.SysAdmin {
		return nil, nil, refuse(http.StatusForbidden, "Only a system administrator may manage identity sources.")
	}
	if p.cfg.Identity == nil {
		return nil, nil, refuse(http.StatusNotFound, "This server has no identity sources.")
	}
	return user, p.cfg.Identity, nil
}

// pathSource returns the source named in the path.
func (p *Pages) pathSource(r *http.Request) (store.IdentitySource, error) {
	src, err := p.store.GetIdentitySourceByName(r.Context(), r.PathValue("source"))
	if errors.Is(err, store.ErrNotFound) {
		return store.IdentitySource{}, refuse(http.StatusNotFound, "There is no such identity source.")
	}
	return src, err
}

// sourceRow is one row of the sources table.
type sourceRow struct {
	store.IdentitySource
	Place       int    // 1-based
	Users       string // how many accounts belong to it
	First, Last bool
}

type adminSourcesData struct {
	Notice  string
	Sources []sourceRow
}

// adminSources lists the identity sources in their order.
func (p *Pages) adminSources(w http.ResponseWriter, r *http.Request) error {
	user, svc, err := p.sourcesAdmin(r)
	if err != nil {
		return err
	}
	list, err := svc.List(r.Context())
	if err != nil {
		return err
	}
	d := adminSourcesData{Notice: sourceNotice(r)}
	for i, src := range list {
		n, err := p.countSourceUsers(r, src.ID, 1000)
		if err != nil {
			return err
		}
		d.Sources = append(d.Sources, sourceRow{IdentitySource: src, Place: i + 1, Users: n, First: i == 0, Last: i == len(list)-1})
	}
	p.render(w, r, http.StatusOK, "admin_sources", "Identity sources", user, d)
	return nil
}

// countSourceUsers counts the accounts of a source, up to most ("N+"
// beyond).
func (p *Pages) countSourceUsers(r *http.Request, sourceID int64, most int) (string, error) {
	list := func(ctx context.Context, pg store.Page) ([]store.User, store.Cursor, error) {
		return p.store.ListSourceUsers(ctx, sourceID, pg)
	}
	n := 0
	for _, err := range store.Walk(r.Context(), list, store.MaxLimit) {
		if err != nil {
			return "", fmt.Errorf("count the accounts of source %d: %w", sourceID, err)
		}
		if n++; n > most {
			return strconv.Itoa(most) + "+", nil
		}
	}
	return strconv.Itoa(n), nil
}

// sourceForm is the add and edit form of a source, as typed. The secret
// is never shown again: a blank secret keeps the stored one.
type sourceForm struct {
	Kind                     store.SourceKind
	New                      bool
	Name, DisplayName        string
	Mappings                 string // one per line
	Enabled                  bool   // new sources only
	HasSecret, ClearSecret   bool
	Error                    string
	secret                   string
	URL, CACert, BindDN      string
	StartTLS                 bool
	UserBase, UserFilter     string
	UsernameAttr, NameAttr   string
	EmailAttr, GroupBase     string
	GroupFilter, GroupAttr   string
	SyncInterval, Timeout    string
	Issuer, ClientID, Scopes string
	UsernameClaim, NameClaim string
	EmailClaim, GroupsClaim  string
	CreateUsers, TrustMFA    bool
	ACRValues                string // space-separated
}

// formOf is the form of a stored source, for editing.
func formOf(src store.IdentitySource) (sourceForm, error) {
	f := sourceForm{Kind: src.Kind, Name: src.Name, DisplayName: src.DisplayName, HasSecret: len(src.Secret) > 0}
	s, err := identity.DecodeSettings(src)
	if err != nil {
		return f, err
	}
	var lines []string
	for _, m := range s.Mappings {
		lines = append(lines, m.String())
	}
	f.Mappings = strings.Join(lines, "\n")
	f.CreateUsers, f.TrustMFA, f.ACRValues = s.CreateUsers, s.TrustUpstreamMFA, strings.Join(s.MFAACRValues, " ")
	if s.SyncInterval != 0 {
		f.SyncInterval = time.Duration(s.SyncInterval).String()
	}
	switch src.Kind {
	case store.SourceLDAP:
		c, err := identity.LDAPConfig(s)
		if err != nil {
			return f, fmt.Errorf("source %q: %w", src.Name, err)
		}
		f.URL, f.StartTLS, f.CACert, f.BindDN = c.URL, c.StartTLS, c.CACert, c.BindDN
		f.UserBase, f.UserFilter, f.UsernameAttr, f.NameAttr = c.UserBase, c.UserFilter, c.UsernameAttr, c.DisplayNameAttr
		f.EmailAttr, f.GroupBase, f.GroupFilter, f.GroupAttr = c.EmailAttr, c.GroupBase, c.GroupFilter, c.GroupNameAttr
		if c.Timeout != 0 {
			f.Timeout = c.Timeout.String()
		}
	case store.SourceOIDC:
		u, err := identity.OIDCSettings(s)
		if err != nil {
			return f, fmt.Errorf("source %q: %w", src.Name, err)
		}
		f.Issuer, f.ClientID, f.Scopes = u.Issuer, u.ClientID, strings.Join(u.Scopes, " ")
		f.UsernameClaim, f.NameClaim, f.EmailClaim, f.GroupsClaim = u.UsernameClaim, u.NameClaim, u.EmailClaim, u.GroupsClaim
	}
	return f, nil
}

// newForm is the empty form of a new source of a kind, with defaults.
func newForm(kind store.SourceKind) sourceForm {
	return sourceForm{Kind: kind, New: true, Enabled: true, UsernameAttr: ldapdir.DefaultUsernameAttr,
		NameAttr: ldapdir.DefaultDisplayNameAttr, EmailAttr: ldapdir.DefaultEmailAttr, GroupAttr: ldapdir.DefaultGroupNameAttr,
		Timeout: ldapdir.DefaultTimeout.String(), Scopes: strings.Join(upstream.DefaultScopes, " "),
		UsernameClaim: upstream.DefaultUsernameClaim, NameClaim: upstream.DefaultNameClaim, EmailClaim: upstream.DefaultEmailClaim}
}

// readSourceForm reads the posted form into f (whose Kind and New are set).
func readSourceForm(r *http.Request, f sourceForm) sourceForm {
	v := func(name string) string { return strings.TrimSpace(r.PostForm.Get(name)) }
	on := func(name string) bool { return r.PostForm.Get(name) != "" }
	if f.New {
		f.Name, f.Enabled = strings.ToLower(v("name")), on("enabled")
	}
	f.DisplayName, f.Mappings, f.secret, f.ClearSecret = v("display_name"), v("mappings"), r.PostForm.Get("secret"), on("clear_secret")
	f.SyncInterval = v("sync_interval")
	switch f.Kind {
	case store.SourceLDAP:
		f.URL, f.StartTLS, f.CACert, f.BindDN = v("url"), on("start_tls"), v("ca_cert"), v("bind_dn")
		f.UserBase, f.UserFilter, f.UsernameAttr, f.NameAttr = v("user_base"), v("user_filter"), v("username_attr"), v("display_name_attr")
		f.EmailAttr, f.GroupBase, f.GroupFilter, f.GroupAttr = v("email_attr"), v("group_base"), v("group_filter"), v("group_name_attr")
		f.Timeout = v("timeout")
	case store.SourceOIDC:
		f.Issuer, f.ClientID, f.Scopes = v("issuer"), v("client_id"), v("scopes")
		f.UsernameClaim, f.NameClaim, f.EmailClaim, f.GroupsClaim = v("username_claim"), v("name_claim"), v("email_claim"), v("groups_claim")
		f.CreateUsers, f.TrustMFA, f.ACRValues = on("create_users"), on("trust_upstream_mfa"), v("mfa_acr")
	}
	return f
}

// settings checks the form and builds the source's settings; the error's
// message is fit to show on the form.
func (f sourceForm) settings() (identity.Settings, error) {
	var s identity.Settings
	for line := range strings.Lines(f.Mappings) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := identity.ParseMapping(line)
		if err != nil {
			return s, err
		}
		s.Mappings = append(s.Mappings, m)
	}
	sync, err := optionalDuration(f.SyncInterval, "sync interval")
	if err != nil {
		return s, err
	}
	s.SyncInterval = identity.Duration(sync)
	switch f.Kind {
	case store.SourceLDAP:
		timeout, err := optionalDuration(f.Timeout, "timeout")
		if err != nil {
			return s, err
		}
		c := ldapdir.Config{URL: f.URL, StartTLS: f.StartTLS, CACert: f.CACert, BindDN: f.BindDN, UserBase: f.UserBase,
			UserFilter: f.UserFilter, UsernameAttr: f.UsernameAttr, DisplayNameAttr: f.NameAttr, EmailAttr: f.EmailAttr,
			GroupBase: f.GroupBase, GroupFilter: f.GroupFilter, GroupNameAttr: f.GroupAttr, Timeout: timeout}
		return s.WithLDAP(c), c.Validate()
	case store.SourceOIDC:
		u := upstream.Settings{Issuer: f.Issuer, ClientID: f.ClientID, Scopes: strings.Fields(f.Scopes),
			UsernameClaim: f.UsernameClaim, NameClaim: f.NameClaim, EmailClaim: f.EmailClaim, GroupsClaim: f.GroupsClaim}
		s.CreateUsers, s.TrustUpstreamMFA, s.MFAACRValues = f.CreateUsers, f.TrustMFA, strings.Fields(f.ACRValues)
		return s.WithOIDC(u), u.Validate()
	}
	return s, fmt.Errorf("unknown kind of source %q", f.Kind)
}

// optionalDuration reads a duration such as "1h"; empty or "0" is 0.
func optionalDuration(s, what string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("the %s %q is no duration: write it like 30m or 1h", what, s)
	}
	return d, nil
}

// check validates what Service.Add and Update would refuse, so that
// their remaining errors are the server's, not the form's.
func (f sourceForm) check() (identity.Settings, error) {
	if f.New {
		if err := identity.CheckName(f.Name); err != nil {
			return identity.Settings{}, err
		}
		if f.Name == "new" {
			return identity.Settings{}, errors.New(`"new" cannot be a source's name here: choose another`)
		}
	}
	if len(f.DisplayName) > 64 {
		return identity.Settings{}, errors.New("the display name must be at most 64 characters")
	}
	s, err := f.settings()
	if err != nil {
		return s, err
	}
	return s, s.Validate()
}

// showSourceForm renders the add or edit form; the secret typed is never
// sent back.
func (p *Pages) showSourceForm(w http.ResponseWriter, r *http.Request, user *store.User, status int, f sourceForm) {
	title := "Edit identity source " + f.Name
	if f.New {
		title = map[store.SourceKind]string{store.SourceLDAP: "Add an LDAP directory",
			store.SourceOIDC: "Add an OpenID Connect provider"}[f.Kind]
	}
	f.secret = ""
	p.render(w, r, status, "admin_source", title, user, f)
}

// sourceKind reads the kind of a new source.
func sourceKind(s string) (store.SourceKind, error) {
	switch k := store.SourceKind(s); k {
	case store.SourceLDAP, store.SourceOIDC:
		return k, nil
	}
	return "", refuse(http.StatusNotFound, "Choose an LDAP directory or an OpenID Connect provider.")
}

// adminSourceNew shows the form of a new source (?kind=ldap|oidc).
func (p *Pages) adminSourceNew(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.sourcesAdmin(r)
	if err != nil {
		return err
	}
	kind, err := sourceKind(r.URL.Query().Get("kind"))
	if err != nil {
		return err
	}
	p.showSourceForm(w, r, user, http.StatusOK, newForm(kind))
	return nil
}

// adminSourceCreate adds a source; a form with a mistake is shown again
// (400) with what was typed, except the secret.
func (p *Pages) adminSourceCreate(w http.ResponseWriter, r *http.Request) error {
	user, svc, err := p.sourcesAdmin(r)
	if err != nil {
		return err
	}
	kind, err := sourceKind(r.PostForm.Get("kind"))
	if err != nil {
		return err
	}
	f := readSourceForm(r, sourceForm{Kind: kind, New: true})
	settings, err := f.check()
	var src store.IdentitySource
	if err != nil {
		err = &identity.InvalidError{Message: err.Error()}
	} else {
		src, err = svc.Add(r.Context(), identity.NewSource{Name: f.Name, DisplayName: f.DisplayName, Kind: kind,
			Settings: settings, Secret: f.secret, Enabled: f.Enabled})
	}
	if refused := p.sourceRefused(w, r, user, f, err); refused != nil || err != nil {
		return refused
	}
	p.audit(r, event(audit.SourceCreated, user, "", fmt.Sprintf("source: %s (%s)", src.Name, src.Kind)))
	redirectDone(w, r, sourcesPath, "source_added")
	return nil
}

// sourceRefused shows the form again (400) with the message of a source
// that identity refused as described wrongly, and returns nil; any other
// error is returned as it is (nil for none).
func (p *Pages) sourceRefused(w http.ResponseWriter, r *http.Request, user *store.User, f sourceForm, err error) error {
	var inv *identity.InvalidError
	if !errors.As(err, &inv) {
		return err
	}
	f.Error = sentence(inv.Message)
	p.showSourceForm(w, r, user, http.StatusBadRequest, f)
	return nil
}

// adminSourceEdit shows the edit form of a source.
func (p *Pages) adminSourceEdit(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.sourcesAdmin(r)
	if err != nil {
		return err
	}
	src, err := p.pathSource(r)
	if err != nil {
		return err
	}
	f, err := formOf(src)
	if err != nil {
		return err
	}
	p.showSourceForm(w, r, user, http.StatusOK, f)
	return nil
}

// adminSourceSave changes a source's settings. A blank secret keeps the
// stored one; the "remove the secret" box removes it.
func (p *Pages) adminSourceSave(w http.ResponseWriter, r *http.Request) error {
	user, svc, err := p.sourcesAdmin(r)
	if err != nil {
		return err
	}
	src, err := p.pathSource(r)
	if err != nil {
		return err
	}
	f := readSourceForm(r, sourceForm{Kind: src.Kind, Name: src.Name, HasSecret: len(src.Secret) > 0})
	settings, err := f.check()
	if err != nil {
		f.Error = sentence(err.Error())
		p.showSourceForm(w, r, user, http.StatusBadRequest, f)
		return nil
	}
	var secret *string
	detail := "source: " + src.Name + "; settings changed"
	switch {
	case f.secret != "":
		secret, detail = &f.secret, detail+", new secret"
	case f.ClearSecret:
		empty := ""
		secret, detail = &empty, detail+", secret removed"
	}
	_, err = svc.Update(r.Context(), src.Name, f.DisplayName, settings, secret)
	if refused := p.sourceRefused(w, r, user, f, err); refused != nil || err != nil {
		return refused
	}
	p.audit(r, event(audit.SourceUpdated, user, "", detail))
	redirectDone(w, r, sourcesPath, "source_saved")
	return nil
}

// adminSourceEnable turns a source on, or off after asking: off ends
// every session and grant of its people at once.
func (p *Pages) adminSourceEnable(enable bool) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, svc, err := p.sourcesAdmin(r)
		if err != nil {
			return err
		}
		src, err := p.pathSource(r)
		if err != nil {
			return err
		}
		if enable {
			if _, err := svc.SetEnabled(r.Context(), src.Name, true); err != nil {
				return err
			}
			p.audit(r, event(audit.SourceEnabled, user, "", "source: "+src.Name))
			redirectDone(w, r, sourcesPath, "source_enabled")
			return nil
		}
		if !confirmed(r) {
			return p.askConfirmation(w, r, user, "Disable "+src.DisplayName+"?", confirmData{
				Message: "Nobody can sign in through " + src.DisplayName + " while it is disabled. Every session of its " +
					"people, and every session that went through it, ends at once, and every application they " +
					"authorized loses its tokens.",
				Button: "Disable source", Cancel: sourcesPath,
			})
		}
		out, err := svc.SetEnabled(r.Context(), src.Name, false)
		if err != nil {
			return err
		}
		p.audit(r, event(audit.SourceDisabled, user, "", fmt.Sprintf("source: %s; %s ended, %s revoked",
			src.Name, pluralize(out.Sessions, "session"), pluralize(out.Families, "token grant"))))
		redirectCounts(w, r, sourcesPath, "source_disabled", map[string]int{"sessions": out.Sessions, "grants": out.Families})
		return nil
	}
}

// adminSourceMove moves a source one place up (by -1) or down (+1).
func (p *Pages) adminSourceMove(by int) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, svc, err := p.sourcesAdmin(r)
		if err != nil {
			return err
		}
		src, err := p.pathSource(r)
		if err != nil {
			return err
		}
		list, err := svc.List(r.Context())
		if err != nil {
			return err
		}
		at := 0
		for i, x := range list {
			if x.ID == src.ID {
				at = i
			}
		}
		to := min(max(at+by, 0), len(list)-1)
		if err := svc.Move(r.Context(), src.Name, to); err != nil {
			return err
		}
		p.audit(r, event(audit.SourceMoved, user, "", fmt.Sprintf("source: %s; to position %d", src.Name, to+1)))
		redirectDone(w, r, sourcesPath, "source_moved")
		return nil
	}
}

// adminSourceSync synchronises a directory now.
func (p *Pages) adminSourceSync(w http.ResponseWriter, r *http.Request) error {
	user, svc, err := p.sourcesAdmin(r)
	if err != nil {
		return err
	}
	src, err := p.pathSource(r)
	if err != nil {
		return err
	}
	if src.Kind != store.SourceLDAP {
		return refuse(http.StatusBadRequest, "Only LDAP directories are synchronised.")
	}
	rep, err := svc.Sync(r.Context(), src.Name)
	if err != nil {
		p.log.Warn("directory sync failed", "source", src.Name, "error", err)
		p.audit(r, event(audit.SourceSynced, user, "", "source: "+src.Name+"; failed"))
		redirectDone(w, r, sourcesPath, "sync_failed")
		return nil
	}
	p.audit(r, event(audit.SourceSynced, user, "", fmt.Sprintf("source: %s; %s checked, %s disabled",
		src.Name, pluralize(rep.Checked, "account"), pluralize(rep.Disabled, "account"))))
	redirectCounts(w, r, sourcesPath, "source_synced", map[string]int{"checked": rep.Checked, "disabled": rep.Disabled})
	return nil
}

// adminSourceDelete deletes a source after asking; refused while an
// account belongs to it (before anything ends).
func (p *Pages) adminSourceDelete(w http.ResponseWriter, r *http.Request) error {
	user, svc, err := p.sourcesAdmin(r)
	if err != nil {
		return err
	}
	src, err := p.pathSource(r)
	if err != nil {
		return err
	}
	n, err := p.countSourceUsers(r, src.ID, 1000)
	if err != nil {
		return err
	}
	if n != "0" {
		return refuse(http.StatusConflict, fmt.Sprintf("%s cannot be deleted: %s accounts belong to it. "+
			"Disable it instead, or delete those accounts first.", src.DisplayName, n))
	}
	if !confirmed(r) {
		return p.askConfirmation(w, r, user, "Delete "+src.DisplayName+"?", confirmData{
			Message: "Deleting " + src.DisplayName + " removes its settings and secret, the links of accounts to it and the " +
				"permissions its groups granted. Sessions that went through it end. This cannot be undone; to stop it " +
				"for now instead, disable it.",
			Button: "Delete source", Cancel: sourcesPath,
		})
	}
	if err := svc.Delete(r.Context(), src.Name); err != nil {
		return err
	}
	p.audit(r, event(audit.SourceDeleted, user, "", "source: "+src.Name))
	redirectDone(w, r, sourcesPath, "source_deleted")
	return nil
}

// linkedIdentity is one identity of another source linked to a user.
type linkedIdentity struct {
	Source  string // the source's display name
	Subject string
	Linked  time.Time
}

// userSources describes the source a user belongs to ("" for local
// passwords) and their linked identities, for the admin user page.
func (p *Pages) userSources(r *http.Request, u store.User) (string, []linkedIdentity, error) {
	sources, err := p.store.ListIdentitySources(r.Context())
	if err != nil {
		return "", nil, fmt.Errorf("list identity sources: %w", err)
	}
	names := map[int64]string{}
	for _, s := range sources {
		names[s.ID] = s.DisplayName + " (" + string(s.Kind) + ")"
	}
	own := ""
	if u.SourceID != 0 {
		own = names[u.SourceID]
		if own == "" {
			own = fmt.Sprintf("source #%d", u.SourceID)
		}
	}
	links, err := p.store.ListUserIdentities(r.Context(), u.ID)
	if err != nil {
		return "", nil, fmt.Errorf("list the identities of user %d: %w", u.ID, err)
	}
	var out []linkedIdentity
	for _, l := range links {
		out = append(out, linkedIdentity{Source: names[l.SourceID], Subject: l.Subject, Linked: l.CreatedAt})
	}
	return own, out, nil
}
