// Package store defines the storage contract of Latchkey: plain value types,
// sentinel errors, the paging shape of every list, and the Store interface
// that every backend implements. The conformance suite in package storetest
// states every rule written here as a test and runs it against each backend.
//
// Storage keeps rows; the protocol core (package oauth) decides. It stores
// hashes, never the secrets themselves. One piece of protocol knowledge
// lives here on purpose: atomic reuse detection. A code must be redeemed at
// most once, a refresh token rotated at most once, and a used code or a
// rotated refresh token that comes back must revoke the grant it issued
// (RFC 9700 §2.1.1, §4.14.2). Those checks are only sound in the same
// transaction that reads and changes the row, so RedeemAuthCode and
// RotateRefreshToken own them and report them as ErrCodeReused and
// ErrTokenReused. They own the client binding too, and check it first:
// only the client a code or refresh token was issued to can redeem it,
// burn it or set off reuse detection; any other client that presents it
// gets ErrWrongClient and changes nothing, so that whoever learns a used
// code or a rotated refresh token cannot revoke another client's grant
// with it. Every other rule (expiry, PKCE, scopes, whether the user is
// active) belongs to the caller, who checks it before the call or in the
// method's callback.
//
// # Callbacks
//
// UpdateUser, UpdateProject, UpdateRepo, UpdateClient, RedeemAuthCode,
// RotateRefreshToken, UpdateDeviceCode and UpdateThrottle call a function
// of the caller inside their transaction, with the rows as the transaction
// locked them. A
// backend may run that transaction again when it fails for a reason that
// another attempt may cure (a serialization failure or deadlock on
// PostgreSQL, a busy database on SQLite; package sqlstore does, a few
// times), so the function may be called more than once, and only the call
// of the attempt that commits counts. It must therefore have no effect but
// its return value: no I/O of any kind (no store method, no log, no
// network), nothing appended or counted. Read what it needs before the
// method and pass the values in; a value it assigns, on every call, to a
// variable of its caller that the caller reads after the method returned
// is its return value too.
//
// # Time
//
// The store never reads a clock. It keeps the times of the values it is
// given as they are (truncated to the millisecond; a zero time stays zero),
// and every time it writes of its own accord (a code's redemption, a
// revocation, a use, the creation of a family and its tokens when the
// caller left it zero, the bound of an expiry sweep) comes from a now
// parameter. Every time in the database is thus the caller's clock. A
// method that marks a row redeemed or revoked refuses a zero now, which
// the database would read as "not yet".
//
// # Paging
//
// A list that can grow without bound is read a Page at a time, in the
// order its method documents. The cursor of a page is the ordering key of
// its last item, so rows added or deleted between pages do not shift the
// others: an item that exists, with the same ordering key, throughout a
// walk over the list is returned exactly once. Walk, All and Cut read a
// list page by page.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"latchkey/internal/audit"
)

// Sentinel errors. Backends wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound means the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a unique key (user name, project key, ...) is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrEmailTaken means the email address is another user's (compared
	// case-insensitively). It is an ErrAlreadyExists: errors.Is matches both.
	ErrEmailTaken = fmt.Errorf("email address %w", ErrAlreadyExists)
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
	// ErrWrongClient means an authorization code or refresh token was
	// presented by a client other than the one it was issued to. Nothing
	// was written: an unused code stays usable, a used code or a rotated
	// refresh token revokes nothing.
	ErrWrongClient = errors.New("issued to another client")
	// ErrRevoked means the token family was revoked.
	ErrRevoked = errors.New("token family revoked")
	// ErrUnavailable means the database could not be reached or did not
	// answer in time (connection refused or lost, timeout), or that the
	// database, its schema or its tables are gone. Nothing was
	// changed that the caller could observe as half-written: a failed
	// transaction rolls back. Callers answer 503 and may retry later.
	ErrUnavailable = errors.New("database unavailable")
	// ErrInUse means a row cannot be deleted because others still refer
	// to it (an identity source that users belong to).
	ErrInUse = errors.New("still in use")
)

// User is an account that owns tokens: a person, who signs in with a
// password, or the service identity of a confidential client (user name
// "client:" and the client ID, no password, created the first time it is
// needed: the client's first client credentials token, or a permission
// granted to the client), which holds the tokens of that grant and the
// permissions granted to the client.
//
// Email is the user's address as the server trusts it: set by an
// administrator, or confirmed by its owner through a link sent to it.
// EmailVerified says which addresses count as verified (an address kept
// from before verification existed does not). Addresses are unique among
// users, compared case-insensitively (Unicode lower case); empty means none.
// An address a user asks for is not here until it is confirmed: it is an
// EmailVerification until then.
type User struct {
	ID            int64
	Username      string // unique, compared case-insensitively
	Email         string
	EmailVerified bool
	DisplayName   string
	PasswordHash  string // PHC-formatted argon2id hash; empty means no password login
	Disabled      bool
	CreatedAt     time.Time
	// SourceID is the identity source the account belongs to: 0 for a
	// local account (its password, if any, is PasswordHash), else the ID
	// of the directory or upstream provider that vouches for the person
	// and keeps their name, address and groups (see IdentitySource).
	SourceID int64
}

// EmailVerification is an address a user asked for and has not confirmed
// yet: the link sent to it carries a secret whose hex SHA-256 is Hash. It
// is bound to the user and the address; a user has at most one.
type EmailVerification struct {
	Hash      string
	UserID    int64
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
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
	// SourceID is the identity source whose group mapping granted the
	// permission (SyncSourcePermissions), 0 when an administrator did
	// (SetPermission, which always stores 0: a permission an
	// administrator set is theirs, and no sync takes it away).
	SourceID int64
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
	// Origin says how the client came to be known; see ClientOrigin.
	Origin ClientOrigin
	// ApplicationType is RFC 7591's application_type: ApplicationWeb
	// (also when empty) or ApplicationNative, which may use loopback and
	// private-use URI scheme redirects.
	ApplicationType string
	// ClientURI is the client's home page, as its registration or
	// metadata document gave it; "" if none.
	ClientURI string
	// RegistrationTokenHash is the hex SHA-256 of the RFC 7592
	// registration access token of a self-registered client; "" otherwise.
	RegistrationTokenHash string
	// MetadataExpiresAt is, for a client known from its client ID
	// metadata document, when the copy stored here must be fetched anew;
	// zero for other clients.
	MetadataExpiresAt time.Time
	// Trusted clients (first-party applications an administrator marked)
	// skip the consent page; the grant is still recorded. Only a
	// confidential client of origin OriginAdmin may be trusted.
	Trusted bool
	// PostLogoutRedirectURIs are where RP-initiated logout may send the
	// browser back to (exact match).
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives OpenID Connect back-channel logout
	// tokens; "" for none. BackchannelLogoutSessionRequired says the
	// client needs sid in them.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
}

// FactorKind is the kind of a second factor.
type FactorKind string

// Factor kinds.
const (
	FactorTOTP     FactorKind = "totp"     // RFC 6238 one-time codes
	FactorWebAuthn FactorKind = "webauthn" // a passkey or security key
)

// Factor is a second factor of a user. Secret is sealed by the caller for
// TOTP (the shared key) and holds the credential (as its package encodes
// it) for WebAuthn; CredentialID is the WebAuthn credential ID
// (base64url), unique, "" for TOTP. LastStep is the last TOTP time step
// accepted, so that a code is used once; a WebAuthn factor keeps its
// signature counter in its credential.
type Factor struct {
	ID           int64
	UserID       int64
	Kind         FactorKind
	Name         string
	Secret       []byte
	CredentialID string
	LastStep     int64
	CreatedAt    time.Time
	LastUsedAt   time.Time
}

// PendingLogin is a sign-in that passed its first step (a password) and
// waits for its second factor. Hash is the hex SHA-256 of the value of
// the cookie that carries it. It is not a session: nothing that needs a
// signed-in user accepts it.
type PendingLogin struct {
	Hash      string
	UserID    int64
	AMR       []string // what the first step was
	CreatedAt time.Time
	ExpiresAt time.Time
	SourceID  int64 // the identity source of the first step (see Session.SourceID)
}

// ClientOrigin says how a client came to be known.
type ClientOrigin string

// Client origins.
const (
	// OriginAdmin: registered by an administrator, or by a user through
	// the self-service pages (Client.OwnerUserID says which).
	OriginAdmin ClientOrigin = ""
	// OriginMetadata: its client_id is the https URL of a client ID
	// metadata document, which Latchkey fetched; no administrator vetted it.
	OriginMetadata ClientOrigin = "metadata"
	// OriginRegistered: it registered itself through RFC 7591 dynamic
	// client registration.
	OriginRegistered ClientOrigin = "registered"
)

// Application types of RFC 7591 §2.
const (
	ApplicationWeb    = "web"
	ApplicationNative = "native"
)

// ResourceServer is an external protected resource that an administrator
// registered (RFC 8707 resource indicators): access tokens for it are
// RFC 9068 JWTs whose audience is URI.
type ResourceServer struct {
	URI    string   // the resource identifier, an absolute URI without fragment; unique
	Name   string   // shown on the consent page
	Scopes []string // the scopes it understands; tokens for it carry only these and OpenID Connect's
	// IntrospectionClientID is the confidential client whose credentials
	// the resource server presents at the introspection endpoint; "" when
	// it may not introspect.
	IntrospectionClientID string
	CreatedAt             time.Time
}

// SourceKind says what an identity source is.
type SourceKind string

// Identity source kinds. Local passwords are no row: a user whose
// SourceID is 0 signs in with Latchkey's own password.
const (
	SourceLDAP SourceKind = "ldap" // a directory: search, then bind as the user
	SourceOIDC SourceKind = "oidc" // an upstream OpenID Connect provider
)

// IdentitySource is a directory or an upstream provider people sign in
// with, configured by an administrator. Config is the kind's settings as
// JSON, without secrets (package identity reads it); Secret is the one
// secret it needs (a bind password, a client secret), sealed under the
// key-encryption key, never stored in the clear. Sources are tried and
// shown in the order of Position, then ID.
type IdentitySource struct {
	ID          int64
	Name        string // unique, lower case, used in URLs and on the command line
	DisplayName string // what people see: "Sign in with {DisplayName}"
	Kind        SourceKind
	Enabled     bool
	Position    int
	Config      []byte
	Secret      []byte
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// SyncedAt is when the last periodic sync of the source finished,
	// and SyncError what went wrong with it ("" when it went well).
	SyncedAt  time.Time
	SyncError string
}

// ExternalIdentity links a person of an identity source, by the subject
// the source knows them by (a directory's user name, an upstream's sub),
// to a Latchkey user. A subject is linked to one user; a user has at most
// one identity per source.
type ExternalIdentity struct {
	SourceID  int64
	Subject   string
	UserID    int64
	CreatedAt time.Time
}

// InitialAccessToken is an RFC 7591 initial access token an administrator
// issued: it lets its bearer register clients while unexpired. Hash is the
// hex SHA-256 of the token.
type InitialAccessToken struct {
	Hash      string
	Label     string // what the administrator called it
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
}

// Consent records the scopes a user approved for a client.
type Consent struct {
	UserID    int64
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
	// Resources are the resource identifiers the user approved the
	// scopes for; empty: Latchkey's own code-hosting resource.
	Resources []string
}

// Session is a browser login. ID is the hex SHA-256 of the cookie value.
type Session struct {
	ID        string
	UserID    int64
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
	// SID is the session's OpenID Connect session ID (the sid claim of
	// ID and logout tokens): random, public, and unlike ID no key to the
	// session; "" for sessions made before it existed.
	SID string
	// AMR are the RFC 8176 methods the sign-in used ("pwd", "otp",
	// "hwk", "user", "mfa"), and ACR the class of authentication they
	// add up to (package web names them).
	AMR []string
	ACR string
	// SourceID is the identity source the sign-in went through (0: a
	// local password or passkey). Disabling a source ends the sessions
	// that went through it.
	SourceID int64
}

// SignIn is what a sign-in was, carried from the session to the codes,
// device codes and token families it authorizes: for ID tokens (sid, amr,
// acr) and for back-channel logout (which clients a session signed in to).
type SignIn struct {
	SID string
	AMR []string
	ACR string
}

// AuthCode is an issued authorization code. Hash is its key
// (secret.TokenKey: the hex SHA-256 of the code, after its stamp).
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
	// Resources are the RFC 8707 resource identifiers the authorization
	// request named; empty: Latchkey's own code-hosting resource.
	Resources []string
	// SignIn is the session that authorized the code.
	SignIn SignIn
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
	// Lineage is the key of the handle every refresh token of the family
	// carries (secret.Lineage: its hex SHA-256, after its stamp when it
	// has one), set by the caller when the family is
	// created; empty for a family whose tokens carry none. It is unique. By
	// it the store recognizes a refresh token of the family that has been
	// rotated away, so it keeps no row per past refresh token.
	Lineage string
	// Resources are the RFC 8707 resource identifiers granted: every
	// token of the family is for some of them. Empty: Latchkey's own
	// code-hosting resource (the only one before resource indicators).
	Resources []string
	// SignIn is the session that authorized the grant; zero for a grant
	// without one (client credentials, grants made before it existed).
	SignIn SignIn
	// RotatedAt is when the family's refresh token was last rotated, and
	// PreviousRefresh the key (Token.Hash) of the refresh token that rotation
	// replaced: for the refresh grace period (zero and "" before any
	// rotation). The store sets both on every rotation.
	RotatedAt       time.Time
	PreviousRefresh string
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

// Token is an access or refresh token. Hash is its key (secret.TokenKey:
// the hex SHA-256 of the token, after its stamp when it has one).
type Token struct {
	Hash       string
	Kind       TokenKind
	FamilyID   int64
	Generation int64
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// Resources are the resource identifiers an access token is for (its
	// audience); empty: Latchkey's own code-hosting resource. A refresh
	// token carries those its family was granted.
	Resources []string
}

// Presented is a code or refresh token as a client presented it to the
// token endpoint: the hash of the secret and the client, as authenticated,
// that presents it.
type Presented struct {
	Hash     string // the key of the code or token (secret.TokenKey)
	ClientID string // the presenting client
	// Lineage is, for a refresh token that carries a family handle, the
	// key of that handle (TokenFamily.Lineage); empty otherwise.
	Lineage string
	// Grace is the refresh grace period: a refresh token that the
	// family's last rotation replaced less than Grace ago is not a reuse
	// (RotateRefreshToken); zero: none.
	Grace time.Duration
	// Code (for RedeemAuthCode) and Token with its Family (for
	// RotateRefreshToken), when not nil, are what the caller read of the
	// code or token under Hash before the call. A store may start the
	// grant from them instead of reading again; it writes only if what it
	// started from still holds when it writes, and otherwise decides as if
	// they were not given. Ignored unless their Hash is Hash.
	Code   *AuthCode
	Token  *Token
	Family *TokenFamily
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
	// Resources are the RFC 8707 resource identifiers the device
	// authorization request named; empty: Latchkey's own.
	Resources []string
	// SignIn is the session of the person who answered; zero while
	// pending.
	SignIn SignIn
	// SourceAddress is the client address the device authorization
	// request came from (RFC 8628 §5.4: shown to the person who confirms
	// it); "" when unknown. It never changes after creation.
	SourceAddress string
}

// ThrottleCounter is the state of one sign-in throttle key (package web
// owns the rules): the failures counted, the time until which the key
// refuses attempts, and the time of its last failure. The zero counter is
// an absent one.
type ThrottleCounter struct {
	Failures int
	Until    time.Time
	Last     time.Time
}

// HookKind says which product's webhooks a hook is: the payloads, headers
// and signature it receives follow the dialect it was created through.
type HookKind string

// Webhook kinds.
const (
	HookGitea     HookKind = "gitea"
	HookBitbucket HookKind = "bitbucket"
)

// Webhook is a repository's subscription to its events. Secret is kept as
// the caller gives it (package webhook seals it before it is stored); the
// store does not interpret Events (the dialect's event names, such as
// "push" or "repo:refs_changed") or Config (the dialect's other settings,
// as JSON).
type Webhook struct {
	ID        int64
	RepoID    int64
	Kind      HookKind
	Name      string
	URL       string
	Secret    []byte
	Events    []string
	Config    string
	Active    bool
	CreatorID int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeliveryState is where a webhook delivery stands.
type DeliveryState string

// Delivery states. A pending delivery waits for its next attempt; a
// delivered one was answered 2xx; a failed one ran out of attempts.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryFailed    DeliveryState = "failed"
)

// Delivery is one event to send to one webhook: stored before the event's
// request answers, then sent (and retried) by a worker. Payload is the body
// exactly as it is sent; Headers are the dialect's event headers (the
// signature is computed at send time). The result fields describe the
// latest attempt.
type Delivery struct {
	ID            int64
	HookID        int64
	RepoID        int64
	Event         string
	GUID          string
	Payload       []byte
	Headers       map[string]string
	State         DeliveryState
	Attempts      int
	NextAttemptAt time.Time
	LeaseUntil    time.Time
	// Latest attempt: the HTTP status (0 when none came back), the start
	// of the answer's body, the error (empty when an answer came), when it
	// ended and how long it took.
	ResponseStatus int
	ResponseBody   string
	Error          string
	AttemptedAt    time.Time
	Duration       time.Duration
	CreatedAt      time.Time
}

// DeliveryResult is what one attempt at a delivery came to.
type DeliveryResult struct {
	State          DeliveryState // delivered, failed, or pending for another attempt
	NextAttemptAt  time.Time     // when State is pending
	ResponseStatus int
	ResponseBody   string
	Error          string
	AttemptedAt    time.Time
	Duration       time.Duration
}

// StatusState is a commit status's state, in Gitea's words (package api
// maps Bitbucket's build states onto them).
type StatusState string

// Commit status states.
const (
	StatusPending StatusState = "pending"
	StatusSuccess StatusState = "success"
	StatusError   StatusState = "error"
	StatusFailure StatusState = "failure"
	StatusWarning StatusState = "warning"
)

// CommitStatus is what a CI system reported about one commit of a
// repository. Context is Gitea's context and Bitbucket's key; Name is
// Bitbucket's display name. Every report is kept: the newest per context
// is the commit's current status for that context.
type CommitStatus struct {
	ID          int64
	RepoID      int64
	SHA         string
	Context     string
	State       StatusState
	Name        string
	TargetURL   string
	Description string
	CreatorID   int64
	CreatedAt   time.Time
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
// transaction. The callbacks of the methods that take one may run more than
// once (see the package doc).
//
// Lists: the list methods that take a Page return at most p.Size() items
// in the order they document and the cursor of the next page, which is the
// zero Cursor after the last page. ListPermissions and ListSigningKeys are
// not paged: every caller needs the whole set (an access decision, the
// published key set), and both stay small.
//
// Any method may fail with ErrUnavailable (wrapped) when the database cannot
// be reached.
type Store interface {
	// CreateUser inserts u and returns it with ID set.
	// ErrAlreadyExists if the user name is taken (case-insensitively),
	// ErrEmailTaken if the address is another user's.
	CreateUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, id int64) (User, error)
	// GetUserByUsername looks the name up case-insensitively.
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// GetUserByEmail looks the address up case-insensitively; ErrNotFound
	// for "" or an address nobody has.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	CountUsers(ctx context.Context) (int, error)
	// UpdateUser applies fn to the current row inside a transaction and
	// stores the result. ErrEmailTaken if the new address is another
	// user's (nothing is written then). When the address changes, the
	// user's pending EmailVerification is deleted in the same transaction,
	// so a link sent for an earlier request no longer works.
	UpdateUser(ctx context.Context, id int64, fn func(User) (User, error)) (User, error)
	// ListUsers lists the users ordered by lower-cased user name (byte-wise).
	ListUsers(ctx context.Context, p Page) ([]User, Cursor, error)
	// DeleteUser removes the user with everything that is theirs: permissions,
	// sessions, consents, authorization codes, email verifications and
	// token families with their tokens. ErrNotFound if there is no such user.
	DeleteUser(ctx context.Context, id int64) error

	// CreateEmailVerification stores v, the user's one pending address
	// change: it replaces (deletes) any earlier verification of the same
	// user in the same transaction. ErrNotFound if the user does not exist.
	CreateEmailVerification(ctx context.Context, v EmailVerification) error
	// GetEmailVerification finds a verification by its hash, expired or
	// not. ErrNotFound if there is none (never sent, used, or replaced).
	GetEmailVerification(ctx context.Context, hash string) (EmailVerification, error)
	// PendingEmailVerification returns the user's pending verification,
	// expired or not; ErrNotFound if there is none.
	PendingEmailVerification(ctx context.Context, userID int64) (EmailVerification, error)
	// ConfirmEmail redeems a verification in one transaction: it locks the
	// row, calls check with it (the caller decides expiry and whose link it
	// is; an error of check is returned as it is and nothing changes), then
	// sets the user's Email to the verification's address with
	// EmailVerified true and deletes the verification, so it works once.
	// ErrNotFound for an unknown hash, ErrEmailTaken (nothing written, the
	// verification kept) if another user has the address by now.
	ConfirmEmail(ctx context.Context, hash string, check func(EmailVerification) error) (User, error)

	// CreateProject inserts p (Key upper-cased). ErrAlreadyExists on a taken key.
	CreateProject(ctx context.Context, p Project) (Project, error)
	// GetProjectByKey looks the key up case-insensitively.
	GetProjectByKey(ctx context.Context, key string) (Project, error)
	// ListProjects lists the projects ordered by key (byte-wise).
	ListProjects(ctx context.Context, p Page) ([]Project, Cursor, error)
	// CreateRepo inserts r. ErrNotFound if the project does not exist,
	// ErrAlreadyExists if the slug is taken in that project.
	CreateRepo(ctx context.Context, r Repo) (Repo, error)
	// GetRepo finds a repository by project key and slug (both case-insensitive).
	GetRepo(ctx context.Context, projectKey, slug string) (Repo, error)
	// ListRepos lists the repositories of one project ordered by
	// lower-cased slug (byte-wise).
	ListRepos(ctx context.Context, projectID int64, p Page) ([]Repo, Cursor, error)
	// UpdateProject applies fn to the current row inside a transaction and
	// stores the result with its Key upper-cased; fn cannot change ID or
	// CreatedAt. ErrNotFound if there is no such project, ErrAlreadyExists if
	// the new key is taken (nothing is written then).
	UpdateProject(ctx context.Context, id int64, fn func(Project) (Project, error)) (Project, error)
	// DeleteProject removes the project, its repositories and every
	// permission on any of them, with the repositories' webhooks, their
	// deliveries and the repositories' commit statuses. ErrNotFound if
	// there is no such project.
	DeleteProject(ctx context.Context, id int64) error
	// ListAllRepos lists every repository ordered by project key, then
	// lower-cased slug (both byte-wise): the order of ListProjects, each
	// project's repositories in the order of ListRepos.
	ListAllRepos(ctx context.Context, p Page) ([]Repo, Cursor, error)
	// UpdateRepo applies fn to the current row inside a transaction and
	// stores the result; fn cannot change ID, ProjectID, ProjectKey or
	// CreatedAt. ErrNotFound if there is no such repository,
	// ErrAlreadyExists if the new slug is taken in its project.
	UpdateRepo(ctx context.Context, id int64, fn func(Repo) (Repo, error)) (Repo, error)
	// DeleteRepo removes the repository and every permission on it, with
	// its webhooks, their deliveries and its commit statuses. ErrNotFound
	// if there is no such repository.
	DeleteRepo(ctx context.Context, id int64) error

	// SetPermission inserts or replaces the user's permission on the target,
	// as set by an administrator (SourceID 0, whatever p says).
	SetPermission(ctx context.Context, p Permission) error
	// DeletePermission removes the user's permission on the target; ErrNotFound if none.
	DeletePermission(ctx context.Context, userID int64, target TargetKind, targetID int64) error
	// ListPermissions returns every permission the user holds (unpaged).
	ListPermissions(ctx context.Context, userID int64) ([]Permission, error)
	// ListTargetPermissions lists the permissions held on one target (by
	// any user) ordered by user ID.
	ListTargetPermissions(ctx context.Context, target TargetKind, targetID int64, p Page) ([]Permission, Cursor, error)

	// CreateClient inserts c (ID chosen by the caller). ErrAlreadyExists on a taken ID.
	CreateClient(ctx context.Context, c Client) (Client, error)
	GetClient(ctx context.Context, id string) (Client, error)
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error)) (Client, error)
	// ListClients lists the clients in the order they were created.
	ListClients(ctx context.Context, p Page) ([]Client, Cursor, error)
	// DeleteClient removes the client with its codes, consents and token families.
	DeleteClient(ctx context.Context, id string) error
	// ListClientsByOwner lists the clients registered by one user in the
	// order they were created.
	ListClientsByOwner(ctx context.Context, ownerUserID int64, p Page) ([]Client, Cursor, error)
	// RevokeClientFamilies revokes every live token family of the client
	// (all users) at now in one statement and returns how many it revoked.
	RevokeClientFamilies(ctx context.Context, clientID string, now time.Time) (int, error)

	// GetConsent returns the user's consent for the client, or ErrNotFound.
	GetConsent(ctx context.Context, userID int64, clientID string) (Consent, error)
	// SaveConsent inserts or replaces the user's consent for the client.
	SaveConsent(ctx context.Context, c Consent) error
	// ListConsentsByUser lists the consents the user gave, newest first
	// (by GrantedAt, then by client ID, byte-wise).
	ListConsentsByUser(ctx context.Context, userID int64, p Page) ([]Consent, Cursor, error)
	// RevokeUserClient ends the user's authorization of the client in one
	// transaction: it revokes (at now) every live token family of that user
	// and client and deletes the remembered consent, so that the application
	// must ask again. It returns how many families it revoked; revoking
	// what is already gone is not an error.
	RevokeUserClient(ctx context.Context, userID int64, clientID string, now time.Time) (int, error)
	// RevokeUserFamilies ends every authorization the user gave, for every
	// client, in one transaction: it burns the user's outstanding
	// authorization codes and approved device codes, revokes (at now) every
	// live token family of the user and deletes the user's consents, so
	// that every application must ask again. It returns how many families
	// it revoked; what is already gone is not an error. It does not touch
	// sessions (DeleteUserSessions) nor the tokens of a client's service
	// identity, which is another user.
	RevokeUserFamilies(ctx context.Context, userID int64, now time.Time) (int, error)

	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session with the given ID hash, expired or not.
	GetSession(ctx context.Context, id string) (Session, error)
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions deletes every session of the user except the one
	// whose ID is exceptID (none when empty) and returns how many it deleted.
	DeleteUserSessions(ctx context.Context, userID int64, exceptID string) (int, error)

	CreateAuthCode(ctx context.Context, c AuthCode) error
	// GetAuthCode returns the code with the given hash, used or not. Only
	// UsedAt and FamilyID of a stored code ever change, so a caller may
	// read the rest (its user, say) before redeeming it.
	GetAuthCode(ctx context.Context, hash string) (AuthCode, error)
	// RedeemAuthCode marks the code p.Hash used at now and, in the same
	// transaction, writes what issue returns (a zero CreatedAt of the
	// family or a token is set to now). ErrNotFound for an unknown code.
	// ErrWrongClient, before anything else and without writing, if the code
	// was issued to another client than p.ClientID. For a code already used
	// it revokes the family issued from it and returns ErrCodeReused
	// without calling issue. If issue returns an error the code stays used
	// (burned), nothing else is written, and that error is returned as it
	// is.
	RedeemAuthCode(ctx context.Context, p Presented, now time.Time, issue func(AuthCode) (Issue, error)) (Issue, error)
	// RotateRefreshToken finds the refresh token p.Hash, checks that its
	// family belongs to p.ClientID, that it is live and that the token
	// belongs to the current generation, calls issue, then advances the
	// family's generation and inserts the new tokens (a zero CreatedAt is
	// set to now); every token of earlier generations stops being live at
	// once. A family with a lineage keeps only its current generation's
	// tokens: the superseded ones are deleted in the same transaction, so
	// its rows stay bounded however often it rotates. A refresh token that
	// is not stored but whose p.Lineage is a family's is one of that
	// family's rotated tokens. A family without a lineage takes the one
	// issue returns (Issue.Family.Lineage) at this rotation and keeps its
	// earlier refresh tokens until they expire. ErrNotFound for an unknown
	// token (or an access token), ErrWrongClient (checked first, nothing
	// written) if the family belongs to another client, ErrRevoked if the
	// family is revoked, ErrTokenReused (after revoking the family at now)
	// if the token was already rotated, however long ago; except the
	// refresh token the family's last rotation replaced, presented less
	// than p.Grace after that rotation: issue is then called with a
	// refresh token of the current generation, and the tokens it returns
	// join that generation (the family does not advance, and the tokens
	// the rotation issued stay live). Every rotation records its time and
	// the hash it replaced (TokenFamily.RotatedAt, PreviousRefresh). If
	// issue returns an error nothing is written and that error is
	// returned as it is.
	RotateRefreshToken(ctx context.Context, p Presented, now time.Time, issue func(TokenFamily, Token) (Issue, error)) (Issue, error)
	// CreateFamily writes a new family (generation 1) and its tokens without
	// an authorization code, for grants that have none (client credentials).
	// A zero CreatedAt of the family or a token is set to now.
	CreateFamily(ctx context.Context, iss Issue, now time.Time) (Issue, error)
	// GetBearer returns, in one read, an access or refresh token with its
	// family, the family's user and whether the family's client is
	// suspended: everything the bearer check needs but the permissions.
	GetBearer(ctx context.Context, hash string) (Bearer, error)
	// GetToken returns a token of either kind with its family.
	GetToken(ctx context.Context, hash string) (Token, TokenFamily, error)
	// GetCurrentRefresh returns the family of a lineage and a refresh
	// token of its current generation: what a refresh token of the family
	// that is no longer stored (rotated away) stands for, read before a
	// rotation inside the grace period. ErrNotFound if none.
	GetCurrentRefresh(ctx context.Context, lineage string) (Token, TokenFamily, error)
	// RevokeFamily revokes every token of the family at now. Revoking
	// twice is not an error (the first time is kept).
	RevokeFamily(ctx context.Context, familyID int64, now time.Time) error
	// TouchFamily records that a token of the family was used at t. It
	// never moves LastUsedAt backwards. ErrNotFound if there is no such family.
	TouchFamily(ctx context.Context, familyID int64, t time.Time) error
	// ListFamiliesByUser lists the user's live token families (not
	// revoked, with a token of the current generation that expires after
	// now) with their clients' names, newest first (by CreatedAt, then by
	// ID).
	ListFamiliesByUser(ctx context.Context, userID int64, now time.Time, p Page) ([]UserFamily, Cursor, error)

	// EnsureSecret stores candidate under name unless a value is already
	// stored, and returns the stored value. Every node thus agrees on one
	// value (cookie and CSRF keys).
	EnsureSecret(ctx context.Context, name string, candidate []byte) ([]byte, error)

	// CreateDeviceCode stores a new device authorization. ErrAlreadyExists
	// when the hash or the user code is taken (the caller draws another).
	CreateDeviceCode(ctx context.Context, d DeviceCode) error
	// GetDeviceCode finds a device authorization by the hash of its device
	// code, whatever its state.
	GetDeviceCode(ctx context.Context, hash string) (DeviceCode, error)
	// GetDeviceCodeByUserCode finds a device authorization by its
	// normalized user code, whatever its state.
	GetDeviceCodeByUserCode(ctx context.Context, userCode string) (DeviceCode, error)
	// UpdateDeviceCode locks the device authorization with the given hash,
	// calls fn, and stores the row fn returns; if fn also returns an Issue,
	// its family and tokens are written in the same transaction (the family
	// takes ClientID and UserID from the returned row, a zero CreatedAt is
	// set to now) and the row's FamilyID is set. It returns the row as
	// stored. If fn returns an error nothing is written and that error is
	// returned as it is. Concurrent calls for one hash are serialized, so
	// one approval is consumed once.
	UpdateDeviceCode(ctx context.Context, hash string, now time.Time, fn func(DeviceCode) (DeviceCode, *Issue, error)) (DeviceCode, error)

	// CreateSigningKey stores a new signing key. ErrAlreadyExists on a taken ID.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns every stored signing key, oldest activation
	// first (unpaged: a handful of keys, all of which are published).
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKey, in one transaction, schedules every key that has no
	// retirement time to retire at retireAt and stores next.
	RotateSigningKey(ctx context.Context, next SigningKey, retireAt time.Time) error
	// DeleteRetiredSigningKeys removes keys whose retirement time is before t.
	DeleteRetiredSigningKeys(ctx context.Context, before time.Time) error

	// DeleteExpired removes, in one bounded pass, rows that can no longer be
	// used: authorization codes, device codes, sessions and tokens that
	// expired before now, email verifications that expired before now,
	// rate-limit buckets whose TAT is before now, throttle counters
	// without a failure in the 15 minutes before now whose Until is before
	// now, access tokens of past
	// generations, and token
	// families with nothing live (revoked, or without a token that expires
	// at or after now), together with their tokens, once the code that
	// issued them (if any) is gone, so that a redeemed code always names
	// its family. Refresh
	// tokens of past generations (only families without a lineage keep
	// any) are kept until they expire, so that their reuse is still
	// detected (and revokes the family) until then. A
	// family is never left without tokens while it is kept. Finished
	// webhook deliveries (delivered or failed) go 30 days after their
	// last attempt: those whose AttemptedAt and CreatedAt are both more
	// than 30 days before now. Pending deliveries and commit statuses
	// (the history of a commit) are kept.
	//
	// At most batch rows of each kind are deleted per call; it returns how
	// many rows it deleted in all (tokens removed with their family are not
	// counted). Callers repeat while it returns more than zero. It is safe
	// when several processes call it at once: rows another caller is
	// deleting, or a transaction is changing, are skipped, not waited for.
	DeleteExpired(ctx context.Context, now time.Time, batch int) (int, error)

	// TakeRate spends one request of a rate-limit bucket by the generic
	// cell rate algorithm (GCRA): the bucket's theoretical arrival time
	// (TAT), taken as now when it lies in the past, moves interval later;
	// the request is allowed when the moved TAT is at most burst after
	// now, and only then stored, so a refused request changes nothing. It
	// returns whether the request was allowed and the bucket's TAT after
	// the call. One row per bucket, changed by one atomic statement, so
	// every process sharing the database counts in the same bucket.
	// DeleteExpired removes buckets whose TAT has passed (an absent
	// bucket is a full one). interval must be positive and at most burst.
	TakeRate(ctx context.Context, bucket string, now time.Time, interval, burst time.Duration) (allowed bool, tat time.Time, err error)

	// UpdateThrottle, in one transaction, locks the throttle counters with
	// the given names (an absent one reads as the zero counter), calls fn
	// with them, and stores the counters fn returns: a name fn leaves out
	// keeps its counter, a zero counter deletes it. A name fn returns that
	// was not asked for is an error and nothing is written. If fn returns
	// an error nothing is written and that error is returned as it is.
	// Concurrent calls naming a same counter are serialized, on every
	// process sharing the database, so no update is lost. DeleteExpired
	// removes counters idle (no failure) for more than 15 minutes whose
	// Until has passed.
	UpdateThrottle(ctx context.Context, names []string, fn func(map[string]ThrottleCounter) (map[string]ThrottleCounter, error)) error

	// CreateWebhook stores a new webhook of its repository and returns it
	// with ID set; CreatedAt and UpdatedAt are kept as given. ErrNotFound
	// if the repository does not exist. An empty Secret or Events reads
	// back as nil.
	CreateWebhook(ctx context.Context, h Webhook) (Webhook, error)
	// GetWebhook reads webhook id of repository repoID (ErrNotFound when
	// it belongs to another repository).
	GetWebhook(ctx context.Context, repoID, id int64) (Webhook, error)
	// ListWebhooks lists a repository's webhooks by ID, oldest first.
	ListWebhooks(ctx context.Context, repoID int64, p Page) ([]Webhook, Cursor, error)
	// ActiveWebhooks lists every active webhook of a repository, in ID
	// order: the hooks an event fires. A repository keeps few.
	ActiveWebhooks(ctx context.Context, repoID int64) ([]Webhook, error)
	// UpdateWebhook changes webhook id of repository repoID through fn (ID,
	// RepoID, Kind, CreatorID and CreatedAt stay as they were; every
	// other field, UpdatedAt included, is stored as fn returns it) and
	// returns it as stored. ErrNotFound if the repository has no such
	// webhook; if fn returns an error nothing is written and that error is
	// returned as it is.
	UpdateWebhook(ctx context.Context, repoID, id int64, fn func(Webhook) (Webhook, error)) (Webhook, error)
	// DeleteWebhook deletes a webhook with its deliveries. ErrNotFound if
	// the repository has no such webhook.
	DeleteWebhook(ctx context.Context, repoID, id int64) error

	// EnqueueDeliveries stores deliveries in one transaction, pending with
	// their NextAttemptAt, and returns them as stored, with IDs set. Either
	// all are stored or none. Only HookID, RepoID, Event, GUID, Payload,
	// Headers, NextAttemptAt and CreatedAt are taken from ds; State is
	// pending, Attempts, LeaseUntil and the result fields start zero. A
	// zero RepoID is set to the webhook's; ErrNotFound (nothing stored) if
	// a webhook does not exist or is not of the RepoID given.
	EnqueueDeliveries(ctx context.Context, ds []Delivery) ([]Delivery, error)
	// ClaimDeliveries takes up to limit pending deliveries whose
	// NextAttemptAt is at most now and whose LeaseUntil is at most now,
	// most overdue first (by NextAttemptAt, then ID), and leases them
	// until now+lease, counting the attempt (Attempts grows by one); it
	// returns them as leased, in that order. It does not look at the
	// webhooks: a delivery of an inactive webhook is claimed like any
	// other. A zero now or a lease that is not positive is an error. A
	// delivery is leased to one caller at a time across every process
	// sharing the database (rows another caller is claiming are skipped,
	// not waited for), so while its lease lasts no one else sends it.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// FinishDelivery records the result of an attempt at delivery id and
	// ends its lease (LeaseUntil becomes zero): its State, NextAttemptAt
	// (stored as given; a pending delivery is due again then) and the
	// result fields become r's. NUL bytes and invalid UTF-8 in
	// ResponseBody and Error (what a remote server sent) are stored as
	// U+FFFD, not refused; an unknown State is an error. It is
	// ErrNotFound when the delivery (or its webhook) was deleted
	// meanwhile.
	FinishDelivery(ctx context.Context, id int64, r DeliveryResult) error
	// ListDeliveries lists a webhook's deliveries newest (highest ID)
	// first.
	ListDeliveries(ctx context.Context, hookID int64, p Page) ([]Delivery, Cursor, error)

	// AddCommitStatus stores a report about a commit and returns it with
	// ID set. ErrNotFound if the repository does not exist. The store does
	// not interpret SHA: callers store and look up the same form (the
	// full lower-case hex).
	AddCommitStatus(ctx context.Context, s CommitStatus) (CommitStatus, error)
	// ListCommitStatuses lists the reports about commit sha (compared
	// exactly) of a repository newest (highest ID) first.
	ListCommitStatuses(ctx context.Context, repoID int64, sha string, p Page) ([]CommitStatus, Cursor, error)

	// CreateResourceServer registers an external resource server;
	// ErrAlreadyExists if its URI is taken.
	CreateResourceServer(ctx context.Context, rs ResourceServer) (ResourceServer, error)
	// GetResourceServer returns the resource server of uri (exact match).
	GetResourceServer(ctx context.Context, uri string) (ResourceServer, error)
	// ListResourceServers returns every resource server in URI order (not
	// paged: an administrator registers few).
	ListResourceServers(ctx context.Context) ([]ResourceServer, error)
	// DeleteResourceServer removes the resource server of uri; ErrNotFound
	// if none. Tokens already granted for it stay in their families: the
	// protocol core refuses to refresh or introspect them once their
	// resource server is gone.
	DeleteResourceServer(ctx context.Context, uri string) error

	// CreateIdentitySource stores a new identity source and returns it
	// with its ID; ErrAlreadyExists if its name (compared in lower case)
	// is taken.
	CreateIdentitySource(ctx context.Context, src IdentitySource) (IdentitySource, error)
	// GetIdentitySource returns a source by ID; ErrNotFound if none.
	GetIdentitySource(ctx context.Context, id int64) (IdentitySource, error)
	// GetIdentitySourceByName returns a source by name (case-insensitive).
	GetIdentitySourceByName(ctx context.Context, name string) (IdentitySource, error)
	// ListIdentitySources returns every source, by Position, then ID.
	ListIdentitySources(ctx context.Context) ([]IdentitySource, error)
	// UpdateIdentitySource changes a source under its row lock; fn cannot
	// change ID, Kind or CreatedAt. ErrAlreadyExists for a taken name.
	UpdateIdentitySource(ctx context.Context, id int64, fn func(IdentitySource) (IdentitySource, error)) (IdentitySource, error)
	// DeleteIdentitySource deletes a source with its external identities
	// and the permissions it granted; ErrInUse while a user belongs to it
	// (User.SourceID), ErrNotFound if none.
	DeleteIdentitySource(ctx context.Context, id int64) error
	// ListSourceUsers returns the users that belong to a source, by ID.
	ListSourceUsers(ctx context.Context, sourceID int64, p Page) ([]User, Cursor, error)

	// LinkIdentity stores a link; ErrAlreadyExists if the subject is
	// linked already or the user has an identity in that source,
	// ErrNotFound if the source or the user does not exist.
	LinkIdentity(ctx context.Context, id ExternalIdentity) error
	// GetLinkedIdentity returns the link of a source's subject (compared
	// exactly); ErrNotFound if none.
	GetLinkedIdentity(ctx context.Context, sourceID int64, subject string) (ExternalIdentity, error)
	// ListUserIdentities returns a user's links, by source ID.
	ListUserIdentities(ctx context.Context, userID int64) ([]ExternalIdentity, error)
	// UnlinkIdentity deletes a user's link to a source; ErrNotFound if none.
	UnlinkIdentity(ctx context.Context, userID, sourceID int64) error

	// SyncSourcePermissions makes the permissions of userID that sourceID
	// granted be want (at most one per target; UserID and SourceID of its
	// items are ignored), in one transaction: a permission the source
	// granted and want no longer has is deleted; a permission in want is
	// set where the user has none on that target or has one the same
	// source granted. A permission an administrator set (SourceID 0) or
	// another source granted is never changed. It returns the user's
	// permissions afterwards.
	SyncSourcePermissions(ctx context.Context, userID, sourceID int64, want []Permission) ([]Permission, error)
	// DeleteSourceSessions deletes every session and pending sign-in that
	// went through a source, and every session and pending sign-in of
	// the users that belong to it, and returns how many sessions.
	DeleteSourceSessions(ctx context.Context, sourceID int64) (int, error)

	// CreateInitialAccessToken stores an initial access token.
	CreateInitialAccessToken(ctx context.Context, t InitialAccessToken) error
	// GetInitialAccessToken returns the initial access token of hash.
	GetInitialAccessToken(ctx context.Context, hash string) (InitialAccessToken, error)
	// ListInitialAccessTokens returns every initial access token, newest
	// first (not paged: few).
	ListInitialAccessTokens(ctx context.Context) ([]InitialAccessToken, error)
	// DeleteInitialAccessToken removes the initial access token of hash;
	// ErrNotFound if none.
	DeleteInitialAccessToken(ctx context.Context, hash string) error
	// DeleteUnusedClients deletes up to batch clients of origin created
	// before cutoff none of whose token families was created or used
	// since cutoff, and returns how many it deleted.
	DeleteUnusedClients(ctx context.Context, origin ClientOrigin, cutoff time.Time, batch int) (int, error)

	// CreateFactor adds a second factor and returns it with ID set;
	// ErrAlreadyExists if its credential ID is taken, ErrNotFound if the
	// user does not exist.
	CreateFactor(ctx context.Context, f Factor) (Factor, error)
	// ListFactors returns the factors of a user, oldest first.
	ListFactors(ctx context.Context, userID int64) ([]Factor, error)
	// GetFactorByCredentialID returns the WebAuthn factor of a
	// credential ID (a passkey's sign-in names no user).
	GetFactorByCredentialID(ctx context.Context, credentialID string) (Factor, error)
	// UpdateFactor changes a factor of the user under a lock, so that of
	// two concurrent uses of one TOTP step one sees the other's LastStep.
	// fn cannot change ID, UserID, Kind or CreatedAt; an error of fn is
	// returned as it is and changes nothing.
	UpdateFactor(ctx context.Context, userID, id int64, fn func(Factor) (Factor, error)) (Factor, error)
	// DeleteFactor removes a factor of the user; ErrNotFound if none.
	DeleteFactor(ctx context.Context, userID, id int64) error
	// DeleteUserFactors removes every factor and recovery code of the
	// user (an administrator's reset) and returns how many factors went.
	DeleteUserFactors(ctx context.Context, userID int64) (int, error)
	// ReplaceRecoveryCodes replaces the user's recovery codes by hashes
	// (hex SHA-256 of each code).
	ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string, now time.Time) error
	// UseRecoveryCode marks the unused recovery code of hash used;
	// ErrNotFound unless the user has it unused. Of concurrent uses of
	// one code exactly one succeeds.
	UseRecoveryCode(ctx context.Context, userID int64, hash string, now time.Time) error
	// CountRecoveryCodes counts the user's unused recovery codes.
	CountRecoveryCodes(ctx context.Context, userID int64) (int, error)
	// CreatePendingLogin stores a sign-in waiting for its second factor.
	CreatePendingLogin(ctx context.Context, p PendingLogin) error
	// GetPendingLogin returns the pending sign-in of hash.
	GetPendingLogin(ctx context.Context, hash string) (PendingLogin, error)
	// DeletePendingLogin removes it; ErrNotFound if none (it was
	// finished or abandoned by another request).
	DeletePendingLogin(ctx context.Context, hash string) error

	// UseOnce records that key was used, until expires; ErrAlreadyExists
	// if it was already (on any node). DeleteExpired forgets it after
	// expires.
	UseOnce(ctx context.Context, key string, expires time.Time) error

	// AppendAudit adds an event to the audit trail and returns it with ID
	// set. IDs grow with every append.
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	// DeleteAuditBefore deletes up to batch of the oldest audit events
	// recorded before t and returns how many it deleted.
	DeleteAuditBefore(ctx context.Context, before time.Time, batch int) (int, error)
	// ListAudit lists the events newest (highest ID) first.
	ListAudit(ctx context.Context, p Page) ([]AuditEvent, Cursor, error)

	// Ping checks that the database answers and holds the schema this
	// build expects (its newest migration applied); ErrUnavailable if not.
	Ping(ctx context.Context) error
	Close() error

	// --- Back-channel logout (issue 15; package logout owns this block) ---

	// LogoutTargets returns, once each and ordered by client ID then SID,
	// the (client, SID) pairs of the user's token families whose client
	// has a BackchannelLogoutURI: of the families of session sid
	// (TokenFamily.SignIn.SID == sid), or of every family of the user
	// when sid is "" (then SID is each family's, "" for a family made
	// without a session ID). Every stored family counts, revoked or not
	// (a revoked family's relying party may still hold a session), so
	// callers may ask before or after revoking.
	LogoutTargets(ctx context.Context, userID int64, sid string) ([]LogoutTarget, error)
	// EnqueueLogouts stores logout deliveries in one transaction, pending
	// with their NextAttemptAt, and returns them with IDs set. Only
	// ClientID, Subject, SID, JTI, NextAttemptAt and CreatedAt are taken
	// from ds. ErrNotFound (nothing stored) if a client does not exist;
	// ErrAlreadyExists if a JTI is taken.
	EnqueueLogouts(ctx context.Context, ds []LogoutDelivery) ([]LogoutDelivery, error)
	// ClaimLogouts takes up to limit pending logout deliveries that are
	// due (NextAttemptAt and LeaseUntil at most now), most overdue first,
	// leases them until now+lease and counts the attempt, exactly as
	// ClaimDeliveries does for webhooks: across every process sharing the
	// database a delivery is leased to one caller at a time.
	ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]LogoutDelivery, error)
	// FinishLogout records an attempt's result (r's State, NextAttemptAt,
	// ResponseStatus, Error, AttemptedAt; the body is not kept) and ends
	// the lease. ErrNotFound if the delivery (or its client) is gone.
	FinishLogout(ctx context.Context, id int64, r DeliveryResult) error
	// ListLogouts lists a client's logout deliveries newest first.
	ListLogouts(ctx context.Context, clientID string, p Page) ([]LogoutDelivery, Cursor, error)
	// PruneLogouts deletes up to batch finished (delivered or failed)
	// logout deliveries last attempted before before, and returns how
	// many it deleted.
	PruneLogouts(ctx context.Context, before time.Time, batch int) (int, error)
}

// LogoutTarget is a client to send a logout token to, and the session
// (sid claim) the token is about; "" for none.
type LogoutTarget struct {
	Client Client
	SID    string
}

// LogoutDelivery is one OpenID Connect back-channel logout token to POST
// to a client's BackchannelLogoutURI: what the token says (the sender
// signs it at each attempt, with the same JTI) and where its delivery
// stands (as a webhook Delivery).
type LogoutDelivery struct {
	ID       int64
	ClientID string
	Subject  string // the sub claim
	SID      string // the sid claim; "" for a user-wide logout
	JTI      string
	State    DeliveryState
	Attempts int
	// NextAttemptAt is when a pending delivery is due; LeaseUntil the
	// end of the lease of a claimed one (zero when not leased).
	NextAttemptAt  time.Time
	LeaseUntil     time.Time
	ResponseStatus int
	Error          string
	AttemptedAt    time.Time
	CreatedAt      time.Time
}
