package identity

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/store"
)

// NewSource is a source an administrator adds.
type NewSource struct {
	Name        string
	DisplayName string
	Kind        store.SourceKind
	Settings    Settings
	Secret      string // the bind password or client secret; "" for none
	Enabled     bool
}

// Validator checks the kind's own settings (LDAP or OIDC) of a source;
// set by the node (package ldapdir and upstream know their settings).
type Validator func(kind store.SourceKind, s Settings) error

// InvalidError is a source an administrator described wrongly: its
// message is fit to show on the form or the command line.
type InvalidError struct{ Message string }

func (e *InvalidError) Error() string { return e.Message }

// invalid makes err an *InvalidError (nil stays nil).
func invalid(err error) error {
	if err == nil {
		return nil
	}
	return &InvalidError{Message: err.Error()}
}

// validate checks what an administrator gives for a source of kind: the
// display name, the shared settings and the kind's own.
func (s *Service) validate(kind store.SourceKind, displayName string, settings Settings) error {
	if len(displayName) > 64 {
		return errors.New("the display name must be at most 64 characters")
	}
	if err := settings.Validate(); err != nil {
		return err
	}
	if check := s.cfg.Check; check != nil {
		return check(kind, settings)
	}
	return nil
}

// Add stores a new source, last in the order. A wrong description is an
// *InvalidError, a taken name too.
func (s *Service) Add(ctx context.Context, ns NewSource) (store.IdentitySource, error) {
	if err := CheckName(ns.Name); err != nil {
		return store.IdentitySource{}, invalid(err)
	}
	if ns.Kind != store.SourceLDAP && ns.Kind != store.SourceOIDC {
		return store.IdentitySource{}, invalid(fmt.Errorf("unknown kind of source %q: use ldap or oidc", ns.Kind))
	}
	if ns.DisplayName == "" {
		ns.DisplayName = ns.Name
	}
	if err := s.validate(ns.Kind, ns.DisplayName, ns.Settings); err != nil {
		return store.IdentitySource{}, invalid(err)
	}
	sealed, err := s.seal(ns.Name, ns.Secret)
	if err != nil {
		return store.IdentitySource{}, err
	}
	all, err := s.cfg.Store.ListIdentitySources(ctx)
	if err != nil {
		return store.IdentitySource{}, fmt.Errorf("list identity sources: %w", err)
	}
	pos := 0
	for _, src := range all {
		pos = max(pos, src.Position+1)
	}
	now := s.cfg.Now()
	src, err := s.cfg.Store.CreateIdentitySource(ctx, store.IdentitySource{
		Name: ns.Name, DisplayName: ns.DisplayName, Kind: ns.Kind, Enabled: ns.Enabled, Position: pos,
		Config: ns.Settings.Encode(), Secret: sealed, CreatedAt: now, UpdatedAt: now,
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.IdentitySource{}, &InvalidError{Message: fmt.Sprintf("a source named %q exists already", ns.Name)}
	}
	return src, err
}

// Get returns a source by name, with a message fit to show when none.
func (s *Service) Get(ctx context.Context, name string) (store.IdentitySource, error) {
	src, err := s.cfg.Store.GetIdentitySourceByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.IdentitySource{}, fmt.Errorf("no identity source is named %q", name)
	}
	return src, err
}

// List returns every source in order.
func (s *Service) List(ctx context.Context) ([]store.IdentitySource, error) {
	return s.cfg.Store.ListIdentitySources(ctx)
}

// Update changes a source's settings (and its secret when newSecret is
// not nil; "" removes it). A wrong description is an *InvalidError.
func (s *Service) Update(ctx context.Context, name, displayName string, settings Settings, newSecret *string) (store.IdentitySource, error) {
	src, err := s.Get(ctx, name)
	if err != nil {
		return store.IdentitySource{}, err
	}
	if err := s.validate(src.Kind, displayName, settings); err != nil {
		return store.IdentitySource{}, invalid(err)
	}
	if newSecret == nil && len(src.Secret) > 0 && target(src) != targetOf(src.Kind, settings) {
		// The stored secret goes only where it went before: whoever points
		// a source elsewhere types its secret again.
		return store.IdentitySource{}, ErrSecretForNewTarget
	}
	var sealed []byte
	if newSecret != nil {
		if sealed, err = s.seal(src.Name, *newSecret); err != nil {
			return store.IdentitySource{}, err
		}
	}
	return s.cfg.Store.UpdateIdentitySource(ctx, src.ID, func(x store.IdentitySource) (store.IdentitySource, error) {
		if displayName != "" {
			x.DisplayName = displayName
		}
		x.Config, x.UpdatedAt = settings.Encode(), s.cfg.Now()
		if newSecret != nil {
			x.Secret = sealed
		}
		return x, nil
	})
}

// ErrSecretForNewTarget refuses to send a stored secret to a new address.
var ErrSecretForNewTarget error = &InvalidError{Message: "the directory URL or issuer changed: type the secret again, " +
	"so that the stored one is never sent to a new address"}

// target is where a source's secret goes: the directory's URL or the
// provider's issuer.
func target(src store.IdentitySource) string {
	settings, err := DecodeSettings(src)
	if err != nil {
		return ""
	}
	return targetOf(src.Kind, settings)
}

func targetOf(kind store.SourceKind, s Settings) string {
	switch kind {
	case store.SourceLDAP:
		if c, err := LDAPConfig(s); err == nil {
			return strings.ToLower(strings.TrimRight(c.URL, "/"))
		}
	case store.SourceOIDC:
		if u, err := OIDCSettings(s); err == nil {
			return strings.TrimRight(u.Issuer, "/")
		}
	}
	return ""
}

// Disabled is what disabling a source ended.
type Disabled struct {
	Sessions int // browser sessions
	Families int // grants to applications of the source's users
}

// SetEnabled turns a source on or off. Turning it off ends, at once,
// every session that went through it and every session and grant of
// its users (their access and refresh tokens stop working), and tells
// their applications (back-channel logout); they cannot sign in until
// it is turned on again. Accounts of other sources that merely linked
// an identity of it keep their grants.
func (s *Service) SetEnabled(ctx context.Context, name string, enabled bool) (Disabled, error) {
	src, err := s.Get(ctx, name)
	if err != nil {
		return Disabled{}, err
	}
	if _, err := s.cfg.Store.UpdateIdentitySource(ctx, src.ID, func(x store.IdentitySource) (store.IdentitySource, error) {
		x.Enabled, x.UpdatedAt = enabled, s.cfg.Now()
		return x, nil
	}); err != nil {
		return Disabled{}, fmt.Errorf("change source %q: %w", name, err)
	}
	if enabled {
		return Disabled{}, nil
	}
	return s.endSource(ctx, src)
}

// endSource ends the sessions and grants a disabled source leaves.
func (s *Service) endSource(ctx context.Context, src store.IdentitySource) (Disabled, error) {
	var out Disabled
	var err error
	// Back-channel logout needs the sessions' sids, which go with them:
	// queue it first.
	if err := s.eachUser(ctx, src.ID, func(u store.User) error { return s.ended(ctx, u.ID) }); err != nil {
		return out, err
	}
	if out.Sessions, err = s.cfg.Store.DeleteSourceSessions(ctx, src.ID); err != nil {
		return out, fmt.Errorf("end the sessions of source %q: %w", src.Name, err)
	}
	now := s.cfg.Now()
	err = s.eachUser(ctx, src.ID, func(u store.User) error {
		n, err := s.cfg.Store.RevokeUserFamilies(ctx, u.ID, now)
		out.Families += n
		return err
	})
	if err != nil {
		return out, fmt.Errorf("revoke the grants of source %q: %w", src.Name, err)
	}
	return out, nil
}

// ended tells the logout hook that a user's sessions end.
func (s *Service) ended(ctx context.Context, userID int64) error {
	if s.cfg.Ended == nil {
		return nil
	}
	if err := s.cfg.Ended(ctx, userID); err != nil {
		s.cfg.Log.Error("queue back-channel logout", "user", userID, "error", err)
	}
	return nil
}

// eachUser calls fn for every user of a source, a page at a time.
func (s *Service) eachUser(ctx context.Context, sourceID int64, fn func(store.User) error) error {
	list := func(ctx context.Context, p store.Page) ([]store.User, store.Cursor, error) {
		return s.cfg.Store.ListSourceUsers(ctx, sourceID, p)
	}
	for u, err := range store.Walk(ctx, list, 100) {
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

// Move puts a source at a position in the order (0 first); the others
// keep their order around it.
func (s *Service) Move(ctx context.Context, name string, position int) error {
	src, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	all, err := s.cfg.Store.ListIdentitySources(ctx)
	if err != nil {
		return err
	}
	order := make([]store.IdentitySource, 0, len(all))
	for _, x := range all {
		if x.ID != src.ID {
			order = append(order, x)
		}
	}
	position = min(max(position, 0), len(order))
	order = append(order[:position], append([]store.IdentitySource{src}, order[position:]...)...)
	for i, x := range order {
		if x.Position == i {
			continue
		}
		if _, err := s.cfg.Store.UpdateIdentitySource(ctx, x.ID, func(y store.IdentitySource) (store.IdentitySource, error) {
			y.Position = i
			return y, nil
		}); err != nil {
			return fmt.Errorf("move source %q: %w", x.Name, err)
		}
	}
	return nil
}

// Delete deletes a source that no account belongs to (links to it and
// the permissions it granted go with it).
func (s *Service) Delete(ctx context.Context, name string) error {
	src, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	users, _, err := s.cfg.Store.ListSourceUsers(ctx, src.ID, store.Page{Limit: 1})
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return ErrSourceInUse
	}
	// Sessions and pending sign-ins that went through it (linked
	// accounts of other sources) end with it.
	if _, err := s.endSource(ctx, src); err != nil {
		return err
	}
	err = s.cfg.Store.DeleteIdentitySource(ctx, src.ID)
	if errors.Is(err, store.ErrInUse) {
		return ErrSourceInUse
	}
	return err
}

// ErrSourceInUse refuses to delete a source that accounts belong to.
var ErrSourceInUse = errors.New("accounts belong to this source: disable it instead, or delete those accounts first")

// SyncReport is what a directory sync did.
type SyncReport struct {
	Checked  int // accounts looked up
	Disabled int // accounts disabled because the directory no longer has them
}

// Sync synchronises the accounts of an LDAP source with the directory:
// each account's person is looked up; one the directory no longer has is
// disabled (its sessions end, its tokens stop working at once, as for any
// disabled account); the others get their name, address and group
// permissions anew. A directory that does not answer stops the sync
// before it disables anyone. The outcome is kept on the source.
func (s *Service) Sync(ctx context.Context, name string) (SyncReport, error) {
	src, err := s.Get(ctx, name)
	if err != nil {
		return SyncReport{}, err
	}
	rep, err := s.sync(ctx, src)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if _, uerr := s.cfg.Store.UpdateIdentitySource(ctx, src.ID, func(x store.IdentitySource) (store.IdentitySource, error) {
		x.SyncedAt, x.SyncError = s.cfg.Now(), msg
		return x, nil
	}); uerr != nil {
		return rep, errors.Join(err, uerr)
	}
	return rep, err
}

func (s *Service) sync(ctx context.Context, src store.IdentitySource) (SyncReport, error) {
	var rep SyncReport
	if src.Kind != store.SourceLDAP {
		return rep, fmt.Errorf("source %q is no directory: only LDAP sources are synchronised", src.Name)
	}
	if !src.Enabled {
		return rep, fmt.Errorf("source %q is disabled", src.Name)
	}
	d, settings, err := s.directory(src)
	if err != nil {
		return rep, err
	}
	err = s.eachUser(ctx, src.ID, func(u store.User) error {
		if u.Disabled {
			return nil
		}
		subject, err := s.subjectOf(ctx, src.ID, u)
		if err != nil {
			return err
		}
		rep.Checked++
		person, err := d.Lookup(ctx, subject)
		switch {
		case errors.Is(err, ErrNoSuchPerson):
			if err := s.ended(ctx, u.ID); err != nil {
				return err
			}
			if _, err := admin.SetUserDisabled(ctx, s.cfg.Store, u.ID, true); err != nil {
				return err
			}
			rep.Disabled++
			s.cfg.Log.Info("user left the directory: disabled", "source", src.Name, "user", u.Username)
			return nil
		case err != nil:
			return &UnavailableError{Source: src.DisplayName, Err: err}
		}
		_, err = s.apply(ctx, src, settings, u, person)
		return err
	})
	return rep, err
}

// subjectOf is the subject of a user's identity in a source (their user
// name when no link is stored).
func (s *Service) subjectOf(ctx context.Context, sourceID int64, u store.User) (string, error) {
	links, err := s.cfg.Store.ListUserIdentities(ctx, u.ID)
	if err != nil {
		return "", fmt.Errorf("load the identities of user %d: %w", u.ID, err)
	}
	for _, l := range links {
		if l.SourceID == sourceID {
			return l.Subject, nil
		}
	}
	return u.Username, nil
}

// DefaultSyncCheck is how often RunSync looks for a sync that is due.
const DefaultSyncCheck = time.Minute

// RunSync synchronises each enabled directory with a SyncInterval every
// interval until ctx ends. On many nodes, each due sync runs on one node
// only: the nodes race for a single-use marker of the source and the
// interval's slot (store.UseOnce), and only the winner syncs.
func (s *Service) RunSync(ctx context.Context, check time.Duration) {
	if check <= 0 {
		check = DefaultSyncCheck
	}
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		s.syncDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// syncDue runs the syncs that are due now.
func (s *Service) syncDue(ctx context.Context) {
	dirs, err := s.Enabled(ctx, store.SourceLDAP)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Log.Warn("directory sync: list sources", "error", err)
		}
		return
	}
	now := s.cfg.Now()
	for _, src := range dirs {
		settings, err := DecodeSettings(src)
		if err != nil || settings.SyncInterval <= 0 {
			continue
		}
		every := time.Duration(settings.SyncInterval)
		if !src.SyncedAt.IsZero() && now.Sub(src.SyncedAt) < every {
			continue
		}
		slot := now.UnixMilli() / every.Milliseconds()
		key := "identity-sync:" + strconv.FormatInt(src.ID, 10) + ":" + strconv.FormatInt(slot, 10)
		if err := s.cfg.Store.UseOnce(ctx, key, now.Add(2*every)); err != nil {
			continue // another node has it (or the database is away: next time)
		}
		rep, err := s.Sync(ctx, src.Name)
		if err != nil {
			s.cfg.Log.Warn("directory sync failed", "source", src.Name, "error", err)
			continue
		}
		s.cfg.Log.Info("directory synchronised", "source", src.Name, "checked", rep.Checked, "disabled", rep.Disabled)
	}
}
