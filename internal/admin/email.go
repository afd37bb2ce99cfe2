package admin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"latchkey/internal/mail"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// VerifyPath is the page the confirmation link leads to (served by package web).
const VerifyPath = "/user/settings/email/verify"

// Kinds of refusal of a self-service address change, for errors.Is on an
// *Error. Each message is fit to show.
var (
	// ErrNoMail means no SMTP server is configured: an address a user
	// sets cannot be verified, so only administrators set addresses.
	ErrNoMail = errors.New("no mail server")
	// ErrTooSoon means a link was sent to the user a moment ago.
	ErrTooSoon = errors.New("too soon")
	// ErrMailFailed means the mail server did not take the message.
	ErrMailFailed = errors.New("mail not sent")
	// ErrBadLink means a confirmation link is unknown, used, replaced,
	// expired, or another user's; nothing was changed.
	ErrBadLink = errors.New("bad confirmation link")
)

// Mailer sends one mail (a *mail.Sender).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// EmailChanges is the self-service change of a user's own address: the
// new address is only a pending verification until its owner follows the
// single-use link mailed to it, signed in as the same user; only then is
// it the user's address, verified. Addresses set by administrators
// (CreateUser, SetEmail) need no link.
type EmailChanges struct {
	Store   store.Store
	Mailer  Mailer // nil when no SMTP server is configured
	BaseURL string // the issuer, without a trailing slash
	TTL     time.Duration
	Now     func() time.Time
}

// resendInterval is how long a user waits between two links, so that the
// form cannot be used to flood a mailbox.
const resendInterval = time.Minute

// Enabled reports whether users can change their own address (mail can be sent).
func (e *EmailChanges) Enabled() bool { return e != nil && e.Mailer != nil }

// NoMailMessage is what a person is told when they cannot change their
// own address because the server cannot send mail.
const NoMailMessage = "This server cannot send mail (no SMTP server is configured), so addresses cannot be verified " +
	"and you cannot change yours yourself. Ask an administrator to set it."

// Request starts changing u's address to email and reports whether a
// link was sent (false: nothing to confirm, the address is u's already or
// was removed). Removing the address (email "") takes effect at once.
// Refusals are *Error values: ErrInvalid, store.ErrEmailTaken, ErrNoMail,
// ErrTooSoon, ErrMailFailed.
func (e *EmailChanges) Request(ctx context.Context, u store.User, email string) (bool, error) {
	if err := CheckEmail(email); err != nil {
		return false, err
	}
	switch {
	case email == u.Email && (u.EmailVerified || email == ""):
		return false, nil
	case email == "":
		_, err := SetEmail(ctx, e.Store, u.ID, "")
		return false, err
	case !e.Enabled():
		return false, failed(ErrNoMail, "%s", NoMailMessage)
	}
	if other, err := e.Store.GetUserByEmail(ctx, email); err == nil && other.ID != u.ID {
		return false, emailTaken(email)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("look up address: %w", err)
	}
	now := e.Now()
	if p, err := e.Store.PendingEmailVerification(ctx, u.ID); err == nil && now.Sub(p.CreatedAt) < resendInterval {
		return false, failed(ErrTooSoon, "A confirmation link was sent less than a minute ago. Wait a minute before asking for another.")
	}
	token := secret.New(secret.EmailLinkPrefix)
	v := store.EmailVerification{Hash: secret.Hash(token), UserID: u.ID, Email: email, CreatedAt: now, ExpiresAt: now.Add(e.TTL)}
	if err := e.Store.CreateEmailVerification(ctx, v); err != nil {
		return false, fmt.Errorf("store email verification: %w", err)
	}
	if err := e.Mailer.Send(ctx, e.message(u, v, token)); err != nil {
		return false, &Error{Kind: ErrMailFailed, Message: "The confirmation mail could not be sent. Try again later.",
			cause: err}
	}
	return true, nil
}

// message is the mail that carries the link.
func (e *EmailChanges) message(u store.User, v store.EmailVerification, token string) mail.Message {
	link := e.BaseURL + VerifyPath + "?" + url.Values{"token": {token}}.Encode()
	body := strings.Join([]string{
		fmt.Sprintf("Someone, hopefully you, asked to use this address for the account %q at %s.", u.Username, e.BaseURL),
		"",
		fmt.Sprintf("To confirm it, open this link while signed in as %s:", u.Username),
		"",
		link,
		"",
		fmt.Sprintf("The link works once, until %s.", v.ExpiresAt.UTC().Format("2 Jan 2006, 15:04 UTC")),
		"If you did not ask for this, ignore this mail: nothing changes.",
	}, "\n")
	return mail.Message{To: v.Email, Subject: "Confirm your email address", Body: body}
}

// Pending returns the verification a link's token stands for if the
// signed-in user userID may confirm it now, without changing anything;
// an ErrBadLink *Error otherwise.
func (e *EmailChanges) Pending(ctx context.Context, userID int64, token string) (store.EmailVerification, error) {
	v, err := e.Store.GetEmailVerification(ctx, secret.Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		return v, badLink()
	}
	if err != nil {
		return v, fmt.Errorf("load email verification: %w", err)
	}
	return v, e.check(userID)(v)
}

// Confirm redeems the link's token for the signed-in user userID: the
// address becomes theirs, verified, and the link stops working. An
// ErrBadLink *Error (nothing changed) for a link that is unknown, used,
// replaced by a later request or an administrator's change, expired, or
// another user's; store.ErrEmailTaken if the address became someone
// else's meanwhile.
func (e *EmailChanges) Confirm(ctx context.Context, userID int64, token string) (store.User, error) {
	u, err := e.Store.ConfirmEmail(ctx, secret.Hash(token), e.check(userID))
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return u, err
	case errors.Is(err, store.ErrNotFound):
		return u, badLink()
	case errors.Is(err, store.ErrEmailTaken):
		return u, failed(store.ErrEmailTaken, "That email address is already used by another account.")
	case err != nil:
		return u, fmt.Errorf("confirm email: %w", err)
	}
	return u, nil
}

// check refuses a verification that is another user's or has expired.
func (e *EmailChanges) check(userID int64) func(store.EmailVerification) error {
	now := e.Now()
	return func(v store.EmailVerification) error {
		if v.UserID != userID || !now.Before(v.ExpiresAt) {
			return badLink()
		}
		return nil
	}
}

func badLink() error {
	return failed(ErrBadLink, "This confirmation link does not work: it was used already, replaced by a newer one, "+
		"has expired, or belongs to another account. Nothing was changed.")
}
