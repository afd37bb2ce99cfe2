// Package mfa holds the second factors of the sign-in that need no
// browser ceremony: time-based one-time codes (TOTP, RFC 6238) and
// recovery codes. It says what a code is (the parsers), checks codes
// against the factors in the store (a TOTP code is accepted once: its
// time step is recorded under the factor's lock; a recovery code is
// spent atomically), and seals TOTP keys at rest under the
// key-encryption key. The pages that ask for the codes are package web's;
// WebAuthn (passkeys and security keys) is package passkey's.
//
// TOTP follows what authenticator apps expect: SHA-1, 6 digits, 30-second
// steps, and a code of the step before or after the current one is
// accepted too (clock skew). Recovery codes are 10 random codes of 50 bits
// each, shown once and stored as their SHA-256 (secret.Hash): a stolen
// database does not give them away, and 50 random bits cannot be guessed
// from a hash.
package mfa

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// TOTP parameters (RFC 6238 with the values every authenticator app uses).
const (
	Period = 30 * time.Second // one time step
	Digits = 6
	// Skew is how many steps before and after the current one are accepted.
	Skew = 1
	// keySize is the size of a TOTP key in bytes (160 bits, RFC 4226 §4).
	keySize = 20
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// sealPurpose is the HKDF info of the key that seals TOTP keys.
const sealPurpose = "latchkey totp keys"

// Factors checks and enrols second factors in the store.
type Factors struct {
	store  store.Store
	sealer *secret.Sealer
	now    func() time.Time
}

// New returns the factors of st, sealing TOTP keys under the 32-byte
// key-encryption key kek; now is the clock (nil: time.Now).
func New(st store.Store, kek []byte, now func() time.Time) (*Factors, error) {
	s, err := secret.NewSealer(kek, sealPurpose)
	if err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Factors{store: st, sealer: s, now: now}, nil
}

// Enrolment is a TOTP key being added: its secret (base32, no padding, as
// apps take it typed) and its otpauth:// URI (for the QR code). Nothing is
// stored until Confirm.
type Enrolment struct {
	Secret string
	URL    string
}

// NewEnrolment draws a TOTP key for account at issuer (the names an
// authenticator app shows).
func NewEnrolment(issuer, account string) (Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account,
		Period: uint(Period / time.Second), SecretSize: keySize, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, fmt.Errorf("mfa: new TOTP key: %w", err)
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// ParseSecret checks a TOTP secret as NewEnrolment gives it (and as a form
// sends it back): base32 of a 20-byte key, case and padding ignored. It
// returns the canonical form.
func ParseSecret(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimRight(strings.TrimSpace(s), "="))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	key, err := enc.DecodeString(s)
	// The canonical form only: the decoder takes trailing characters
	// that carry no whole byte.
	if err != nil || len(key) != keySize || enc.EncodeToString(key) != s {
		return "", false
	}
	return s, true
}

// ParseCode reads a TOTP code as a person types it: 6 digits, spaces
// allowed (apps show "123 456").
func ParseCode(s string) (string, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if len(s) != Digits {
		return "", false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return s, true
}

// Step returns the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code returns the TOTP code of secret (base32) for time step step. Tests
// and the enrolment check use it; a sign-in uses CheckTOTP.
func Code(secretB32 string, step int64) (string, error) {
	if step < 0 {
		return "", errors.New("mfa: negative time step")
	}
	return hotp.GenerateCodeCustom(secretB32, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// match returns the step within Skew of now whose code is code, and
// whether there is one. The latest matching step wins.
func match(secretB32, code string, now time.Time) (int64, bool) {
	cur := Step(now)
	for step := cur + Skew; step >= cur-Skew; step-- {
		want, err := Code(secretB32, step)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// CheckEnrolment reports whether code is a current code of secret: the
// confirmation that the person's app holds the key.
func CheckEnrolment(secretB32, code string, now time.Time) bool {
	code, ok := ParseCode(code)
	if !ok {
		return false
	}
	_, ok = match(secretB32, code, now)
	return ok
}

// additional binds a sealed TOTP key to its user.
func additional(userID int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("user:"), uint64(userID))
}

// AddTOTP stores a confirmed TOTP key for the user, sealed, with the step
// of the confirming code as its last step (that code is spent), and
// returns the factor.
func (f *Factors) AddTOTP(ctx context.Context, userID int64, name, secretB32, code string) (store.Factor, error) {
	canonical, ok := ParseSecret(secretB32)
	if !ok {
		return store.Factor{}, errors.New("mfa: not a TOTP secret")
	}
	code, ok = ParseCode(code)
	if !ok {
		return store.Factor{}, ErrWrongCode
	}
	now := f.now()
	step, ok := match(canonical, code, now)
	if !ok {
		return store.Factor{}, ErrWrongCode
	}
	sealed, err := f.sealer.Seal([]byte(canonical), additional(userID))
	if err != nil {
		return store.Factor{}, err
	}
	return f.store.CreateFactor(ctx, store.Factor{UserID: userID, Kind: store.FactorTOTP, Name: name,
		Secret: sealed, LastStep: step, CreatedAt: now})
}

// ErrWrongCode is a code that is not (or no longer) good.
var ErrWrongCode = errors.New("mfa: wrong code")

// errReplayed is returned inside UpdateFactor for a step already used.
var errReplayed = errors.New("mfa: code already used")

// CheckTOTP checks a code against the user's TOTP factors and spends it:
// it returns the factor the code belongs to, or ErrWrongCode when the
// code is malformed, belongs to none, or its time step is not later than
// the last one the factor accepted (a code is good once, and once a code
// was used no older one is). The step is recorded under the factor's
// lock (store.UpdateFactor), so of two simultaneous uses of one code one
// fails.
func (f *Factors) CheckTOTP(ctx context.Context, userID int64, code string) (store.Factor, error) {
	code, ok := ParseCode(code)
	if !ok {
		return store.Factor{}, ErrWrongCode
	}
	factors, err := f.store.ListFactors(ctx, userID)
	if err != nil {
		return store.Factor{}, err
	}
	now := f.now()
	for _, factor := range factors {
		if factor.Kind != store.FactorTOTP {
			continue
		}
		plain, err := f.sealer.Open(factor.Secret, additional(userID))
		if err != nil {
			return store.Factor{}, fmt.Errorf("mfa: TOTP key of factor %d: %w", factor.ID, err)
		}
		step, ok := match(string(plain), code, now)
		if !ok {
			continue
		}
		updated, err := f.store.UpdateFactor(ctx, userID, factor.ID, func(cur store.Factor) (store.Factor, error) {
			if step <= cur.LastStep {
				return cur, errReplayed
			}
			cur.LastStep, cur.LastUsedAt = step, now
			return cur, nil
		})
		if errors.Is(err, errReplayed) || errors.Is(err, store.ErrNotFound) {
			return store.Factor{}, ErrWrongCode
		}
		return updated, err
	}
	return store.Factor{}, ErrWrongCode
}

// recoveryEncoding writes recovery codes: RFC 4648 base32 in lower case
// (no 0, 1, 8 or 9 to confuse with letters).
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewRecoveryCodes draws RecoveryCodeCount codes of the form
// "xxxxx-xxxxx" (50 random bits each) and returns them with their hashes
// for the store.
func NewRecoveryCodes() (codes, hashes []string) {
	for range RecoveryCodeCount {
		b := make([]byte, 7)
		_, _ = rand.Read(b)
		s := recoveryEncoding.EncodeToString(b)[:10]
		codes = append(codes, s[:5]+"-"+s[5:])
		hashes = append(hashes, secret.Hash(s))
	}
	return codes, hashes
}

// ParseRecoveryCode reads a recovery code as a person types it (case,
// spaces and dashes ignored) and returns its canonical form (the 10
// letters and digits that are hashed).
func ParseRecoveryCode(s string) (string, bool) {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c == '-' || c == ' ':
		case c >= 'a' && c <= 'z' || c >= '2' && c <= '7':
			b.WriteRune(c)
		default:
			return "", false
		}
		if b.Len() > 10 {
			return "", false
		}
	}
	if b.Len() != 10 {
		return "", false
	}
	return b.String(), true
}

// GenerateRecoveryCodes replaces the user's recovery codes by new ones
// and returns them (to show once).
func (f *Factors) GenerateRecoveryCodes(ctx context.Context, userID int64) ([]string, error) {
	codes, hashes := NewRecoveryCodes()
	if err := f.store.ReplaceRecoveryCodes(ctx, userID, hashes, f.now()); err != nil {
		return nil, err
	}
	return codes, nil
}

// UseRecoveryCode spends one of the user's recovery codes; ErrWrongCode
// if it is malformed, not theirs or already used.
func (f *Factors) UseRecoveryCode(ctx context.Context, userID int64, code string) error {
	canonical, ok := ParseRecoveryCode(code)
	if !ok {
		return ErrWrongCode
	}
	err := f.store.UseRecoveryCode(ctx, userID, secret.Hash(canonical), f.now())
	if errors.Is(err, store.ErrNotFound) {
		return ErrWrongCode
	}
	return err
}

// Has reports whether the user has a second factor (recovery codes alone
// are none: they stand in for a lost factor).
func (f *Factors) Has(ctx context.Context, userID int64) (bool, error) {
	factors, err := f.store.ListFactors(ctx, userID)
	return len(factors) > 0, err
}
