// Package config holds the settings of a Latchkey process: flags, each with
// a LATCHKEY_* environment variable as its default, and the production rules
// on base URL and redirect URIs.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"latchkey/internal/mail"
	"latchkey/internal/outbound"
	"latchkey/internal/scope"
)

// Config is the whole configuration of a Latchkey process.
type Config struct {
	Listen               string
	BaseURL              string
	DB                   string
	DataDir              string
	SkipBaseURLHTTPS     bool
	SkipRedirectURLHTTPS bool
	AccessTokenTTL       time.Duration
	RefreshTokenTTL      time.Duration
	// RefreshGracePeriod is how long after a rotation the refresh token it
	// replaced is still answered instead of revoking its grant (0: off).
	RefreshGracePeriod    time.Duration
	CodeTTL               time.Duration
	SessionTTL            time.Duration
	ShutdownTimeout       time.Duration
	CleanupInterval       time.Duration // 0 disables the background cleaner
	LogLevel              string
	DisableAdminBootstrap bool
	KeyEncryptionKey      string
	IDTokenAlgorithm      string
	PreregisteredClients  string
	TrustedProxies        string
	AuditRetention        time.Duration
	Git                   Git
	// Rate limits of the token, device authorization, revocation,
	// introspection and authorization endpoints: RateLimitPerClient
	// requests per client and RateLimitPerAddress per source address, each
	// per endpoint and per RateLimitWindow (that many at once at most). 0
	// disables one; the zero Config limits nothing, the flags' defaults do.
	RateLimitWindow     time.Duration
	RateLimitPerClient  int
	RateLimitPerAddress int
	SMTP                SMTP
	// EmailVerificationTTL is how long the link that confirms an address works.
	EmailVerificationTTL time.Duration
	// KeyEncryptionKeyFile names a file holding the key-encryption key
	// (its base64), kept anywhere: the form to prefer over a flag value.
	KeyEncryptionKeyFile string
	Webhook              Webhook
	// BackchannelLogout is how the node sends back-channel logout tokens.
	BackchannelLogout BackchannelLogout
	// RequireSecondFactor is the second-factor policy: "off" (also when
	// empty), "admins" (users with a global admin permission) or
	// "everyone". A user the policy covers who has no factor is led to
	// enrol one after the password, before a session starts.
	RequireSecondFactor string
	// Registration is the dynamic client registration policy (RFC 7591):
	// "off" (also when empty), "open" or "token" (package register).
	Registration string
	// RegistrationScopes are the scopes, space-separated, that
	// self-registered clients may ever be given; empty: register.DefaultScopes.
	RegistrationScopes string
	// RegistrationUnusedAfter is how long a self-registered client may go
	// without a new or used token family before the cleanup deletes it;
	// 0 keeps them.
	RegistrationUnusedAfter time.Duration
	ClientMetadata          ClientMetadata
	// IdentityAllowedInternalHosts lists, comma-separated, the upstream
	// OpenID Connect providers' hosts, IP addresses and CIDR prefixes that
	// may be reached although they are loopback, link-local or private
	// (package outbound).
	IdentityAllowedInternalHosts string
	// PprofListen is a loopback address where a separate listener serves
	// Go's /debug/pprof/ profiles (for the load benchmark); empty: none.
	// The profiles are never served on the public listener.
	PprofListen string
}

// ClientMetadata is how the node treats client ID metadata documents
// (package clientmeta): a client_id that is the https URL of a JSON
// document describing the client.
type ClientMetadata struct {
	// Documents is "on" (the default; also when empty) or "off".
	Documents string
	// Hosts, comma-separated, are the only hosts whose documents are
	// fetched; empty: any public host.
	Hosts string
	// AllowedInternalHosts lists, comma-separated, the host names, IP
	// addresses and CIDR prefixes that may be fetched from although they
	// are loopback, link-local or private (package outbound).
	AllowedInternalHosts string
}

// Off reports whether documents are switched off.
func (m ClientMetadata) Off() bool { return m.Documents == "off" }

// HostList is Hosts as a list.
func (m ClientMetadata) HostList() []string {
	var out []string
	for h := range strings.SplitSeq(m.Hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// validate refuses client metadata settings that cannot work.
func (m ClientMetadata) validate() error {
	if m.Documents != "" && m.Documents != "on" && m.Documents != "off" {
		return fmt.Errorf("--client-metadata-documents must be on or off, not %q", m.Documents)
	}
	for _, h := range m.HostList() {
		if strings.ContainsAny(h, "/:@ ") {
			return fmt.Errorf("--client-metadata-hosts: %q is not a host name", h)
		}
	}
	if _, err := outbound.ParseAllowList(m.AllowedInternalHosts); err != nil {
		return fmt.Errorf("--client-metadata-allowed-internal-hosts: %w", err)
	}
	return nil
}

// Webhook is how the node sends webhook deliveries. A zero field takes its
// default (package webhook's).
type Webhook struct {
	// AllowedHosts lists, comma-separated, the host names, IP addresses
	// and CIDR prefixes that webhooks may reach although they are
	// loopback, link-local or private (package outbound).
	AllowedHosts string
	Timeout      time.Duration // one attempt, answer included
	MaxAttempts  int           // attempts before a delivery is marked failed
	RetryBackoff time.Duration // wait after the first failed attempt, doubled after each further one
	PollInterval time.Duration // how often a node looks for due deliveries it was not told of
}

// BackchannelLogout is how the node sends OpenID Connect back-channel
// logout tokens (package logout). A zero field takes package logout's
// default.
type BackchannelLogout struct {
	// AllowedHosts lists, comma-separated, the host names, IP addresses
	// and CIDR prefixes that logout tokens may be sent to although they
	// are loopback, link-local or private (package outbound).
	AllowedHosts string
	RetryBackoff time.Duration
	PollInterval time.Duration
}

// Defaults of the webhook settings.
const (
	DefaultWebhookTimeout      = 10 * time.Second
	DefaultWebhookMaxAttempts  = 8
	DefaultWebhookRetryBackoff = 10 * time.Second
	DefaultWebhookPollInterval = 5 * time.Second
)

// SMTP is the mail server that sends the links confirming email
// addresses. Without Host, no mail is sent and people cannot change their
// own address (administrators set addresses). The password is never a
// flag, whose value would show in the process list: it comes from the
// environment (LATCHKEY_SMTP_PASSWORD) or from PasswordFile.
type SMTP struct {
	Host          string
	Port          int
	From          string
	Username      string
	PasswordFile  string
	TLS           string // starttls, tls or none
	AllowInsecure bool   // allows TLS none to a host that is not loopback
	Timeout       time.Duration
}

// Git is how the node bounds git over HTTP. The process bounds are per
// node: git processes run on the node that took the request. A zero
// duration or process count takes its default.
type Git struct {
	IdleTimeout           time.Duration // longest wait for one read of a request or one write of a response
	MaxDuration           time.Duration // ceiling on one request's transfer, however steadily data flows
	MaxProcesses          int           // git requests running at once on this node
	MaxProcessesPerCaller int           // of those, per user (anonymous callers: per client address)
	MaxPushSize           int64         // bytes of pack one push may send (git's receive.maxInputSize); 0: no limit
}

// Defaults of the git settings.
const (
	DefaultGitIdleTimeout           = time.Minute
	DefaultGitMaxDuration           = time.Hour
	DefaultGitMaxProcesses          = 64
	DefaultGitMaxProcessesPerCaller = 8
	DefaultGitMaxPushSize           = 2 << 30
)

// Defaults.
const (
	// The rate limits' defaults (see README.md): a burst of 1200 requests
	// from one client and 600 from one address per endpoint, then 20 and
	// 10 a second, far above what a person or an application needs and
	// far below what fills the database.
	DefaultRateLimitWindow     = time.Minute
	DefaultRateLimitPerClient  = 1200
	DefaultRateLimitPerAddress = 600

	DefaultListen  = "127.0.0.1:8080"
	DefaultBaseURL = "http://localhost:8080"
	// MaxRefreshGracePeriod bounds --refresh-grace-period: long enough for
	// a retry or a second tab, short enough to keep reuse detection.
	MaxRefreshGracePeriod = time.Minute
	DefaultDataDir        = "data"
)

// env reads LATCHKEY_<name>.
func env(name, def string) string {
	if v, ok := os.LookupEnv("LATCHKEY_" + name); ok {
		return v
	}
	return def
}

func envBool(name string) bool {
	v, _ := strconv.ParseBool(env(name, "false"))
	return v
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(env(name, "")); err == nil {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(env(name, "")); err == nil {
		return d
	}
	return def
}

// RegisterStorageFlags registers the flags every subcommand takes.
func (c *Config) RegisterStorageFlags(fs *flag.FlagSet) {
	c.DB = env("DB", "")
	fs.Var((*dsnValue)(&c.DB), "db", "database: a SQLite file path or a postgres:// `DSN`, shown with its credentials redacted (env LATCHKEY_DB; default DATA_DIR/latchkey.db)")
	fs.StringVar(&c.DataDir, "data-dir", env("DATA_DIR", DefaultDataDir), "directory for the SQLite database and other data (env LATCHKEY_DATA_DIR)")
	fs.BoolVar(&c.SkipRedirectURLHTTPS, "skip-redirect-url-https-requirement", envBool("SKIP_REDIRECT_URL_HTTPS_REQUIREMENT"),
		"allow plain-http redirect URIs to any host: for development only (env LATCHKEY_SKIP_REDIRECT_URL_HTTPS_REQUIREMENT)")
	c.KeyEncryptionKey = env("KEY_ENCRYPTION_KEY", "")
	fs.Var((*secretValue)(&c.KeyEncryptionKey), "key-encryption-key",
		"base64 of 32 random bytes that encrypt the signing keys at rest; required with PostgreSQL (this or the file), the same on every node; "+
			"prefer the env LATCHKEY_KEY_ENCRYPTION_KEY or --key-encryption-key-file, a flag value shows in the process list "+
			"(default with SQLite: the file key-encryption.key beside the database)")
	fs.StringVar(&c.KeyEncryptionKeyFile, "key-encryption-key-file", env("KEY_ENCRYPTION_KEY_FILE", ""),
		"file holding the key-encryption key (its base64), e.g. outside the data directory; mode 0600 (env LATCHKEY_KEY_ENCRYPTION_KEY_FILE)")
	fs.StringVar(&c.IDTokenAlgorithm, "id-token-alg", env("ID_TOKEN_ALG", "RS256"), "ID token signing algorithm: RS256, ES256 or EdDSA (env LATCHKEY_ID_TOKEN_ALG)")
	fs.StringVar(&c.LogLevel, "log-level", env("LOG_LEVEL", "info"), "log level: debug, info, warn, error (env LATCHKEY_LOG_LEVEL)")
}

// dsnValue is the --db flag. Its String, which the flag package prints as
// the default in usage and error messages, is the DSN redacted.
type dsnValue string

func (v *dsnValue) String() string { return RedactDSN(string(*v)) }

func (v *dsnValue) Set(s string) error {
	*v = dsnValue(s)
	return nil
}

// secretValue is a flag whose value is a secret: usage and flag errors
// show that it is set, never the value.
type secretValue string

func (v *secretValue) String() string {
	if v == nil || *v == "" {
		return ""
	}
	return "(set)"
}

func (v *secretValue) Set(s string) error {
	*v = secretValue(s)
	return nil
}

// RegisterServeFlags registers the flags of `latchkey serve`.
func (c *Config) RegisterServeFlags(fs *flag.FlagSet) {
	c.RegisterStorageFlags(fs)
	fs.StringVar(&c.Listen, "listen", env("LISTEN", DefaultListen), "address to listen on (env LATCHKEY_LISTEN)")
	fs.StringVar(&c.BaseURL, "base-url", env("BASE_URL", DefaultBaseURL), "public base URL, also the OAuth issuer (env LATCHKEY_BASE_URL)")
	fs.BoolVar(&c.SkipBaseURLHTTPS, "skip-base-url-https-requirement", envBool("SKIP_BASE_URL_HTTPS_REQUIREMENT"),
		"allow a plain-http base URL that is not loopback: for development only (env LATCHKEY_SKIP_BASE_URL_HTTPS_REQUIREMENT)")
	fs.DurationVar(&c.AccessTokenTTL, "access-token-ttl", envDuration("ACCESS_TOKEN_TTL", time.Hour), "access token lifetime (env LATCHKEY_ACCESS_TOKEN_TTL)")
	fs.DurationVar(&c.RefreshTokenTTL, "refresh-token-ttl", envDuration("REFRESH_TOKEN_TTL", 90*24*time.Hour), "refresh token lifetime (env LATCHKEY_REFRESH_TOKEN_TTL)")
	fs.DurationVar(&c.RefreshGracePeriod, "refresh-grace-period", envDuration("REFRESH_GRACE_PERIOD", 0),
		"for this long after a rotation, the refresh token it replaced gets new tokens instead of revoking the grant (a retry, a second tab); 0 (default) off, at most 60s (env LATCHKEY_REFRESH_GRACE_PERIOD)")
	fs.DurationVar(&c.CodeTTL, "code-ttl", envDuration("CODE_TTL", time.Minute), "authorization code lifetime, at most 10m (env LATCHKEY_CODE_TTL)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", envDuration("SESSION_TTL", 12*time.Hour), "browser session lifetime (env LATCHKEY_SESSION_TTL)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", envDuration("SHUTDOWN_TIMEOUT", 15*time.Second), "how long to drain requests on SIGTERM (env LATCHKEY_SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&c.CleanupInterval, "cleanup-interval", envDuration("CLEANUP_INTERVAL", 5*time.Minute),
		"how often to delete expired codes, sessions and tokens, with jitter; 0 disables (env LATCHKEY_CLEANUP_INTERVAL)")
	fs.StringVar(&c.PreregisteredClients, "preregistered-clients", env("PREREGISTERED_CLIENTS", "git-credential-oauth,git-credential-manager,tea"),
		"comma-separated well-known public clients to register with their published client IDs; empty for none (env LATCHKEY_PREREGISTERED_CLIENTS)")
	fs.DurationVar(&c.AuditRetention, "audit-retention", envDuration("AUDIT_RETENTION", 365*24*time.Hour),
		"how long audit events are kept; 0 keeps them for ever (env LATCHKEY_AUDIT_RETENTION)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", env("TRUSTED_PROXIES", ""),
		"comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (env LATCHKEY_TRUSTED_PROXIES)")
	c.registerGitFlags(fs)
	c.registerSMTPFlags(fs)
	c.registerRateLimitFlags(fs)
	c.registerWebhookFlags(fs)
	c.registerBackchannelLogoutFlags(fs)
	c.registerClientMetadataFlags(fs)
	c.registerRegistrationFlags(fs)
	c.registerIdentityFlags(fs)
	fs.StringVar(&c.RequireSecondFactor, "require-second-factor", env("REQUIRE_SECOND_FACTOR", "off"),
		"who must sign in with a second factor: off, admins or everyone; users it covers without one enrol at their next sign-in (env LATCHKEY_REQUIRE_SECOND_FACTOR)")
	fs.StringVar(&c.PprofListen, "pprof-listen", env("PPROF_LISTEN", ""),
		"loopback address of a separate listener serving Go's /debug/pprof/ profiles, for profiling under load; empty (default): none (env LATCHKEY_PPROF_LISTEN)")
	fs.BoolVar(&c.DisableAdminBootstrap, "no-bootstrap-admin", envBool("NO_BOOTSTRAP_ADMIN"), "do not create an admin user on an empty database (env LATCHKEY_NO_BOOTSTRAP_ADMIN)")
}

// registerGitFlags registers the bounds of git over HTTP.
func (c *Config) registerGitFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Git.IdleTimeout, "git-idle-timeout", envDuration("GIT_IDLE_TIMEOUT", DefaultGitIdleTimeout),
		"a git request whose client sends or takes no data for this long is closed (env LATCHKEY_GIT_IDLE_TIMEOUT)")
	fs.DurationVar(&c.Git.MaxDuration, "git-max-duration", envDuration("GIT_MAX_DURATION", DefaultGitMaxDuration),
		"longest transfer of one clone, fetch or push (env LATCHKEY_GIT_MAX_DURATION)")
	fs.IntVar(&c.Git.MaxProcesses, "git-max-processes", envInt("GIT_MAX_PROCESSES", DefaultGitMaxProcesses),
		"git requests running at once on this node; more answer 503 (env LATCHKEY_GIT_MAX_PROCESSES)")
	fs.IntVar(&c.Git.MaxProcessesPerCaller, "git-max-processes-per-caller", envInt("GIT_MAX_PROCESSES_PER_CALLER", DefaultGitMaxProcessesPerCaller),
		"git requests running at once on this node for one user, or one client address without credentials (env LATCHKEY_GIT_MAX_PROCESSES_PER_CALLER)")
	c.Git.MaxPushSize = DefaultGitMaxPushSize
	if n, err := ParseSize(env("GIT_MAX_PUSH_SIZE", "")); err == nil {
		c.Git.MaxPushSize = n
	}
	fs.Func("git-max-push-size", "largest pack one push may send, in bytes with an optional k, m or g suffix; 0: no limit (env LATCHKEY_GIT_MAX_PUSH_SIZE; default 2g)",
		func(v string) (err error) { c.Git.MaxPushSize, err = ParseSize(v); return err })
}

// ParseSize reads a byte count as git does: a decimal number with an
// optional k, m or g suffix (powers of 1024, either case).
func ParseSize(s string) (int64, error) {
	shift := 0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		}
		if shift > 0 {
			s = s[:n-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("size %q must be a non-negative number of bytes, optionally with k, m or g", s)
	}
	return n << shift, nil
}

// registerSMTPFlags registers the --smtp-* flags and the link lifetime.
func (c *Config) registerSMTPFlags(fs *flag.FlagSet) {
	port, _ := strconv.Atoi(env("SMTP_PORT", "587"))
	fs.StringVar(&c.SMTP.Host, "smtp-host", env("SMTP_HOST", ""),
		"SMTP server that sends the links confirming email addresses; empty: no mail, and people cannot change their own address (env LATCHKEY_SMTP_HOST)")
	fs.IntVar(&c.SMTP.Port, "smtp-port", port, "SMTP server port (env LATCHKEY_SMTP_PORT)")
	fs.StringVar(&c.SMTP.From, "smtp-from", env("SMTP_FROM", ""), "sender address of the mails, e.g. latchkey@example.com (env LATCHKEY_SMTP_FROM)")
	fs.StringVar(&c.SMTP.Username, "smtp-username", env("SMTP_USERNAME", ""), "SMTP user name; empty: no authentication (env LATCHKEY_SMTP_USERNAME)")
	fs.StringVar(&c.SMTP.PasswordFile, "smtp-password-file", env("SMTP_PASSWORD_FILE", ""),
		"file holding the SMTP password (env LATCHKEY_SMTP_PASSWORD_FILE; or the password itself in env LATCHKEY_SMTP_PASSWORD, never a flag)")
	fs.StringVar(&c.SMTP.TLS, "smtp-tls", env("SMTP_TLS", "starttls"),
		"starttls (required upgrade), tls (TLS from the start, port 465) or none (loopback only, unless --smtp-allow-insecure) (env LATCHKEY_SMTP_TLS)")
	fs.BoolVar(&c.SMTP.AllowInsecure, "smtp-allow-insecure", envBool("SMTP_ALLOW_INSECURE"),
		"allow --smtp-tls none to a host that is not loopback: mails then cross the network in clear (env LATCHKEY_SMTP_ALLOW_INSECURE)")
	fs.DurationVar(&c.SMTP.Timeout, "smtp-timeout", envDuration("SMTP_TIMEOUT", 10*time.Second),
		"how long one mail may take (connect, TLS, delivery); the request that sends waits at most this long (env LATCHKEY_SMTP_TIMEOUT)")
	fs.DurationVar(&c.EmailVerificationTTL, "email-verification-ttl", envDuration("EMAIL_VERIFICATION_TTL", 24*time.Hour),
		"how long the link that confirms a new email address works (env LATCHKEY_EMAIL_VERIFICATION_TTL)")
}

// MailConfig returns the settings of the mail sender, with the password
// read from LATCHKEY_SMTP_PASSWORD or the password file, or nil when no
// SMTP host is set. It refuses what ValidateSMTP refuses.
func (c *Config) MailConfig() (*mail.Config, error) {
	if c.SMTP.Host == "" {
		return nil, nil
	}
	if _, err := c.ValidateSMTP(); err != nil {
		return nil, err
	}
	password := os.Getenv("LATCHKEY_SMTP_PASSWORD")
	if c.SMTP.PasswordFile != "" {
		raw, err := os.ReadFile(c.SMTP.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("read --smtp-password-file: %w", err)
		}
		password = strings.TrimRight(string(raw), "\r\n")
	}
	return &mail.Config{Host: c.SMTP.Host, Port: c.SMTP.Port, From: c.SMTP.From, Username: c.SMTP.Username,
		Password: password, TLS: c.SMTP.TLS, Timeout: c.SMTP.Timeout}, nil
}

// ValidateSMTP checks the SMTP settings (none set is valid: no mail) and
// returns warnings to print at start-up.
func (c *Config) ValidateSMTP() ([]string, error) {
	m := c.SMTP
	if m.Host == "" {
		return nil, nil
	}
	if _, err := mail.New(mail.Config{Host: m.Host, Port: m.Port, From: m.From, TLS: m.TLS, Timeout: m.Timeout}); err != nil {
		return nil, fmt.Errorf("SMTP settings: %w (--smtp-host, --smtp-port, --smtp-from, --smtp-tls)", err)
	}
	if m.TLS != mail.NoTLS || isLoopback(m.Host) {
		return nil, nil
	}
	if !m.AllowInsecure {
		return nil, fmt.Errorf("--smtp-tls none sends mail in clear to %s, which is not loopback; use starttls or tls, or set --smtp-allow-insecure", m.Host)
	}
	if m.Username != "" {
		return nil, errors.New("--smtp-username with --smtp-tls none to a host that is not loopback would send the password in clear; use starttls or tls")
	}
	return []string{"INSECURE: mail to " + m.Host + " is sent without TLS (--smtp-allow-insecure)"}, nil

}

// registerRateLimitFlags registers the rate limits' flags.
func (c *Config) registerRateLimitFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.RateLimitWindow, "rate-limit-window", envDuration("RATE_LIMIT_WINDOW", DefaultRateLimitWindow),
		"the window of the rate limits of the token, device, revocation, introspection and authorization endpoints (env LATCHKEY_RATE_LIMIT_WINDOW)")
	fs.IntVar(&c.RateLimitPerClient, "rate-limit-per-client", envInt("RATE_LIMIT_PER_CLIENT", DefaultRateLimitPerClient),
		"requests one client may make to each of those endpoints per window; 0 disables (env LATCHKEY_RATE_LIMIT_PER_CLIENT)")
	fs.IntVar(&c.RateLimitPerAddress, "rate-limit-per-address", envInt("RATE_LIMIT_PER_ADDRESS", DefaultRateLimitPerAddress),
		"requests one source address (an IPv6 /64) may make to each of those endpoints per window; 0 disables (env LATCHKEY_RATE_LIMIT_PER_ADDRESS)")
}

// registerWebhookFlags registers the --webhook-* flags.
func (c *Config) registerWebhookFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Webhook.AllowedHosts, "webhook-allowed-hosts", env("WEBHOOK_ALLOWED_HOSTS", ""),
		"comma-separated host names, IP addresses and CIDRs that webhooks may reach although they are loopback, link-local or private; "+
			"checked against the address a name resolves to at delivery (env LATCHKEY_WEBHOOK_ALLOWED_HOSTS)")
	fs.DurationVar(&c.Webhook.Timeout, "webhook-timeout", envDuration("WEBHOOK_TIMEOUT", DefaultWebhookTimeout),
		"longest time one webhook delivery attempt may take, the receiver's answer included (env LATCHKEY_WEBHOOK_TIMEOUT)")
	fs.IntVar(&c.Webhook.MaxAttempts, "webhook-max-attempts", envInt("WEBHOOK_MAX_ATTEMPTS", DefaultWebhookMaxAttempts),
		"attempts at a webhook delivery before it is marked failed (env LATCHKEY_WEBHOOK_MAX_ATTEMPTS)")
	fs.DurationVar(&c.Webhook.RetryBackoff, "webhook-retry-backoff", envDuration("WEBHOOK_RETRY_BACKOFF", DefaultWebhookRetryBackoff),
		"wait after a failed webhook delivery attempt, doubled after each further one up to an hour (env LATCHKEY_WEBHOOK_RETRY_BACKOFF)")
	fs.DurationVar(&c.Webhook.PollInterval, "webhook-poll-interval", envDuration("WEBHOOK_POLL_INTERVAL", DefaultWebhookPollInterval),
		"how often a node looks for due webhook deliveries (retries, and those other nodes stored) (env LATCHKEY_WEBHOOK_POLL_INTERVAL)")
}

// registerBackchannelLogoutFlags registers the --backchannel-logout-* flags.
func (c *Config) registerBackchannelLogoutFlags(fs *flag.FlagSet) {
	b := &c.BackchannelLogout
	fs.StringVar(&b.AllowedHosts, "backchannel-logout-allowed-hosts", env("BACKCHANNEL_LOGOUT_ALLOWED_HOSTS", ""),
		"comma-separated host names, IP addresses and CIDRs that back-channel logout tokens may be sent to although they are loopback, "+
			"link-local or private (env LATCHKEY_BACKCHANNEL_LOGOUT_ALLOWED_HOSTS)")
	fs.DurationVar(&b.RetryBackoff, "backchannel-logout-retry-backoff", envDuration("BACKCHANNEL_LOGOUT_RETRY_BACKOFF", 5*time.Second),
		"wait after a failed back-channel logout attempt, doubled after each further one up to ten minutes; six attempts in all (env LATCHKEY_BACKCHANNEL_LOGOUT_RETRY_BACKOFF)")
	fs.DurationVar(&b.PollInterval, "backchannel-logout-poll-interval", envDuration("BACKCHANNEL_LOGOUT_POLL_INTERVAL", 5*time.Second),
		"how often a node looks for due back-channel logout tokens (retries, and those other nodes queued) (env LATCHKEY_BACKCHANNEL_LOGOUT_POLL_INTERVAL)")
}

// validate refuses back-channel logout settings that cannot work.
func (b BackchannelLogout) validate() error {
	if b.RetryBackoff < 0 || b.PollInterval < 0 {
		return errors.New("--backchannel-logout-retry-backoff and --backchannel-logout-poll-interval must not be negative")
	}
	if _, err := outbound.ParseAllowList(b.AllowedHosts); err != nil {
		return fmt.Errorf("--backchannel-logout-allowed-hosts: %w", err)
	}
	return nil
}

// registerClientMetadataFlags registers the --client-metadata-* flags.
func (c *Config) registerClientMetadataFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ClientMetadata.Documents, "client-metadata-documents", env("CLIENT_METADATA_DOCUMENTS", "on"),
		"on or off: accept a client_id that is the https URL of a client ID metadata document, fetched and shown as not verified by the administrator (env LATCHKEY_CLIENT_METADATA_DOCUMENTS)")
	fs.StringVar(&c.ClientMetadata.Hosts, "client-metadata-hosts", env("CLIENT_METADATA_HOSTS", ""),
		"comma-separated host names whose client ID metadata documents are accepted; empty: any public host (env LATCHKEY_CLIENT_METADATA_HOSTS)")
	fs.StringVar(&c.ClientMetadata.AllowedInternalHosts, "client-metadata-allowed-internal-hosts", env("CLIENT_METADATA_ALLOWED_INTERNAL_HOSTS", ""),
		"comma-separated host names, IP addresses and CIDRs that client ID metadata documents may be fetched from although they are loopback, link-local or private (env LATCHKEY_CLIENT_METADATA_ALLOWED_INTERNAL_HOSTS)")
}

// Defaults of the dynamic client registration settings.
const (
	DefaultRegistrationScopes      = "read:repository read:user openid profile email offline_access REPO_READ PUBLIC_REPOS"
	DefaultRegistrationUnusedAfter = 30 * 24 * time.Hour
)

// registerRegistrationFlags registers the --registration* flags.
func (c *Config) registerIdentityFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.IdentityAllowedInternalHosts, "identity-allowed-internal-hosts", env("IDENTITY_ALLOWED_INTERNAL_HOSTS", ""),
		"comma-separated host names, IP addresses and CIDR prefixes of upstream OpenID Connect providers that may be reached although they are internal (env LATCHKEY_IDENTITY_ALLOWED_INTERNAL_HOSTS)")
}

func (c *Config) registerRegistrationFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Registration, "registration", env("REGISTRATION", "off"),
		"dynamic client registration (RFC 7591) at /register: off, open (anyone may register a client) or token "+
			"(with an initial access token from `latchkey registration token create`) (env LATCHKEY_REGISTRATION)")
	fs.StringVar(&c.RegistrationScopes, "registration-scopes", env("REGISTRATION_SCOPES", DefaultRegistrationScopes),
		"space-separated scopes self-registered clients may ever be given; others they ask for are dropped (env LATCHKEY_REGISTRATION_SCOPES)")
	fs.DurationVar(&c.RegistrationUnusedAfter, "registration-unused-after", envDuration("REGISTRATION_UNUSED_AFTER", DefaultRegistrationUnusedAfter),
		"the cleanup deletes a self-registered client, or one known by its metadata document, whose tokens were neither issued nor used for this long; 0 keeps them (env LATCHKEY_REGISTRATION_UNUSED_AFTER)")
}

// validateRegistration refuses registration settings that cannot work.
func (c *Config) validateRegistration() error {
	switch c.Registration {
	case "", "off", "open", "token":
	default:
		return fmt.Errorf("--registration %q must be off, open or token", c.Registration)
	}
	if c.RegistrationScopes != "" {
		set, err := scope.Parse(c.RegistrationScopes)
		if err != nil {
			return fmt.Errorf("--registration-scopes: %w", err)
		}
		if len(set) == 0 {
			return errors.New("--registration-scopes must name at least one scope")
		}
	}
	if c.RegistrationUnusedAfter < 0 {
		return errors.New("--registration-unused-after must not be negative")
	}
	return nil
}

// validate refuses webhook settings that cannot work.
func (w Webhook) validate() error {
	if w.Timeout < 0 || w.RetryBackoff < 0 || w.PollInterval < 0 || w.MaxAttempts < 0 {
		return errors.New("--webhook-timeout, --webhook-max-attempts, --webhook-retry-backoff and --webhook-poll-interval must not be negative")
	}
	if _, err := outbound.ParseAllowList(w.AllowedHosts); err != nil {
		return fmt.Errorf("--webhook-allowed-hosts: %w", err)
	}
	return nil
}

// DSN is the database to open: --db, or the SQLite file in the data directory.
func (c *Config) DSN() string {
	if c.DB != "" {
		return c.DB
	}
	return filepath.Join(c.DataDir, "latchkey.db")
}

// ReposDir is where the bare git repositories live: DATA_DIR/repos. Every
// node serving git must see the same directory.
func (c *Config) ReposDir() string { return filepath.Join(c.DataDir, "repos") }

// Issuer is the base URL without a trailing slash.
func (c *Config) Issuer() string { return strings.TrimRight(c.BaseURL, "/") }

// SecureCookies reports whether the base URL is https (in any letter
// case, so that it agrees with the scheme check of ValidateServe even
// before NormalizeBaseURL ran).
func (c *Config) SecureCookies() bool {
	return len(c.BaseURL) >= len("https://") && strings.EqualFold(c.BaseURL[:len("https://")], "https://")
}

// NormalizeBaseURL lower-cases the scheme and host of the base URL (URLs
// are case-insensitive there, RFC 3986 §6.2.2.1), so that the issuer,
// Secure cookies and HSTS all see one spelling. The path keeps its case.
// It is idempotent; ValidateServe and server.New call it at start-up. A
// base URL that does not parse is left as it is, for ValidateServe to
// refuse.
func (c *Config) NormalizeBaseURL() {
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	c.BaseURL = u.String()
}

// ValidateServe checks the serve settings and normalizes the base URL
// (NormalizeBaseURL). It returns warnings to print loudly at start-up
// (development settings in force) or an error.
func (c *Config) ValidateServe() ([]string, error) {
	var warnings []string
	c.NormalizeBaseURL()
	u, err := url.Parse(c.BaseURL)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("base URL %q must be an absolute http(s) URL", c.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("base URL %q must not have a query or fragment", c.BaseURL)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		if !c.SkipBaseURLHTTPS {
			return nil, errors.New("base URL " + c.BaseURL + " must use https; for development only, set --skip-base-url-https-requirement")
		}
		warnings = append(warnings, "INSECURE: the base URL is plain http on a non-loopback host (--skip-base-url-https-requirement); never run this in production")
	}
	if c.SkipRedirectURLHTTPS {
		warnings = append(warnings, "INSECURE: plain-http redirect URIs are allowed (--skip-redirect-url-https-requirement); never run this in production")
	}
	if c.RefreshGracePeriod < 0 || c.RefreshGracePeriod > MaxRefreshGracePeriod {
		return nil, fmt.Errorf("--refresh-grace-period must be between 0 and %s", MaxRefreshGracePeriod)
	}
	if c.CodeTTL > 10*time.Minute {
		return nil, errors.New("code lifetime must be at most 10m")
	}
	smtpWarnings, err := c.ValidateSMTP()
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, smtpWarnings...)
	warnings = append(warnings, c.KeyFileWarnings()...)
	if c.EmailVerificationTTL < 0 {
		return nil, errors.New("email verification lifetime must not be negative")
	}
	if c.RateLimitPerClient < 0 || c.RateLimitPerAddress < 0 || c.RateLimitWindow < 0 {
		return nil, errors.New("rate limits and their window must not be negative (0 disables a limit)")
	}
	for name, d := range map[string]time.Duration{"access token": c.AccessTokenTTL, "refresh token": c.RefreshTokenTTL, "code": c.CodeTTL, "session": c.SessionTTL} {
		if d <= 0 {
			return nil, fmt.Errorf("%s lifetime must be positive", name)
		}
	}
	if err := c.Git.validate(); err != nil {
		return nil, err
	}
	if err := c.Webhook.validate(); err != nil {
		return nil, err
	}
	if err := c.BackchannelLogout.validate(); err != nil {
		return nil, err
	}
	switch c.RequireSecondFactor {
	case "", "off", "admins", "everyone":
	default:
		return nil, fmt.Errorf("--require-second-factor %q must be off, admins or everyone", c.RequireSecondFactor)
	}
	if err := c.validateRegistration(); err != nil {
		return nil, err
	}
	if c.Registration == "open" {
		warnings = append(warnings, "dynamic client registration is open (--registration open): anyone who reaches "+c.Issuer()+"/register may register a client")
	}
	if c.BackchannelLogout.AllowedHosts != "" {
		warnings = append(warnings, "back-channel logout tokens may be sent to these internal hosts (--backchannel-logout-allowed-hosts): "+c.BackchannelLogout.AllowedHosts)
	}
	if c.Webhook.AllowedHosts != "" {
		warnings = append(warnings, "webhooks may reach these internal hosts (--webhook-allowed-hosts): "+c.Webhook.AllowedHosts)
	}
	if _, err := outbound.ParseAllowList(c.IdentityAllowedInternalHosts); err != nil {
		return nil, fmt.Errorf("--identity-allowed-internal-hosts: %w", err)
	}
	if err := c.ClientMetadata.validate(); err != nil {
		return nil, err
	}
	if err := validatePprofListen(c.PprofListen); err != nil {
		return nil, err
	}
	if c.IdentityAllowedInternalHosts != "" {
		warnings = append(warnings, "upstream OpenID Connect providers may be reached at these internal hosts (--identity-allowed-internal-hosts): "+c.IdentityAllowedInternalHosts)
	}
	if c.ClientMetadata.AllowedInternalHosts != "" && !c.ClientMetadata.Off() {
		warnings = append(warnings, "client ID metadata documents may be fetched from these internal hosts (--client-metadata-allowed-internal-hosts): "+c.ClientMetadata.AllowedInternalHosts)
	}
	return warnings, nil
}

// validate refuses negative git settings. A zero duration or process
// count takes the default (package gitserve applies it), as in a Config
// built without flags.
func (g Git) validate() error {
	if g.IdleTimeout < 0 || g.MaxDuration < 0 {
		return errors.New("--git-idle-timeout and --git-max-duration must not be negative")
	}
	if g.MaxProcesses < 0 || g.MaxProcessesPerCaller < 0 {
		return errors.New("--git-max-processes and --git-max-processes-per-caller must not be negative")
	}
	if g.MaxPushSize < 0 {
		return errors.New("--git-max-push-size must not be negative")
	}
	return nil
}

// validatePprofListen refuses a profiling address that is not a loopback
// host and port: profiles reveal memory contents and cost CPU, so they are
// never offered beyond the machine.
func validatePprofListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !isLoopback(host) {
		return fmt.Errorf("--pprof-listen %q must be a loopback host and port, such as 127.0.0.1:6060", addr)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsPostgres reports whether the database is PostgreSQL.
func (c *Config) IsPostgres() bool {
	dsn := c.DSN()
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// kekFileName is the key-encryption key file kept beside a SQLite database.
const kekFileName = "key-encryption.key"

// LoadKeyEncryptionKey returns the 32-byte key that encrypts signing keys at
// rest: --key-encryption-key if set, or the content of
// --key-encryption-key-file (which must exist; setting both is an error);
// with SQLite and neither, the key file key-encryption.key beside the
// database, created on first use (so a copy of the data directory holds
// both); with PostgreSQL a setting is required, because every node must
// use the same key. A malformed key is an error naming where it came from.
func (c *Config) LoadKeyEncryptionKey() ([]byte, error) {
	switch {
	case c.KeyEncryptionKey != "" && c.KeyEncryptionKeyFile != "":
		return nil, errors.New("give the key-encryption key once: --key-encryption-key (LATCHKEY_KEY_ENCRYPTION_KEY) " +
			"or --key-encryption-key-file (LATCHKEY_KEY_ENCRYPTION_KEY_FILE), not both")
	case c.KeyEncryptionKey != "":
		return decodeKEK(c.KeyEncryptionKey, "--key-encryption-key")
	case c.KeyEncryptionKeyFile != "":
		raw, err := os.ReadFile(c.KeyEncryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read --key-encryption-key-file: %w", err)
		}
		return decodeKEK(strings.TrimSpace(string(raw)), "the key-encryption key file "+c.KeyEncryptionKeyFile)
	case c.IsPostgres():
		return nil, errors.New("a key-encryption key is required with PostgreSQL: generate one with `head -c 32 /dev/urandom | base64`, " +
			"give every node the same value in LATCHKEY_KEY_ENCRYPTION_KEY or in a file named by --key-encryption-key-file")
	}
	path := filepath.Join(filepath.Dir(c.DSN()), kekFileName)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(fresh) + "\n")
		if cerr := f.Close(); werr != nil || cerr != nil {
			return nil, fmt.Errorf("write %s: %w", path, errors.Join(werr, cerr))
		}
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return decodeKEK(strings.TrimSpace(string(raw)), path)
}

// KeyFileWarnings returns a warning when the key-encryption key file given
// by --key-encryption-key-file may be read by group or others: the key
// opens every signing key. It is not refused, because secret mounts
// (Kubernetes, Docker) are often mode 0644 or 0444 inside a private
// container.
func (c *Config) KeyFileWarnings() []string {
	if c.KeyEncryptionKeyFile == "" {
		return nil
	}
	info, err := os.Stat(c.KeyEncryptionKeyFile)
	if err != nil || info.Mode().Perm()&0o077 == 0 {
		return nil // an unreadable file is LoadKeyEncryptionKey's error
	}
	return []string{fmt.Sprintf("the key-encryption key file %s may be read by group or others (mode %04o): "+
		"it opens every signing key; make it readable by this user only (chmod 600)", c.KeyEncryptionKeyFile, info.Mode().Perm())}
}

func decodeKEK(s, source string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%s must be the base64 of exactly 32 bytes", source)
	}
	return key, nil
}
