package gitserve

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync"

	"latchkey/internal/oauth"
)

// processes bounds the git requests running at once on this node, in
// total and per caller. A request takes its place before git starts and
// gives it back when git has ended; beyond a bound it is refused instead
// of waiting, so that a slow or hostile caller cannot queue the others.
type processes struct {
	mu             sync.Mutex
	max, perCaller int
	total          int
	byCaller       map[string]int
}

func newProcesses(max, perCaller int) *processes {
	return &processes{max: max, perCaller: perCaller, byCaller: map[string]int{}}
}

// acquire takes a place for caller and returns the function that gives it
// back, or ok false when a bound is reached.
func (p *processes) acquire(caller string) (release func(), ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total >= p.max || p.byCaller[caller] >= p.perCaller {
		return nil, false
	}
	p.total++
	p.byCaller[caller]++
	var once sync.Once
	return func() { once.Do(func() { p.release(caller) }) }, true
}

func (p *processes) release(caller string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total--
	if p.byCaller[caller]--; p.byCaller[caller] <= 0 {
		delete(p.byCaller, caller)
	}
}

// callerKey names whom a request counts against: its user (a service
// identity is a user too), or for a request without credentials its
// client address (an IPv6 client by its /64, which one host usually
// holds whole).
func callerKey(c *oauth.Caller, r *http.Request) string {
	if !c.Anonymous() {
		return "user " + strconv.FormatInt(c.User.ID, 10)
	}
	addr, err := netip.ParseAddr(oauth.RemoteAddress(r))
	if err != nil {
		return "address " + oauth.RemoteAddress(r)
	}
	if addr = addr.Unmap().WithZone(""); addr.Is6() {
		prefix, _ := addr.Prefix(64)
		return "network " + prefix.String()
	}
	return "address " + addr.String()
}

// retryAfter is the Retry-After of a request refused for a bound, in
// seconds: long enough for a typical fetch to end.
const retryAfter = "5"

// busy answers a request beyond a bound: 503 with Retry-After, in plain
// text as git shows it.
func busy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", retryAfter)
	http.Error(w, "Too many git requests are running; try again in a few seconds.", http.StatusServiceUnavailable)
}
