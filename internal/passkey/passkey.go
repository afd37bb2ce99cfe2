// Package passkey is Latchkey's WebAuthn relying party: it enrols
// passkeys and security keys as second factors (store.FactorWebAuthn) and
// runs the two sign-in ceremonies that use them, as the second step after a
// password and as a password-less sign-in with a discoverable credential
// (a passkey) that verified its user.
//
// The relying party ID is the host of the base URL and the only origin the
// base URL itself, so a credential made for Latchkey is refused anywhere
// else, and an assertion collected by another site is refused here.
//
// Every ceremony has two halves, Begin and Finish, which may run on
// different nodes. Begin returns the options for the browser's
// navigator.credentials call and a sealed state (the challenge and what
// the ceremony expects) that the caller hands to the browser in an
// HttpOnly cookie; Finish opens the state again. The state is encrypted
// and authenticated (AES-256-GCM under a key kept in the database, so every
// node opens every other node's states), bound to its purpose and to the
// user it was begun for, and expires after StateTTL; the browser can carry
// it but can neither read nor change it, so the challenge never comes from
// the client.
//
// A credential's signature counter may only grow: an assertion whose
// counter is not above the stored one, where either is non-zero, is
// refused as a sign of a cloned authenticator (ErrCloned). The check and
// the update run under the store's lock on the factor (UpdateFactor), so
// two concurrent uses of one assertion counter cannot both pass.
package passkey

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"latchkey/internal/store"
)

// StateTTL is how long a begun ceremony may wait for its finish.
const StateTTL = 5 * time.Minute

// MaxResponse bounds the size of a browser's response the package parses.
const MaxResponse = 32 << 10

// Purpose is what a ceremony is for. A state begun for one purpose does not
// open for another.
type Purpose string

// The ceremonies.
const (
	Register     Purpose = "register"      // enrol a passkey or security key
	SecondFactor Purpose = "second-factor" // the step after the password
	SignIn       Purpose = "sign-in"       // a password-less sign-in with a passkey
)

// Methods (RFC 8176) a finished sign-in ceremony adds up to.
var (
	// SecondFactorAMR: a password, then a security key or passkey.
	SecondFactorAMR = []string{"pwd", "hwk", "mfa"}
	// PasskeyAMR: a passkey alone, which verified its user (a PIN or a
	// biometric on the authenticator), so it counts as two factors.
	PasskeyAMR = []string{"hwk", "user", "mfa"}
)

// ErrNoDomain: the base URL's host is an IP address, which browsers do
// not accept as a relying party ID; passkeys need a host name.
var ErrNoDomain = errors.New("passkey: the base URL's host is an IP address; security keys and passkeys need a host name (localhost will do for development)")

// Errors of Finish. Each is a refusal of what the browser sent, never a
// fault of the server; callers answer them with one message and may log
// or audit which it was.
var (
	// ErrState: the state is missing, expired, forged or was begun for
	// another purpose or user.
	ErrState = errors.New("passkey: the ceremony expired or was not begun here")
	// ErrResponse: the browser's response does not verify (wrong
	// challenge, origin or relying party, bad signature, no user
	// verification where it is required, malformed).
	ErrResponse = errors.New("passkey: the authenticator's response does not verify")
	// ErrUnknownCredential: no factor, or none of this user, has the
	// credential.
	ErrUnknownCredential = errors.New("passkey: the credential is not registered")
	// ErrCloned: the signature counter did not grow.
	ErrCloned = errors.New("passkey: the signature counter went back: the authenticator may be cloned")
	// ErrAlreadyRegistered: the credential is registered already.
	ErrAlreadyRegistered = errors.New("passkey: the credential is registered already")
	// ErrNoCredentials: the user has no passkey or security key.
	ErrNoCredentials = errors.New("passkey: the user has no passkey or security key")
)

// Config is what the relying party needs.
type Config struct {
	// BaseURL is Latchkey's public base URL: its host is the relying
	// party ID and its origin the only origin accepted.
	BaseURL string
	Store   store.Store
	// Now is the clock of state expiry and of the factors' times.
	Now func() time.Time
	// Name is shown by the authenticator; "Latchkey" when empty.
	Name string
}

// RP is the relying party. It is safe for concurrent use.
type RP struct {
	wa     *webauthn.WebAuthn
	store  store.Store
	now    func() time.Time
	aead   cipher.AEAD
	rpID   string
	origin string
}

// New builds the relying party, loading (or making, on the first node that
// starts) the key that seals ceremony states. It returns ErrNoDomain when
// the base URL's host is an IP address.
func New(ctx context.Context, cfg Config) (*RP, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" {
		return nil, fmt.Errorf("passkey: the base URL %q is no http(s) URL", cfg.BaseURL)
	}
	if _, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		return nil, ErrNoDomain
	}
	origin := u.Scheme + "://" + u.Host
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Name == "" {
		cfg.Name = "Latchkey"
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: cfg.Name,
		RPOrigins:     []string{origin},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: StateTTL, TimeoutUVD: StateTTL},
			Registration: webauthn.TimeoutConfig{Timeout: StateTTL, TimeoutUVD: StateTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: relying party: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	key, err = cfg.Store.EnsureSecret(ctx, "webauthn-state-key", key)
	if err != nil {
		return nil, fmt.Errorf("passkey: load the state key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("passkey: state cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("passkey: state cipher: %w", err)
	}
	return &RP{wa: wa, store: cfg.Store, now: cfg.Now, aead: aead, rpID: u.Hostname(), origin: origin}, nil
}

// RPID returns the relying party ID (the base URL's host).
func (rp *RP) RPID() string { return rp.rpID }

// Ceremony is a begun ceremony: Options is the JSON object to hand to the
// browser (its publicKey member is the argument of
// navigator.credentials.create or .get, binary values base64url-encoded),
// State the sealed state to keep in an HttpOnly cookie until Finish.
type Ceremony struct {
	Options json.RawMessage
	State   string
}

// Result is a finished sign-in ceremony.
type Result struct {
	UserID int64
	Factor store.Factor // the factor used, after the update of its counter
	// UserVerified says the authenticator verified its user.
	UserVerified bool
	// AMR are the RFC 8176 methods of the whole sign-in (SecondFactorAMR
	// or PasskeyAMR).
	AMR []string
}

// UserHandle is the WebAuthn user handle of a Latchkey user: the user ID,
// 8 bytes big-endian. It names no person and is the same on every
// credential of the user.
func UserHandle(userID int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(userID))
}

// user is a Latchkey user as the WebAuthn library sees it.
type user struct {
	id    int64
	name  string
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return UserHandle(u.id) }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.name }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// loadUser returns u with its WebAuthn credentials and their factors, in
// the same order.
func (rp *RP) loadUser(ctx context.Context, u store.User) (*user, []store.Factor, error) {
	factors, err := rp.store.ListFactors(ctx, u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: list factors: %w", err)
	}
	out := &user{id: u.ID, name: u.Username}
	var kept []store.Factor
	for _, f := range factors {
		if f.Kind != store.FactorWebAuthn {
			continue
		}
		c, err := Credential(f)
		if err != nil {
			return nil, nil, err
		}
		out.creds = append(out.creds, c)
		kept = append(kept, f)
	}
	return out, kept, nil
}

// Credential decodes the WebAuthn credential a factor holds.
func Credential(f store.Factor) (webauthn.Credential, error) {
	var c webauthn.Credential
	if f.Kind != store.FactorWebAuthn {
		return c, fmt.Errorf("passkey: factor %d is no WebAuthn factor", f.ID)
	}
	if err := json.Unmarshal(f.Secret, &c); err != nil {
		return c, fmt.Errorf("passkey: decode the credential of factor %d: %w", f.ID, err)
	}
	return c, nil
}

// CredentialID is the store's form of a credential ID (base64url without
// padding).
func CredentialID(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

// IsPasskey reports whether the factor is a discoverable credential that
// verified its user at enrolment, so that it can sign in without a password
// (a passkey rather than a plain security key).
func IsPasskey(f store.Factor) bool {
	c, err := Credential(f)
	return err == nil && c.Flags.UserVerified && discoverable(c)
}

// discoverable reports whether the authenticator said (credProps) the
// credential is discoverable; absent the answer it is assumed to be, as
// the registration asked for one.
func discoverable(c webauthn.Credential) bool {
	return c.Extensions.RK == nil || *c.Extensions.RK
}

// BeginRegistration starts enrolling a passkey or security key for u. It
// asks for a discoverable credential (preferred, so that it can sign in as
// a passkey) with user verification preferred, no attestation, and
// excludes the credentials the user has, so that one authenticator is not
// registered twice.
func (rp *RP) BeginRegistration(ctx context.Context, u store.User) (Ceremony, error) {
	wu, _, err := rp.loadUser(ctx, u)
	if err != nil {
		return Ceremony{}, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range wu.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := rp.wa.BeginRegistration(wu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(exclude),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	if err != nil {
		return Ceremony{}, fmt.Errorf("passkey: begin registration: %w", err)
	}
	return rp.begun(creation, session, Register, u.ID)
}

// FinishRegistration verifies the browser's answer to BeginRegistration
// (response: the PublicKeyCredential as JSON) and stores the credential as
// a factor of u named name. It returns ErrState, ErrResponse or
// ErrAlreadyRegistered when it refuses.
func (rp *RP) FinishRegistration(ctx context.Context, u store.User, state string, response []byte, name string) (store.Factor, error) {
	session, err := rp.open(ctx, state, Register, u.ID)
	if err != nil {
		return store.Factor{}, err
	}
	if len(response) > MaxResponse {
		return store.Factor{}, fmt.Errorf("%w: the response is too large", ErrResponse)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return store.Factor{}, fmt.Errorf("%w: %s", ErrResponse, detail(err))
	}
	wu, _, err := rp.loadUser(ctx, u)
	if err != nil {
		return store.Factor{}, err
	}
	cred, err := rp.wa.CreateCredential(wu, session, parsed)
	if err != nil {
		return store.Factor{}, fmt.Errorf("%w: %s", ErrResponse, detail(err))
	}
	secret, err := json.Marshal(cred)
	if err != nil {
		return store.Factor{}, fmt.Errorf("passkey: encode the credential: %w", err)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Security key"
		if cred.Flags.UserVerified && discoverable(*cred) {
			name = "Passkey"
		}
	}
	now := rp.now()
	f, err := rp.store.CreateFactor(ctx, store.Factor{UserID: u.ID, Kind: store.FactorWebAuthn, Name: name,
		Secret: secret, CredentialID: CredentialID(cred.ID), CreatedAt: now})
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.Factor{}, ErrAlreadyRegistered
	}
	if err != nil {
		return store.Factor{}, fmt.Errorf("passkey: store the credential: %w", err)
	}
	return f, nil
}

// BeginSecondFactor starts the step after the password for u, allowing any
// of u's credentials; ErrNoCredentials when u has none.
func (rp *RP) BeginSecondFactor(ctx context.Context, u store.User) (Ceremony, error) {
	wu, _, err := rp.loadUser(ctx, u)
	if err != nil {
		return Ceremony{}, err
	}
	if len(wu.creds) == 0 {
		return Ceremony{}, ErrNoCredentials
	}
	assertion, session, err := rp.wa.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationDiscouraged))
	if err != nil {
		return Ceremony{}, fmt.Errorf("passkey: begin sign-in: %w", err)
	}
	return rp.begun(assertion, session, SecondFactor, u.ID)
}

// FinishSecondFactor verifies the browser's answer to BeginSecondFactor for
// u and records the use of the credential. It refuses a credential of
// another user (ErrUnknownCredential) and a counter that went back
// (ErrCloned).
func (rp *RP) FinishSecondFactor(ctx context.Context, u store.User, state string, response []byte) (Result, error) {
	session, err := rp.open(ctx, state, SecondFactor, u.ID)
	if err != nil {
		return Result{}, err
	}
	parsed, err := parseAssertion(response)
	if err != nil {
		return Result{}, err
	}
	wu, factors, err := rp.loadUser(ctx, u)
	if err != nil {
		return Result{}, err
	}
	i := indexOf(wu.creds, parsed.RawID)
	if i < 0 {
		return Result{}, ErrUnknownCredential
	}
	cred, err := rp.wa.ValidateLogin(wu, session, parsed)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s", ErrResponse, detail(err))
	}
	return rp.used(ctx, factors[i], cred, parsed, SecondFactorAMR)
}

// BeginSignIn starts a password-less sign-in: the browser offers the
// person the passkeys it holds for this relying party, and the
// authenticator must verify its user.
func (rp *RP) BeginSignIn(ctx context.Context) (Ceremony, error) {
	assertion, session, err := rp.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Ceremony{}, fmt.Errorf("passkey: begin sign-in: %w", err)
	}
	return rp.begun(assertion, session, SignIn, 0)
}

// FinishSignIn verifies the browser's answer to BeginSignIn. The user is
// the one the credential is registered to, and the credential's user
// handle must name them. The caller must still check that the account may
// sign in (not disabled).
func (rp *RP) FinishSignIn(ctx context.Context, state string, response []byte) (Result, error) {
	session, err := rp.open(ctx, state, SignIn, 0)
	if err != nil {
		return Result{}, err
	}
	parsed, err := parseAssertion(response)
	if err != nil {
		return Result{}, err
	}
	f, err := rp.store.GetFactorByCredentialID(ctx, CredentialID(parsed.RawID))
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.Kind != store.FactorWebAuthn) {
		return Result{}, ErrUnknownCredential
	}
	if err != nil {
		return Result{}, fmt.Errorf("passkey: look up the credential: %w", err)
	}
	if !bytes.Equal(parsed.Response.UserHandle, UserHandle(f.UserID)) {
		return Result{}, fmt.Errorf("%w: the user handle does not name the credential's user", ErrUnknownCredential)
	}
	c, err := Credential(f)
	if err != nil {
		return Result{}, err
	}
	wu := &user{id: f.UserID, creds: []webauthn.Credential{c}}
	_, cred, err := rp.wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return wu, nil }, session, parsed)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s", ErrResponse, detail(err))
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return Result{}, fmt.Errorf("%w: the authenticator did not verify its user", ErrResponse)
	}
	return rp.used(ctx, f, cred, parsed, PasskeyAMR)
}

// used records a verified assertion on its factor under the store's lock:
// the counter must have grown since the stored one (the library's check
// ran on a copy read before the lock), then the counter, flags and time of
// use are saved.
func (rp *RP) used(ctx context.Context, f store.Factor, verified *webauthn.Credential, parsed *protocol.ParsedCredentialAssertionData, amr []string) (Result, error) {
	if verified.Authenticator.CloneWarning {
		return Result{}, ErrCloned
	}
	count := parsed.Response.AuthenticatorData.Counter
	now := rp.now()
	updated, err := rp.store.UpdateFactor(ctx, f.UserID, f.ID, func(cur store.Factor) (store.Factor, error) {
		c, err := Credential(cur)
		if err != nil {
			return cur, err
		}
		if (count != 0 || c.Authenticator.SignCount != 0) && count <= c.Authenticator.SignCount {
			return cur, ErrCloned
		}
		c.Authenticator.SignCount = count
		c.Flags = verified.Flags
		secret, err := json.Marshal(c)
		if err != nil {
			return cur, err
		}
		cur.Secret, cur.LastUsedAt = secret, now
		return cur, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, ErrUnknownCredential // removed meanwhile
	}
	if err != nil {
		if errors.Is(err, ErrCloned) {
			return Result{}, ErrCloned
		}
		return Result{}, fmt.Errorf("passkey: record the use of factor %d: %w", f.ID, err)
	}
	return Result{UserID: f.UserID, Factor: updated,
		UserVerified: parsed.Response.AuthenticatorData.Flags.HasUserVerified(), AMR: amr}, nil
}

func parseAssertion(response []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(response) > MaxResponse {
		return nil, fmt.Errorf("%w: the response is too large", ErrResponse)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrResponse, detail(err))
	}
	return parsed, nil
}

func indexOf(creds []webauthn.Credential, id []byte) int {
	for i, c := range creds {
		if bytes.Equal(c.ID, id) {
			return i
		}
	}
	return -1
}

// detail is the library's reason for a refusal, for logs.
func detail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.DevInfo != "" {
			return pe.Details + " (" + pe.DevInfo + ")"
		}
		return pe.Details
	}
	return err.Error()
}

// sealed is what a state carries.
type sealed struct {
	Session webauthn.SessionData `json:"s"`
	Expires int64                `json:"e"` // unix milliseconds
}

// begun seals the ceremony's session data for purpose and userID.
func (rp *RP) begun(options any, session *webauthn.SessionData, purpose Purpose, userID int64) (Ceremony, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return Ceremony{}, fmt.Errorf("passkey: encode the options: %w", err)
	}
	s := *session
	s.Expires = time.Time{} // expiry is ours, on our clock
	plain, err := json.Marshal(sealed{Session: s, Expires: rp.now().Add(StateTTL).UnixMilli()})
	if err != nil {
		return Ceremony{}, fmt.Errorf("passkey: encode the state: %w", err)
	}
	nonce := make([]byte, rp.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Ceremony{}, err
	}
	box := rp.aead.Seal(nonce, nonce, plain, additional(purpose, userID))
	return Ceremony{Options: opts, State: base64.RawURLEncoding.EncodeToString(box)}, nil
}

// open returns the session data of a state sealed for purpose and userID
// that has not expired; ErrState otherwise.
//
// A state opens once: its challenge is marked used in the store (on any
// node), so that a captured state and answer cannot be replayed within
// its lifetime, also for a synced passkey whose counter stays 0. A
// finish that fails after opening needs a new begin.
func (rp *RP) open(ctx context.Context, state string, purpose Purpose, userID int64) (webauthn.SessionData, error) {
	box, err := base64.RawURLEncoding.DecodeString(state)
	n := rp.aead.NonceSize()
	if err != nil || len(box) < n+rp.aead.Overhead() {
		return webauthn.SessionData{}, ErrState
	}
	plain, err := rp.aead.Open(nil, box[:n], box[n:], additional(purpose, userID))
	if err != nil {
		return webauthn.SessionData{}, ErrState
	}
	var s sealed
	if err := json.Unmarshal(plain, &s); err != nil {
		return webauthn.SessionData{}, ErrState
	}
	if !rp.now().Before(time.UnixMilli(s.Expires)) {
		return webauthn.SessionData{}, fmt.Errorf("%w: it expired", ErrState)
	}
	err = rp.store.UseOnce(ctx, "webauthn:"+s.Session.Challenge, time.UnixMilli(s.Expires))
	if errors.Is(err, store.ErrAlreadyExists) {
		return webauthn.SessionData{}, fmt.Errorf("%w: it was already used", ErrState)
	}
	if err != nil {
		return webauthn.SessionData{}, fmt.Errorf("passkey: mark the challenge used: %w", err)
	}
	return s.Session, nil
}

// additional binds a sealed state to its purpose and user.
func additional(purpose Purpose, userID int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("latchkey webauthn "+string(purpose)+" "), uint64(userID))
}
