package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/upstream"
)

// Person is what a source says of someone who signed in through it.
type Person struct {
	// Subject is the key the source knows them by, for ever: a
	// directory's user name, an upstream's sub. Links are by Subject.
	Subject     string
	Username    string
	DisplayName string
	// Email is an address the source vouches for ("" if it gave none or
	// did not say it is verified).
	Email  string
	Groups []string
	// AMR and ACR are what an upstream said of the sign-in (amr, acr of
	// its ID token).
	AMR []string
	ACR string
}

// Directory is a directory a person signs in to with a password.
type Directory interface {
	// Authenticate checks the password and returns the person:
	// ErrWrongPassword if the directory has no such person or the
	// password is wrong; any other error means the directory could not
	// answer.
	Authenticate(ctx context.Context, username, password string) (Person, error)
	// Lookup returns the person of a subject: ErrNoSuchPerson if the
	// directory has none; any other error means it could not answer.
	Lookup(ctx context.Context, subject string) (Person, error)
}

// Errors of the sign-in; their messages are fit to show to the person.
var (
	ErrWrongPassword   = errors.New("the user name or password is not correct")
	ErrNoSuchPerson    = errors.New("the directory has no such person")
	ErrSourceDisabled  = errors.New("sign-in through this source is turned off")
	ErrAccountDisabled = errors.New("this account is disabled")
	// ErrNotLinked: the upstream identity is no Latchkey user's, and the
	// source does not create users.
	ErrNotLinked = errors.New("no Latchkey account is linked to this identity")
	// ErrEmailTaken: a new user would have the address of an existing
	// account. It is never linked silently: its owner may sign in and
	// link the identity from their account page.
	ErrEmailTaken = errors.New("an account with this email address exists already")
	// ErrUsernameTaken: the name the source gives is an existing
	// account's, which is never taken over.
	ErrUsernameTaken = errors.New("an account with this user name exists already")
	// ErrNoUsername: the source gave no usable user name.
	ErrNoUsername = errors.New("the identity provider gave no usable user name")
	// ErrLinkedElsewhere: the identity is linked to another account.
	ErrLinkedElsewhere = errors.New("this identity is linked to another account")
	// ErrAlreadyLinked: the account has an identity of this source already.
	ErrAlreadyLinked = errors.New("your account is linked to another identity of this provider already")
)

// UnavailableError means a directory or upstream could not answer: the
// person may try again later; an administrator reads Err in the log.
type UnavailableError struct {
	Source string // the source's display name
	Err    error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s could not be reached: %v", e.Source, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Config is what a Service needs.
type Config struct {
	Store store.Store
	// Sealer seals and opens the sources' secrets (purpose
	// "identity-source"); nil refuses every source with a secret.
	Sealer *secret.Sealer
	Now    func() time.Time
	Log    *slog.Logger
	// OpenDirectory returns the directory of an LDAP source, given its
	// settings and its opened secret.
	OpenDirectory func(src store.IdentitySource, s Settings, secret string) (Directory, error)
	// Check validates the kind's own settings of a source being added or
	// changed (nil checks only the shared settings).
	Check Validator
	// Ended is told of the users whose sessions ended (a source was
	// disabled, a user left the directory), for back-channel logout; may
	// be nil.
	Ended func(ctx context.Context, userID int64) error
}

// Service is the identity sources of a node. It is safe for concurrent use.
type Service struct {
	cfg      Config
	upstream *upstream.Client // nil until UseHTTP
	flows    *secret.Sealer   // seals browsers' upstream sign-in flows
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}
}

// Secret opens a source's secret ("" when it has none).
func (s *Service) Secret(src store.IdentitySource) (string, error) {
	if len(src.Secret) == 0 {
		return "", nil
	}
	if s.cfg.Sealer == nil {
		return "", errors.New("identity: no key-encryption key to open the source's secret")
	}
	b, err := s.cfg.Sealer.Open(src.Secret, []byte(src.Name))
	if err != nil {
		return "", fmt.Errorf("identity source %q: open its secret: %w", src.Name, err)
	}
	return string(b), nil
}

// seal seals a source's secret, bound to its name.
func (s *Service) seal(name, plain string) ([]byte, error) {
	if plain == "" {
		return nil, nil
	}
	if s.cfg.Sealer == nil {
		return nil, errors.New("identity: no key-encryption key to seal the source's secret")
	}
	return s.cfg.Sealer.Seal([]byte(plain), []byte(name))
}

// Enabled returns the enabled sources of a kind, in their order.
func (s *Service) Enabled(ctx context.Context, kind store.SourceKind) ([]store.IdentitySource, error) {
	all, err := s.cfg.Store.ListIdentitySources(ctx)
	if err != nil {
		return nil, fmt.Errorf("list identity sources: %w", err)
	}
	var out []store.IdentitySource
	for _, src := range all {
		if src.Enabled && src.Kind == kind {
			out = append(out, src)
		}
	}
	return out, nil
}

// directory opens an LDAP source's directory.
func (s *Service) directory(src store.IdentitySource) (Directory, Settings, error) {
	settings, err := DecodeSettings(src)
	if err != nil {
		return nil, Settings{}, err
	}
	if s.cfg.OpenDirectory == nil {
		return nil, Settings{}, errors.New("identity: no LDAP support on this node")
	}
	pw, err := s.Secret(src)
	if err != nil {
		return nil, Settings{}, err
	}
	d, err := s.cfg.OpenDirectory(src, settings, pw)
	return d, settings, err
}

// PasswordSignIn signs in a person whose account belongs to a directory,
// or who has no account yet and is in one. existing is the account the
// typed name belongs to (nil if none); the caller handles local accounts
// itself and calls this only for existing == nil or a non-local account.
//
// An existing account signs in against its own source only. A new name is
// tried against each enabled directory in order; the first that knows the
// person with that password creates their account. It returns the user
// and the source, ErrWrongPassword (no directory vouched for the name and
// password), ErrSourceDisabled, ErrAccountDisabled, or an
// *UnavailableError when a directory that might have vouched did not
// answer.
func (s *Service) PasswordSignIn(ctx context.Context, existing *store.User, username, password string) (store.User, store.IdentitySource, error) {
	if password == "" {
		return store.User{}, store.IdentitySource{}, ErrWrongPassword
	}
	if existing != nil {
		return s.existingSignIn(ctx, *existing, password)
	}
	dirs, err := s.Enabled(ctx, store.SourceLDAP)
	if err != nil {
		return store.User{}, store.IdentitySource{}, err
	}
	var down error
	for _, src := range dirs {
		d, settings, err := s.directory(src)
		if err != nil {
			s.cfg.Log.Error("identity source is misconfigured", "source", src.Name, "error", err)
			continue
		}
		person, err := d.Authenticate(ctx, username, password)
		switch {
		case errors.Is(err, ErrWrongPassword):
			continue
		case err != nil:
			s.cfg.Log.Warn("directory did not answer a sign-in", "source", src.Name, "error", err)
			down = &UnavailableError{Source: src.DisplayName, Err: err}
			continue
		}
		// The directory vouched for the person: the account is theirs
		// if the subject is linked already (a renamed account), else new.
		u, err := s.userOf(ctx, src, settings, person, true)
		if err != nil {
			return store.User{}, src, err
		}
		return u, src, nil
	}
	if down != nil {
		return store.User{}, store.IdentitySource{}, down
	}
	return store.User{}, store.IdentitySource{}, ErrWrongPassword
}

// existingSignIn checks the password of an account of a directory
// against that directory.
func (s *Service) existingSignIn(ctx context.Context, u store.User, password string) (store.User, store.IdentitySource, error) {
	src, err := s.cfg.Store.GetIdentitySource(ctx, u.SourceID)
	if err != nil {
		return store.User{}, store.IdentitySource{}, fmt.Errorf("load the source of user %d: %w", u.ID, err)
	}
	if src.Kind != store.SourceLDAP {
		secret.BurnPasswordCheck(password) // an upstream's user has no password here
		return store.User{}, src, ErrWrongPassword
	}
	if !src.Enabled {
		return store.User{}, src, ErrSourceDisabled
	}
	d, settings, err := s.directory(src)
	if err != nil {
		return store.User{}, src, err
	}
	subject, err := s.subjectOf(ctx, src.ID, u)
	if err != nil {
		return store.User{}, src, err
	}
	person, err := d.Authenticate(ctx, subject, password)
	switch {
	case errors.Is(err, ErrWrongPassword):
		return store.User{}, src, ErrWrongPassword
	case err != nil:
		s.cfg.Log.Warn("directory did not answer a sign-in", "source", src.Name, "error", err)
		return store.User{}, src, &UnavailableError{Source: src.DisplayName, Err: err}
	}
	if !strings.EqualFold(person.Subject, subject) {
		return store.User{}, src, ErrWrongPassword
	}
	if u.Disabled {
		return store.User{}, src, ErrAccountDisabled
	}
	u, err = s.apply(ctx, src, settings, u, person)
	return u, src, err
}

// ExternalSignIn finds the user an upstream's person is: the account
// linked to the subject, or, when the source creates users, a new one.
// It never links to an existing account by name or address: an address
// or name that is an existing account's is ErrEmailTaken or
// ErrUsernameTaken.
func (s *Service) ExternalSignIn(ctx context.Context, src store.IdentitySource, person Person) (store.User, error) {
	if !src.Enabled {
		return store.User{}, ErrSourceDisabled
	}
	settings, err := DecodeSettings(src)
	if err != nil {
		return store.User{}, err
	}
	return s.userOf(ctx, src, settings, person, settings.CreateUsers || src.Kind == store.SourceLDAP)
}

// userOf returns the account of a person a source vouched for, creating
// it when create allows, and brings it in step with the person.
func (s *Service) userOf(ctx context.Context, src store.IdentitySource, settings Settings, person Person, create bool) (store.User, error) {
	if person.Subject == "" {
		return store.User{}, errors.New("the identity provider gave no subject")
	}
	link, err := s.cfg.Store.GetLinkedIdentity(ctx, src.ID, person.Subject)
	switch {
	case err == nil:
		u, err := s.cfg.Store.GetUser(ctx, link.UserID)
		if err != nil {
			return store.User{}, fmt.Errorf("load linked user %d: %w", link.UserID, err)
		}
		if u.Disabled {
			return store.User{}, ErrAccountDisabled
		}
		return s.apply(ctx, src, settings, u, person)
	case !errors.Is(err, store.ErrNotFound):
		return store.User{}, fmt.Errorf("find linked identity: %w", err)
	}
	if !create {
		return store.User{}, ErrNotLinked
	}
	u, err := s.create(ctx, src, person)
	if err != nil {
		return store.User{}, err
	}
	return s.apply(ctx, src, settings, u, person)
}

// create makes the account of a person of src and links it.
func (s *Service) create(ctx context.Context, src store.IdentitySource, person Person) (store.User, error) {
	name := person.Username
	if local, _, ok := strings.Cut(name, "@"); ok {
		// A provider that names people by address (Google's email, Entra
		// ID's user principal name): the part before the '@'.
		name = local
	}
	if admin.CheckUsername(name) != nil {
		return store.User{}, ErrNoUsername
	}
	if _, err := s.cfg.Store.GetUserByUsername(ctx, name); err == nil {
		return store.User{}, ErrUsernameTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("look up user name: %w", err)
	}
	if person.Email != "" {
		if _, err := s.cfg.Store.GetUserByEmail(ctx, person.Email); err == nil {
			return store.User{}, ErrEmailTaken
		} else if !errors.Is(err, store.ErrNotFound) {
			return store.User{}, fmt.Errorf("look up address: %w", err)
		}
	}
	display := person.DisplayName
	if display == "" {
		display = name
	}
	now := s.cfg.Now()
	u, err := s.cfg.Store.CreateUser(ctx, store.User{
		Username: name, Email: person.Email, EmailVerified: person.Email != "", DisplayName: display,
		SourceID: src.ID, CreatedAt: now,
	})
	switch {
	case errors.Is(err, store.ErrEmailTaken):
		return store.User{}, ErrEmailTaken
	case errors.Is(err, store.ErrAlreadyExists):
		return store.User{}, ErrUsernameTaken
	case err != nil:
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	if err := s.cfg.Store.LinkIdentity(ctx, store.ExternalIdentity{SourceID: src.ID, Subject: person.Subject,
		UserID: u.ID, CreatedAt: now}); err != nil {
		_ = s.cfg.Store.DeleteUser(ctx, u.ID) // a concurrent first sign-in linked it: theirs stands
		if errors.Is(err, store.ErrAlreadyExists) {
			return store.User{}, ErrLinkedElsewhere
		}
		return store.User{}, fmt.Errorf("link identity: %w", err)
	}
	s.cfg.Log.Info("user created from an identity source", "source", src.Name, "user", u.Username)
	return u, nil
}

// apply brings the account in step with what the source says: for an
// account that belongs to the source, its display name and (verified)
// address; for any account that signed in through it, the permissions
// the source's group mappings grant.
func (s *Service) apply(ctx context.Context, src store.IdentitySource, settings Settings, u store.User, person Person) (store.User, error) {
	if u.SourceID == src.ID {
		email := person.Email
		if email != "" && !strings.EqualFold(email, u.Email) {
			if other, err := s.cfg.Store.GetUserByEmail(ctx, email); err == nil && other.ID != u.ID {
				s.cfg.Log.Warn("identity source gives an address another account has; kept the old one",
					"source", src.Name, "user", u.Username)
				email = u.Email
			}
		}
		display := person.DisplayName
		if display == "" {
			display = u.DisplayName
		}
		if display != u.DisplayName || email != u.Email {
			updated, err := s.cfg.Store.UpdateUser(ctx, u.ID, func(x store.User) (store.User, error) {
				x.DisplayName = display
				if email != x.Email {
					x.Email, x.EmailVerified = email, email != ""
				}
				return x, nil
			})
			if err != nil && !errors.Is(err, store.ErrEmailTaken) {
				return store.User{}, fmt.Errorf("update user %d from its source: %w", u.ID, err)
			}
			if err == nil {
				u = updated
			}
		}
	}
	if err := s.syncPermissions(ctx, src, settings, u.ID, person.Groups); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// syncPermissions grants the permissions the groups map to and takes
// away those the source granted before that no group grants now. Of
// several mappings to the same target, the strongest permission wins. A
// mapping whose project or repository does not exist is skipped.
func (s *Service) syncPermissions(ctx context.Context, src store.IdentitySource, settings Settings, userID int64, groups []string) error {
	type key struct {
		kind store.TargetKind
		id   int64
	}
	best := map[key]string{}
	for _, m := range settings.Mappings {
		if !m.matches(groups) {
			continue
		}
		kind, id, err := s.resolve(ctx, m)
		if err != nil {
			s.cfg.Log.Warn("group mapping names a missing target", "source", src.Name, "mapping", m.String(), "error", err)
			continue
		}
		k := key{kind, id}
		if have, ok := best[k]; !ok || scope.Outranks(m.Permission, have) {
			best[k] = m.Permission
		}
	}
	want := make([]store.Permission, 0, len(best))
	for k, name := range best {
		want = append(want, store.Permission{Target: k.kind, TargetID: k.id, Name: name})
	}
	if _, err := s.cfg.Store.SyncSourcePermissions(ctx, userID, src.ID, want); err != nil {
		return fmt.Errorf("sync the permissions of user %d: %w", userID, err)
	}
	return nil
}

// resolve finds a mapping's target.
func (s *Service) resolve(ctx context.Context, m Mapping) (store.TargetKind, int64, error) {
	switch m.Target() {
	case store.TargetRepo:
		r, err := s.cfg.Store.GetRepo(ctx, m.Project, m.Repo)
		return store.TargetRepo, r.ID, err
	case store.TargetProject:
		p, err := s.cfg.Store.GetProjectByKey(ctx, m.Project)
		return store.TargetProject, p.ID, err
	}
	return store.TargetGlobal, 0, nil
}

// Link links an upstream identity to an account whose owner asked for it
// while signed in. ErrLinkedElsewhere if the identity is another
// account's, ErrAlreadyLinked if the account has one of this source; a
// link that exists already is no error.
func (s *Service) Link(ctx context.Context, src store.IdentitySource, u store.User, person Person) error {
	if !src.Enabled {
		return ErrSourceDisabled
	}
	if person.Subject == "" {
		return errors.New("the identity provider gave no subject")
	}
	link, err := s.cfg.Store.GetLinkedIdentity(ctx, src.ID, person.Subject)
	switch {
	case err == nil && link.UserID == u.ID:
		return nil
	case err == nil:
		return ErrLinkedElsewhere
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("find linked identity: %w", err)
	}
	err = s.cfg.Store.LinkIdentity(ctx, store.ExternalIdentity{SourceID: src.ID, Subject: person.Subject,
		UserID: u.ID, CreatedAt: s.cfg.Now()})
	if errors.Is(err, store.ErrAlreadyExists) {
		if _, again := s.cfg.Store.GetLinkedIdentity(ctx, src.ID, person.Subject); again == nil {
			return ErrLinkedElsewhere
		}
		return ErrAlreadyLinked
	}
	if err != nil {
		return fmt.Errorf("link identity: %w", err)
	}
	return nil
}

// MultiFactor reports whether an upstream's sign-in counts as a second
// factor under the source's settings: only when the source trusts the
// upstream's word, and the ID token says so by amr ("mfa", or methods of
// two kinds) or by an acr the source names.
func MultiFactor(settings Settings, person Person) bool {
	if !settings.TrustUpstreamMFA {
		return false
	}
	for _, v := range settings.MFAACRValues {
		if person.ACR != "" && person.ACR == v {
			return true
		}
	}
	kinds := map[string]bool{}
	for _, m := range person.AMR {
		switch m {
		case "mfa":
			return true
		case "pwd", "pin", "kba":
			kinds["know"] = true
		case "otp", "sms", "tel", "hwk", "swk", "sc", "wia":
			kinds["have"] = true
		case "fpt", "face", "iris", "retina", "vbm", "geo":
			kinds["are"] = true
		}
	}
	return len(kinds) >= 2
}
