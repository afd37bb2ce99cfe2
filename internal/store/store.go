// Package store defines the storage contract of Latchkey: plain value types,
// sentinel errors and the Store interface that every backend implements.
//
// Storage knows nothing about OAuth rules. It stores hashes, never the
// secrets themselves, and offers the few atomic operations that the protocol
// core needs (redeeming a code exactly once, rotating a refresh token exactly
// once). The conformance suite in package storetest states every rule below
// as a test and runs against each backend.
package store

import (
	"context"
	"errors"
	"time"

	"latchkey/internal/audit"
)

// Sentinel errors. Backends wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound means the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a unique key (user name, project key, ...) is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrCodeReused means an authorization code was presented after it had
	// already been redeemed. The store has revoked the family it issued.
	ErrCodeReused = errors.New("authorization code already used")
	// ErrTokenReused means a refresh token was presented after it had been
	// rotated. The store has revoked the whole family.
	ErrTokenReused = errors.New("refresh token already rotated")
	// ErrInvalidText means a value to store holds a NUL byte or is not
	// valid UTF-8, which the database cannot keep. It is the caller's input
	// that is wrong, not the server. (Lookups by such a value are simply
	// ErrNotFound: nothing stored can match it.)
	ErrInvalidText = errors.New("text with a NUL byte or invalid UTF-8")
	// ErrRevoked means the token family was revoked.
	ErrRevoked = errors.New("token family revoked")
	// ErrUnavailable means the database could not be reached or did not
	// answer in time (connection refused or lost, timeout). Nothing was
	// changed that the caller could observe as half-written: a failed
	// transaction rolls back. Callers answer 503 and may retry later.
	ErrUnavailable = errors.New("database unavailable")
)

// User is a person (or, later, a client's service identity) who can log in and own tokens.
type User struct {
	ID           int64
	Username     string // unique, compared case-insensitively
	Email        string
	DisplayName  string
	PasswordHash string // PHC-formatted argon2id hash; empty means no password login
	Disabled     bool
	CreatedAt    time.Time
}

// Project groups repositories. Key is unique, stored upper-case.
type Project struct {
	ID          int64
	Key         string
	Name        string
	Description string
	Public      bool
	CreatedAt   time.Time
}

// Repo is a repository inside a project. Slug is unique within its project.
type Repo struct {
	ID         int64
	ProjectID  int64
	ProjectKey string // filled on reads
	Slug       string
	Name       string
	Public     bool
	CreatedAt  time.Time
}

// TargetKind says what a permission applies to.
type TargetKind string

// Permission targets.
const (
	TargetGlobal  TargetKind = "global"
	TargetProject TargetKind = "project"
	TargetRepo    TargetKind = "repo"
)

// Permission gives a user one named permission on a target. A user holds at
// most one permission per target: setting a new one replaces the old one.
// Name is a Bitbucket permission name (LICENSED_USER, PROJECT_CREATE, ADMIN,
// SYS_ADMIN, PROJECT_READ, PROJECT_WRITE, PROJECT_ADMIN, REPO_READ,
// REPO_WRITE, REPO_ADMIN); the store does not interpret it.
type Permission struct {
	UserID   int64
	Target   TargetKind
	TargetID int64 // project or repo ID; 0 for global
	Name     string
}

// Client is a registered OAuth application.
type Client struct {
	ID            string
	Name          string
	SecretHash    string // hex SHA-256 of the secret; empty for public clients
	Public        bool
	RedirectURIs  []string
	Scopes        []string // every scope the client may ever ask for
	DefaultScopes []string // what a request without scope gets
	GrantTypes    []string
	PKCERequired  bool
	OwnerUserID   int64 // 0 when registered by an administrator on the command line
	Suspended     bool
	CreatedAt     time.Time
}

// Consent records the scopes a user approved for a client.
type Consent struct {
	UserID    int64
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// Session is a browser login. ID is the hex SHA-256 of the cookie value.
type Session struct {
	ID        string
	UserID    int64
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuthCode is an issued authorization code. Hash is the hex SHA-256 of the code.
type AuthCode struct {
	Hash            string
	ClientID        string
	UserID          int64
	RedirectURI     string // the redirect URI the code was sent to
	RedirectURISent bool   // whether the authorization request named redirect_uri
	Scopes          []string
	CodeChallenge   string
	ChallengeMethod string // "S256" or "plain"; empty when no PKCE
	Nonce           string
	AuthTime        time.Time
	CreatedAt       time.Time
	ExpiresAt       time.Time
	UsedAt          time.Time // zero until redeemed
	FamilyID        int64     // family issued from this code; 0 until redeemed
}

// TokenKind distinguishes access from refresh tokens.
type TokenKind string

// Token kinds.
const (
	AccessToken  TokenKind = "access"
	RefreshToken TokenKind = "refresh"
)

// TokenFamily is one authorization grant: every access and refresh token
// that descends from one code by rotation. Generation counts rotations; only
// tokens of the current generation are live.
type TokenFamily struct {
	ID         int64
	ClientID   string
	UserID     int64
	Scopes     []string // scopes originally granted
	Generation int64
	AuthTime   time.Time
	Nonce      string
	CreatedAt  time.Time
	RevokedAt  time.Time // zero while live
	// LastUsedAt is when a token of the family last passed the bearer
	// check, as TouchFamily recorded it; zero if never. The bearer check
	// records it at most about once a minute, so it may lag by that much.
	LastUsedAt time.Time
}

// Revoked reports whether the family has been revoked.
func (f TokenFamily) Revoked() bool { return !f.RevokedAt.IsZero() }

// UserFamily is a live token family of a user with the name of its
// client, for the user's list of the applications they authorized.
type UserFamily struct {
	Family     TokenFamily
	ClientName string
}

// AuditEvent is one entry of the audit trail of security events (logins,
// consents, revocations, client and account changes). It names users and
// clients as they were, so it stays readable after they are deleted.
type AuditEvent struct {
	ID       int64
	At       time.Time
	Event    audit.Event // dotted name, e.g. "login.failed", "client.suspended"
	UserID   int64       // who acted; 0 when unknown (a failed login with a name that is no account)
	Username string      // their user name then; never text a person typed that names no account
	ClientID string      // the application concerned, if any
	Remote   string      // the client address the request came from
	Detail   string      // what else the event needs to be understood
}

// Token is an access or refresh token. Hash is the hex SHA-256 of the token.
type Token struct {
	Hash       string
	Kind       TokenKind
	FamilyID   int64
	Generation int64
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// Issue is what a grant asks the store to write: a family (new, or the one
// being rotated) and the tokens of its next generation. The store assigns
// Family.ID, Family.Generation and each token's FamilyID and Generation.
type Issue struct {
	Family TokenFamily
	Tokens []Token
}

// SigningKey is a key that signs ID tokens. PrivateKey is sealed
// (encrypted) by the caller; the store never sees it in the clear.
type SigningKey struct {
	ID         string // the JWK "kid"
	Algorithm  string // RS256, ES256 or EdDSA
	PrivateKey []byte // sealed PKCS#8
	PublicKey  []byte // public JWK as JSON
	CreatedAt  time.Time
	ActivateAt time.Time // signs from this moment on
	RetireAt   time.Time // zero until a rotation schedules its retirement
}

// DeviceStatus is the state of a device authorization (RFC 8628).
type DeviceStatus string

// Device authorization states.
const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproved DeviceStatus = "approved"
	DeviceDenied   DeviceStatus = "denied"
	DeviceConsumed DeviceStatus = "consumed" // tokens were issued
)

// DeviceCode is a device authorization request. Hash is the hex SHA-256
// of the device code; UserCode is what the person types, normalized
// (upper-case, no separator), unique among stored codes.
type DeviceCode struct {
	Hash         string
	UserCode     string
	ClientID     string
	Scopes       []string
	Status       DeviceStatus
	UserID       int64 // who approved or denied; 0 while pending
	AuthTime     time.Time
	Interval     time.Duration // minimum time between polls
	LastPolledAt time.Time
	CreatedAt    time.Time
	ExpiresAt    time.Time
	FamilyID     int64 // family issued when consumed
}

// Bearer is what the bearer check reads about a presented token.
type Bearer struct {
	Token           Token
	Family          TokenFamily
	User            User
	ClientSuspended bool
}

// Store is the storage contract. All methods are safe for concurrent use by
// many goroutines and by many processes sharing one database.
//
// Atomicity: RedeemAuthCode and RotateRefreshToken each run in one
// transaction that also serializes against every other call touching the same
// code or family, so that of N concurrent calls with one code or one refresh
// token exactly one succeeds. DeleteExpired runs a few statements, each
// atomic on its own. Every other method is a single atomic statement or
// transaction.
//
// Any method may fail with ErrUnavailable (wrapped) when the database cannot
// be reached.
type Store interface {
	// CreateUser inserts u and returns it with ID and CreatedAt set.
	// ErrAlreadyExists if the user name is taken (case-insensitively).
	CreateUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, id int64) (User, error)
	// GetUserByUsername looks the name up case-insensitively.
	GetUserByUsername(ctx context.Context, username string) (User, error)
	CountUsers(ctx context.Context) (int, error)
	// UpdateUser applies fn to the current row inside a transaction and stores the result.
	UpdateUser(ctx context.Context, id int64, fn func(User) (User, error)) (User, error)
	// ListUsers returns every user ordered by lower-cased user name.
	ListUsers(ctx context.Context) ([]User, error)
	// DeleteUser removes the user with everything that is theirs: permissions,
	// sessions, consents, authorization codes and token families with their
	// tokens. ErrNotFound if there is no such user.
	DeleteUser(ctx context.Context, id int64) error

	// CreateProject inserts p (Key upper-cased). ErrAlreadyExists on a taken key.
	CreateProject(ctx context.Context, p Project) (Project, error)
	// GetProjectByKey looks the key up case-insensitively.
	GetProjectByKey(ctx context.Context, key string) (Project, error)
	// ListProjects returns every project ordered by key.
	ListProjects(ctx context.Context) ([]Project, error)
	// CreateRepo inserts r. ErrNotFound if the project does not exist,
	// ErrAlreadyExists if the slug is taken in that project.
	CreateRepo(ctx context.Context, r Repo) (Repo, error)
	// GetRepo finds a repository by project key and slug (both case-insensitive).
	GetRepo(ctx context.Context, projectKey, slug string) (Repo, error)
	// ListRepos returns the repositories of one project ordered by slug.
	ListRepos(ctx context.Context, projectID int64) ([]Repo, error)
	// UpdateProject applies fn to the current row inside a transaction and
	// stores the result with its Key upper-cased; fn cannot change ID or
	// CreatedAt. ErrNotFound if there is no such project, ErrAlreadyExists if
	// the new key is taken (nothing is written then).
	UpdateProject(ctx context.Context, id int64, fn func(Project) (Project, error)) (Project, error)
	// DeleteProject removes the project, its repositories and every
	// permission on any of them. ErrNotFound if there is no such project.
	DeleteProject(ctx context.Context, id int64) error
	// ListAllRepos returns every repository ordered by project key, then slug.
	ListAllRepos(ctx context.Context) ([]Repo, error)
	// UpdateRepo applies fn to the current row inside a transaction and
	// stores the result; fn cannot change ID, ProjectID, ProjectKey or
	// CreatedAt. ErrNotFound if there is no such repository,
	// ErrAlreadyExists if the new slug is taken in its project.
	UpdateRepo(ctx context.Context, id int64, fn func(Repo) (Repo, error)) (Repo, error)
	// DeleteRepo removes the repository and every permission on it.
	// ErrNotFound if there is no such repository.
	DeleteRepo(ctx context.Context, id int64) error

	// SetPermission inserts or replaces the user's permission on the target.
	SetPermission(ctx context.Context, p Permission) error
	// DeletePermission removes the user's permission on the target; ErrNotFound if none.
	DeletePermission(ctx context.Context, userID int64, target TargetKind, targetID int64) error
	// ListPermissions returns every permission the user holds.
	ListPermissions(ctx context.Context, userID int64) ([]Permission, error)
	// ListTargetPermissions returns every permission held on one target
	// (by any user), ordered by user ID.
	ListTargetPermissions(ctx context.Context, target TargetKind, targetID int64) ([]Permission, error)

	// CreateClient inserts c (ID chosen by the caller). ErrAlreadyExists on a taken ID.
	CreateClient(ctx context.Context, c Client) (Client, error)
	GetClient(ctx context.Context, id string) (Client, error)
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error)) (Client, error)
	// ListClients returns every client ordered by creation.
	ListClients(ctx context.Context) ([]Client, error)
	// DeleteClient removes the client with its codes, consents and token families.
	DeleteClient(ctx context.Context, id string) error
	// ListClientsByOwner returns the clients registered by one user,
	// ordered by creation.
	ListClientsByOwner(ctx context.Context, ownerUserID int64) ([]Client, error)
	// RevokeClientFamilies revokes every live token family of the client
	// (all users) in one statement and returns how many it revoked.
	RevokeClientFamilies(ctx context.Context, clientID string, now time.Time) (int, error)

	// GetConsent returns the user's consent for the client, or ErrNotFound.
	GetConsent(ctx context.Context, userID int64, clientID string) (Consent, error)
	// SaveConsent inserts or replaces the user's consent for the client.
	SaveConsent(ctx context.Context, c Consent) error
	// ListConsentsByUser returns every consent the user gave, newest first.
	ListConsentsByUser(ctx context.Context, userID int64) ([]Consent, error)
	// RevokeUserClient ends the user's authorization of the client in one
	// transaction: it revokes every live token family of that user and
	// client and deletes the remembered consent, so that the application
	// must ask again. It returns how many families it revoked; revoking
	// what is already gone is not an error.
	RevokeUserClient(ctx context.Context, userID int64, clientID string, now time.Time) (int, error)

	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session with the given ID hash, expired or not.
	GetSession(ctx context.Context, id string) (Session, error)
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions deletes every session of the user except the one
	// whose ID is exceptID (none when empty) and returns how many it deleted.
	DeleteUserSessions(ctx context.Context, userID int64, exceptID string) (int, error)

	CreateAuthCode(ctx context.Context, c AuthCode) error
	// RedeemAuthCode marks the code used and, in the same transaction, writes
	// what issue returns. ErrNotFound for an unknown code. For a code already
	// used it revokes the family issued from it and returns ErrCodeReused
	// without calling issue. If issue returns an error the code stays used
	// (burned), nothing else is written, and that error is returned.
	RedeemAuthCode(ctx context.Context, hash string, now time.Time, issue func(AuthCode) (Issue, error)) (Issue, error)
	// RotateRefreshToken finds the refresh token, checks that its family is
	// live and that it belongs to the current generation, calls issue, then
	// advances the family's generation and inserts the new tokens; every
	// token of earlier generations stops being live at once. ErrNotFound for
	// an unknown token (or an access token), ErrRevoked if the family is
	// revoked, ErrTokenReused (after revoking the family) if the token was
	// already rotated. If issue returns an error nothing is written.
	RotateRefreshToken(ctx context.Context, hash string, now time.Time, issue func(TokenFamily, Token) (Issue, error)) (Issue, error)
	// CreateFamily writes a new family (generation 1) and its tokens without
	// an authorization code, for grants that have none (client credentials).
	CreateFamily(ctx context.Context, iss Issue) (Issue, error)
	// GetBearer returns, in one read, an access or refresh token with its
	// family, the family's user and whether the family's client is
	// suspended: everything the bearer check needs but the permissions.
	GetBearer(ctx context.Context, hash string) (Bearer, error)
	// GetToken returns a token of either kind with its family.
	GetToken(ctx context.Context, hash string) (Token, TokenFamily, error)
	// RevokeFamily revokes every token of the family. Revoking twice is not an error.
	RevokeFamily(ctx context.Context, familyID int64, now time.Time) error
	// TouchFamily records that a token of the family was used at t. It
	// never moves LastUsedAt backwards. ErrNotFound if there is no such family.
	TouchFamily(ctx context.Context, familyID int64, t time.Time) error
	// ListFamiliesByUser returns the user's live token families (not
	// revoked, with a token that expires after now) with their clients'
	// names, newest first.
	ListFamiliesByUser(ctx context.Context, userID int64, now time.Time) ([]UserFamily, error)

	// EnsureSecret stores candidate under name unless a value is already
	// stored, and returns the stored value. Every node thus agrees on one
	// value (cookie and CSRF keys).
	EnsureSecret(ctx context.Context, name string, candidate []byte) ([]byte, error)

	// CreateDeviceCode stores a new device authorization. ErrAlreadyExists
	// when the hash or the user code is taken (the caller draws another).
	CreateDeviceCode(ctx context.Context, d DeviceCode) error
	// GetDeviceCodeByUserCode finds a device authorization by its
	// normalized user code, whatever its state.
	GetDeviceCodeByUserCode(ctx context.Context, userCode string) (DeviceCode, error)
	// UpdateDeviceCode locks the device authorization with the given hash,
	// calls fn, and stores the row fn returns; if fn also returns an Issue,
	// its family and tokens are written in the same transaction (the family
	// takes ClientID and UserID from the returned row) and the row's
	// FamilyID is set. If fn returns an error nothing is written. Concurrent
	// calls for one hash are serialized, so one approval is consumed once.
	UpdateDeviceCode(ctx context.Context, hash string, fn func(DeviceCode) (DeviceCode, *Issue, error)) (DeviceCode, error)

	// CreateSigningKey stores a new signing key. ErrAlreadyExists on a taken ID.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns every stored signing key, oldest activation first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKey, in one transaction, schedules every key that has no
	// retirement time to retire at retireAt and stores next.
	RotateSigningKey(ctx context.Context, next SigningKey, retireAt time.Time) error
	// DeleteRetiredSigningKeys removes keys whose retirement time is before t.
	DeleteRetiredSigningKeys(ctx context.Context, before time.Time) error

	// DeleteExpired removes, in one bounded pass, rows that can no longer be
	// used: authorization codes, device codes, sessions and tokens that
	// expired before now, access tokens of past generations, and token
	// families with nothing live (revoked, or without a token that expires
	// at or after now), together with their tokens. Refresh
	// tokens of past generations are kept until they expire, so that their
	// reuse is still detected (and revokes the family) until then. A
	// family is never left without tokens while it is kept.
	//
	// At most batch rows of each kind are deleted per call; it returns how
	// many rows it deleted in all (tokens removed with their family are not
	// counted). Callers repeat while it returns more than zero. It is safe
	// when several processes call it at once: rows another caller is
	// deleting, or a transaction is changing, are skipped, not waited for.
	DeleteExpired(ctx context.Context, now time.Time, batch int) (int, error)

	// AppendAudit adds an event to the audit trail and returns it with ID
	// set (and At, when it was zero, set to now). IDs grow with every append.
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	// DeleteAuditBefore deletes up to batch of the oldest audit events
	// recorded before t and returns how many it deleted.
	DeleteAuditBefore(ctx context.Context, before time.Time, batch int) (int, error)
	// ListAudit returns up to limit events, newest (highest ID) first,
	// skipping the offset newest.
	ListAudit(ctx context.Context, limit, offset int) ([]AuditEvent, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}
