// Package clientmeta knows the OAuth clients whose client_id is the https
// URL of a client ID metadata document
// (draft-ietf-oauth-client-id-metadata-document, which the MCP
// authorization spec prefers to registration): Latchkey fetches the
// document, validates it (Parse), and stores the client it describes as a
// store.Client of origin store.OriginMetadata, so that codes, token
// families and consents reference it like any other client.
//
// Source implements oauth.ClientSource. A client_id that does not start
// with "https://" is looked up in the store as before; so is one that an
// administrator registered under its URL (the draft's pre-registration).
//
// Fetching goes through package outbound: no loopback, link-local,
// private or otherwise internal address unless the allow list names it,
// no redirect followed (a 3xx is a refusal, as the draft requires: only
// 200 is an answer), no proxy, a whole-request timeout (DefaultTimeout)
// and a size bound (DefaultMaxBytes, the draft's recommended 5
// kilobytes; a larger answer is refused, not cut).
//
// Caching: the stored copy is used, on every node of a cluster since the
// store is shared, until its MetadataExpiresAt, which comes from the
// answer's Cache-Control max-age or Expires, clamped to [MinCache,
// MaxCache] (DefaultCache without either; no-store or no-cache: MinCache).
// After that the document is fetched again, and the client updated. When
// that fetch fails or the new document is invalid, the client cannot be
// used (*oauth.UnusableClientError) until a fetch succeeds: the draft says
// to abort when fetching fails and not to cache errors, and a stale
// document is not trusted beyond its bound. A client that an administrator
// suspended is returned as stored without fetching.
package clientmeta

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"latchkey/internal/oauth"
	"latchkey/internal/outbound"
	"latchkey/internal/store"
)

// Bounds of a fetch and of the cache.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultMaxBytes = 5 << 10
	MinCache        = 5 * time.Minute
	MaxCache        = 24 * time.Hour
	DefaultCache    = time.Hour
)

// Config is how a Source behaves.
type Config struct {
	Store store.Store
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Off switches client ID metadata documents off: an https client_id
	// that is not registered in the store is refused with a reason that
	// says so.
	Off bool
	// Hosts, if not empty, are the only hosts (compared case-insensitively,
	// exactly: no subdomains) whose documents are fetched.
	Hosts []string
	// Allow lists the internal hosts and addresses that may be fetched
	// from (tests; an administrator's internal client host).
	Allow *outbound.AllowList
	// RootCAs, if set, replaces the system's certificate authorities
	// (tests). It is no command-line setting.
	RootCAs *x509.CertPool
	// Timeout and MaxBytes bound one fetch; zero takes the defaults.
	Timeout  time.Duration
	MaxBytes int64
	Logger   *slog.Logger
}

// Source finds clients: in the store, and through their metadata
// documents. It is safe for concurrent use.
type Source struct {
	cfg    Config
	client *outbound.Client
	hosts  map[string]bool

	mu       sync.Mutex
	inflight map[string]*call
}

// call is a fetch in progress that other callers for the same URL wait for.
type call struct {
	done   chan struct{}
	client store.Client
	err    error
}

// New builds a source.
func New(cfg Config) *Source {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{cfg: cfg, inflight: map[string]*call{},
		client: outbound.New(outbound.Config{Allow: cfg.Allow, Timeout: cfg.Timeout, MaxBody: cfg.MaxBytes, RootCAs: cfg.RootCAs})}
	if len(cfg.Hosts) > 0 {
		s.hosts = map[string]bool{}
		for _, h := range cfg.Hosts {
			s.hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = true
		}
	}
	return s
}

// Enabled reports whether documents are accepted (for discovery).
func (s *Source) Enabled() bool { return !s.cfg.Off }

var _ oauth.ClientSource = (*Source)(nil)

// Client returns the client id names; see the package documentation and
// oauth.ClientSource for its contract.
func (s *Source) Client(ctx context.Context, id string) (store.Client, error) {
	stored, err := s.cfg.Store.GetClient(ctx, id)
	found := err == nil
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return store.Client{}, err
	case !IsDocumentURL(id):
		if !found && !s.cfg.Off && strings.HasPrefix(strings.ToLower(id), "http://") {
			return store.Client{}, unusable(id, "a client ID metadata document must be served over https; this client_id is a plain http URL")
		}
		return stored, err
	case found && stored.Origin != store.OriginMetadata:
		return stored, nil // registered by an administrator under its URL
	case s.cfg.Off:
		return store.Client{}, unusable(id, "this server does not accept client ID metadata documents (an administrator switched them off); the application must be registered with it")
	case found && (stored.Suspended || s.cfg.Now().Before(stored.MetadataExpiresAt)):
		return stored, nil
	}
	if err := CheckClientID(id); err != nil {
		return store.Client{}, unusable(id, err.Error())
	}
	u, _ := url.Parse(id)
	if s.hosts != nil && !s.hosts[strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))] {
		return store.Client{}, unusable(id, fmt.Sprintf("this server accepts client ID metadata documents only from the hosts its administrator listed, and %s is not one of them", u.Hostname()))
	}
	return s.refresh(ctx, id)
}

// refresh fetches the document of id and stores its client. Concurrent
// calls for the same id in this process share one fetch.
func (s *Source) refresh(ctx context.Context, id string) (store.Client, error) {
	s.mu.Lock()
	if c, ok := s.inflight[id]; ok {
		s.mu.Unlock()
		select {
		case <-c.done:
			return c.client, c.err
		case <-ctx.Done():
			return store.Client{}, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	s.inflight[id] = c
	s.mu.Unlock()
	// The fetch runs on its own: a caller that gives up does not fail the
	// others waiting for it. outbound's timeout bounds it.
	c.client, c.err = s.fetchAndStore(context.WithoutCancel(ctx), id)
	s.mu.Lock()
	delete(s.inflight, id)
	s.mu.Unlock()
	close(c.done)
	return c.client, c.err
}

func (s *Source) fetchAndStore(ctx context.Context, id string) (store.Client, error) {
	// Another node, or this one just before, may have fetched it already.
	if stored, err := s.cfg.Store.GetClient(ctx, id); err == nil && stored.Origin == store.OriginMetadata &&
		s.cfg.Now().Before(stored.MetadataExpiresAt) {
		return stored, nil
	}
	client, ttl, err := s.fetch(ctx, id)
	if err != nil {
		s.cfg.Logger.Info("client metadata document refused", "client_id", id, "reason", err.Error())
		return store.Client{}, unusable(id, err.Error())
	}
	now := s.cfg.Now().Truncate(time.Millisecond) // as the store keeps it
	client.MetadataExpiresAt = now.Add(ttl)
	client.CreatedAt = now
	saved, err := s.save(ctx, client)
	if err != nil {
		return store.Client{}, err
	}
	s.cfg.Logger.Info("client metadata document fetched", "client_id", id, "expires_at", client.MetadataExpiresAt)
	return saved, nil
}

// fetch gets and validates the document, and says how long it may be kept.
func (s *Source) fetch(ctx context.Context, id string) (store.Client, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return store.Client{}, 0, fmt.Errorf("the client_id URL cannot be requested: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Latchkey (client ID metadata document)")
	resp, err := s.client.Do(req)
	if err != nil {
		return store.Client{}, 0, fetchError(err, s.cfg.Timeout)
	}
	switch {
	case resp.Status >= 300 && resp.Status < 400:
		return store.Client{}, 0, fmt.Errorf("fetching the document was answered with a redirect (HTTP %d); redirects are not followed: the document must be served at its client_id URL itself", resp.Status)
	case resp.Status != http.StatusOK:
		return store.Client{}, 0, fmt.Errorf("fetching the document was answered with HTTP %d, not 200", resp.Status)
	case resp.Truncated:
		return store.Client{}, 0, fmt.Errorf("the document is larger than %d bytes", s.cfg.MaxBytes)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return store.Client{}, 0, fmt.Errorf("the document is served as %q; it must be application/json", clip(ct))
		}
	}
	client, err := Parse(id, resp.Body)
	if err != nil {
		return store.Client{}, 0, err
	}
	return client, Lifetime(resp.Header, s.cfg.Now()), nil
}

// fetchError turns a failed request into a reason a developer can act on.
func fetchError(err error, timeout time.Duration) error {
	var refused *outbound.RefusedError
	var ue *url.Error
	switch {
	case errors.As(err, &refused):
		// The address itself is not told: whoever sends an authorization
		// request would learn how internal names resolve.
		return fmt.Errorf("the document's host resolves to a %s address, which this server does not fetch from (an administrator may allow it with --client-metadata-allowed-internal-hosts)", refused.Reason)
	case errors.As(err, &ue) && ue.Timeout():
		return fmt.Errorf("fetching the document took longer than %s", timeout)
	case errors.As(err, &ue):
		return fmt.Errorf("fetching the document failed: %v", ue.Err)
	}
	return fmt.Errorf("fetching the document failed: %v", err)
}

// save creates the client, or updates the stored copy, keeping what is
// Latchkey's own: its creation time and whether it is suspended.
func (s *Source) save(ctx context.Context, c store.Client) (store.Client, error) {
	created, err := s.cfg.Store.CreateClient(ctx, c)
	if err == nil {
		return created, nil
	}
	if !errors.Is(err, store.ErrAlreadyExists) {
		return store.Client{}, fmt.Errorf("clientmeta: store client: %w", err)
	}
	errNotMetadata := errors.New("registered otherwise")
	updated, err := s.cfg.Store.UpdateClient(ctx, c.ID, func(old store.Client) (store.Client, error) {
		if old.Origin != store.OriginMetadata {
			return old, errNotMetadata
		}
		n := c
		n.CreatedAt, n.Suspended, n.OwnerUserID = old.CreatedAt, old.Suspended, old.OwnerUserID
		return n, nil
	})
	if errors.Is(err, errNotMetadata) {
		return s.cfg.Store.GetClient(ctx, c.ID)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("clientmeta: update client: %w", err)
	}
	return updated, nil
}

func unusable(id, reason string) error {
	return &oauth.UnusableClientError{ClientID: id, Reason: reason}
}

// Lifetime is how long a document fetched at now may be kept, from the
// answer's headers (RFC 9111): Cache-Control no-store or no-cache gives
// MinCache; max-age gives its value; otherwise Expires, against the
// answer's Date (or now), gives the time until then (an invalid Expires
// means already expired); with neither, DefaultCache. The result is
// clamped to [MinCache, MaxCache].
func Lifetime(h http.Header, now time.Time) time.Duration {
	d, ok := cacheControl(h.Values("Cache-Control"))
	if !ok {
		d = DefaultCache
		if exp := h.Get("Expires"); exp != "" {
			d = 0
			if t, err := http.ParseTime(exp); err == nil {
				base := now
				if date, err := http.ParseTime(h.Get("Date")); err == nil {
					base = date
				}
				d = t.Sub(base)
			}
		}
	}
	return min(max(d, MinCache), MaxCache)
}

// cacheControl reads the directives that matter here; ok is false when
// none of them is present.
func cacheControl(values []string) (time.Duration, bool) {
	maxAge, found := time.Duration(0), false
	for _, v := range values {
		for dir := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				arg = strings.Trim(strings.TrimSpace(arg), `"`)
				if n, ok := seconds(arg); ok && !found {
					maxAge, found = n, true
				} else if !ok {
					return 0, true // an invalid max-age counts as stale (RFC 9111 §4.2.1)
				}
			}
		}
	}
	return maxAge, found
}

// seconds parses delta-seconds (RFC 9111 §1.2.2), saturating.
func seconds(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		if n < 1<<31 {
			n = n*10 + int64(s[i]-'0')
		}
	}
	return time.Duration(min(n, 1<<31)) * time.Second, true
}
