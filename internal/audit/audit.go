// Package audit names the security events of the audit trail: the one
// typed list of what Latchkey records (logins, consents, revocations,
// changes to clients, users, permissions, projects and keys). Recording an
// event is the protocol core's (oauth.Provider.Audit); storing it is the
// store's (store.AuditEvent); this package owns only the vocabulary, so
// that every layer spells an event the same way and a reader of the trail
// can find every place that writes one.
package audit

// Event is the dotted name of an audit event: the thing, then what
// happened to it.
type Event string

// Sign-in and account events (the pages).
const (
	Login                Event = "login"
	LoginFailed          Event = "login.failed"
	Logout               Event = "logout"
	PasswordChanged      Event = "password.changed"
	PasswordChangeFailed Event = "password.change_failed"
	AccountUpdated       Event = "account.updated"
	EmailChangeRequested Event = "email.change_requested"
	EmailConfirmed       Event = "email.confirmed"
	// SignedOutEverywhere: the user ended every session of theirs and
	// revoked every application's tokens (the account page's button, or
	// the box on the password form).
	SignedOutEverywhere Event = "account.signed_out_everywhere"
)

// Second-factor events (the sign-in, the security page, the admin pages
// and the command line).
const (
	// LoginFactorFailed: a wrong TOTP or recovery code at the sign-in's
	// factor step (the password was right).
	LoginFactorFailed Event = "login.factor_failed"
	FactorAdded       Event = "factor.added"
	FactorRemoved     Event = "factor.removed"
	RecoveryGenerated Event = "recovery.generated"
	RecoveryUsed      Event = "recovery.used"
	// FactorsReset: an administrator removed every factor and recovery
	// code of a user (and ended their sessions).
	FactorsReset Event = "factors.reset"
)

// Authorization events: consent, device approvals, revocation, reuse.
const (
	ConsentGranted       Event = "consent.granted"
	ConsentDenied        Event = "consent.denied"
	DeviceApprove        Event = "device.approve"
	DeviceDeny           Event = "device.deny"
	DeviceCodeRejected   Event = "device.code_rejected"
	AuthorizationRevoked Event = "authorization.revoked"
	TokenRevoked         Event = "token.revoked"
	CodeReused           Event = "code.reused"
	RefreshReused        Event = "refresh.reused"
)

// Client (application) events.
const (
	ClientCreated           Event = "client.created"
	ClientUpdated           Event = "client.updated"
	ClientSecretRegenerated Event = "client.secret_regenerated"
	ClientSuspended         Event = "client.suspended"
	ClientReinstated        Event = "client.reinstated"
	ClientDeleted           Event = "client.deleted"
	// Dynamic client registration (RFC 7591, RFC 7592): a client
	// registered itself, or changed or deleted its own registration with
	// its registration access token.
	ClientRegistered          Event = "client.registered"
	ClientRegistrationUpdated Event = "client.registration_updated"
	ClientRegistrationDeleted Event = "client.registration_deleted"
)

// Administration events: users, permissions, projects, repositories, keys.
const (
	UserCreated  Event = "user.created"
	UserUpdated  Event = "user.updated"
	UserDeleted  Event = "user.deleted"
	UserEnabled  Event = "user.enabled"
	UserDisabled Event = "user.disabled"
	// UserSignedOut: an administrator (page or CLI) ended every session
	// of a user and revoked every application's tokens of theirs.
	UserSignedOut     Event = "user.signed_out"
	PermissionGranted Event = "permission.granted"
	PermissionRevoked Event = "permission.revoked"
	ProjectCreated    Event = "project.created"
	ProjectUpdated    Event = "project.updated"
	ProjectDeleted    Event = "project.deleted"
	RepoCreated       Event = "repo.created"
	RepoUpdated       Event = "repo.updated"
	RepoDeleted       Event = "repo.deleted"
	// Webhook events: a repository administrator created, changed or
	// deleted a webhook (a webhook's target receives the repository's
	// events, so where they go is recorded).
	WebhookCreated    Event = "webhook.created"
	WebhookUpdated    Event = "webhook.updated"
	WebhookDeleted    Event = "webhook.deleted"
	SigningKeyRotated Event = "signing_key.rotated"
	// Identity events (package identity): a person linked an upstream
	// provider's identity to their account, or removed the link; an
	// administrator added, changed, enabled, disabled, moved, deleted or
	// synchronised an identity source.
	IdentityLinked   Event = "identity.linked"
	IdentityUnlinked Event = "identity.unlinked"
)

// Events lists every event, in the order of the declarations above.
func Events() []Event {
	return []Event{
		Login, LoginFailed, Logout, PasswordChanged, PasswordChangeFailed, AccountUpdated,
		EmailChangeRequested, EmailConfirmed, SignedOutEverywhere,
		LoginFactorFailed, FactorAdded, FactorRemoved, RecoveryGenerated, RecoveryUsed, FactorsReset,
		ConsentGranted, ConsentDenied, DeviceApprove, DeviceDeny, DeviceCodeRejected,
		AuthorizationRevoked, TokenRevoked, CodeReused, RefreshReused,
		ClientCreated, ClientUpdated, ClientSecretRegenerated, ClientSuspended, ClientReinstated, ClientDeleted,
		ClientRegistered, ClientRegistrationUpdated, ClientRegistrationDeleted,
		UserCreated, UserUpdated, UserDeleted, UserEnabled, UserDisabled, UserSignedOut, PermissionGranted, PermissionRevoked,
		ProjectCreated, ProjectUpdated, ProjectDeleted, RepoCreated, RepoUpdated, RepoDeleted,
		WebhookCreated, WebhookUpdated, WebhookDeleted, SigningKeyRotated,
		IdentityLinked, IdentityUnlinked,
	}
}
