package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// errExhausted is returned by a worker whose connection has nothing left
// to send (no authorization codes left, a refresh chain broken): the
// connection stops instead of sending junk.
var errExhausted = errors.New("nothing left to send")

// worker sends one request on its connection's client and returns the
// answer's status. An error is a transport failure (counted apart from
// non-2xx answers), or errExhausted.
type worker func(ctx context.Context, hc *http.Client) (status int, err error)

// newWorker makes the worker of connection number conn (0-based).
type newWorker func(conn int) worker

// loadResult is what one timed run measured.
type loadResult struct {
	Duration  time.Duration // the measured window
	Successes int64         // 2xx answers in the window
	Non2xx    int64         // other answers in the window
	Errors    int64         // transport errors in the window
	Exhausted int           // connections that ran out before the end
	Latency   Histogram     // of every answered request in the window
	FirstErr  error         // the first transport error, for the log
}

// RPS is successes per second of the measured window.
func (r *loadResult) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Successes) / r.Duration.Seconds()
}

// newConnClient is one load-generator connection: its own transport with
// one keep-alive connection to the host, redirects not followed.
func newConnClient() *http.Client {
	tr := &http.Transport{
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		MaxIdleConns:        1,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// runLoad drives conns connections closed-loop (send, wait for the whole
// answer, repeat) for warmup plus duration. Only requests that complete
// inside the measured window (after the warm-up) are counted. The first
// connection to run out of work closes the window for all: the rate is
// that of all conns connections busy, not diluted by idle ones. (A
// request another connection completes as the window closes may still
// count: at most one per connection.)
func runLoad(ctx context.Context, conns int, warmup, duration time.Duration, mk newWorker) *loadResult {
	start := time.Now()
	win := &window{from: start.Add(warmup)}
	win.end.Store(win.from.Add(duration).UnixNano())
	results := make([]loadResult, conns)
	var wg sync.WaitGroup
	for c := range conns {
		w := mk(c)
		wg.Go(func() { drive(ctx, w, win, &results[c]) })
	}
	wg.Wait()
	total := &loadResult{Duration: max(time.Unix(0, win.end.Load()).Sub(win.from), 0)}
	for i := range results {
		r := &results[i]
		total.Successes += r.Successes
		total.Non2xx += r.Non2xx
		total.Errors += r.Errors
		total.Exhausted += r.Exhausted
		total.Latency.Merge(&r.Latency)
		if total.FirstErr == nil {
			total.FirstErr = r.FirstErr
		}
	}
	return total
}

// window is the measured part of a run: from the end of the warm-up to
// end (Unix nanoseconds), which the first connection out of work moves
// to the moment it ran out.
type window struct {
	from time.Time
	end  atomic.Int64
}

// close ends the window at t, if it was to end later.
func (w *window) close(t time.Time) {
	if t.Before(w.from) {
		t = w.from
	}
	at := t.UnixNano()
	for {
		cur := w.end.Load()
		if at >= cur || w.end.CompareAndSwap(cur, at) {
			return
		}
	}
}

// drive is one connection's loop.
func drive(ctx context.Context, w worker, win *window, r *loadResult) {
	hc := newConnClient()
	defer hc.CloseIdleConnections()
	for ctx.Err() == nil {
		t0 := time.Now()
		if t0.UnixNano() >= win.end.Load() {
			return
		}
		status, err := w(ctx, hc)
		t1 := time.Now()
		if errors.Is(err, errExhausted) {
			r.Exhausted++
			win.close(t1)
			return
		}
		if t1.Before(win.from) || t1.UnixNano() > win.end.Load() {
			continue
		}
		switch {
		case err != nil:
			r.Errors++
			if r.FirstErr == nil {
				r.FirstErr = err
			}
		case status >= 200 && status < 300:
			r.Successes++
			r.Latency.Record(t1.Sub(t0))
		default:
			r.Non2xx++
			r.Latency.Record(t1.Sub(t0))
		}
	}
}

// send does req on hc and reads the whole answer; keep, when not nil,
// receives the body (for the workers that need a token out of it).
func send(hc *http.Client, req *http.Request, keep *[]byte) (int, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if keep != nil {
		*keep, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, err
}
