package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// point is what a scenario gets to prepare one measured point.
type point struct {
	conns            int
	warmup, duration time.Duration
}

// scenario is one kind of request the bench drives. prepare mints what
// the point needs (before the timer) and returns the connections' workers.
type scenario struct {
	name    string
	prepare func(ctx context.Context, f *fixture, p point) (newWorker, error)
}

// scenarios are the bench's scenarios in the order they run.
var scenarios = []scenario{
	{"client_credentials", prepareClientCredentials},
	{"code_exchange", prepareCodeExchange},
	{"refresh", prepareRefresh},
	{"introspection", prepareIntrospection},
	{"bearer_api", prepareBearerAPI},
	{"git_info_refs", prepareGitInfoRefs},
}

// same is a worker factory whose connections all run w.
func same(w worker) newWorker { return func(int) worker { return w } }

// prepareClientCredentials: POST to the token endpoint with
// grant_type=client_credentials, the service client authenticated with
// HTTP Basic.
func prepareClientCredentials(_ context.Context, f *fixture, _ point) (newWorker, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	return same(func(ctx context.Context, hc *http.Client) (int, error) {
		return send(hc, f.tokenRequest(ctx, f.service, form), nil)
	}), nil
}

// maxCodes bounds the codes minted for one point.
const maxCodes = 400_000

// prepareCodeExchange mints single-use codes through the authorization
// endpoint: first a probe batch, redeemed at the point's connection count
// to estimate the rate, then enough for the warm-up and the timed run
// with half as many again to spare. The connections share them; when none are
// left a connection stops.
func prepareCodeExchange(ctx context.Context, f *fixture, p point) (newWorker, error) {
	probe, err := f.mintCodes(ctx, max(200, 10*p.conns), 4)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res := runLoad(ctx, p.conns, 0, 30*time.Second, codeWorkers(f, probe))
	rate := float64(res.Successes) / time.Since(start).Seconds()
	if res.Successes == 0 {
		return nil, fmt.Errorf("code exchange probe: no success (%d non-2xx, %d errors: %v)", res.Non2xx, res.Errors, res.FirstErr)
	}
	need := min(int(rate*(p.warmup+p.duration).Seconds()*1.5)+2*p.conns, maxCodes)
	t := time.Now()
	codes, err := f.mintCodes(ctx, need, 4)
	if err != nil {
		return nil, err
	}
	log.Printf("  code_exchange: probe %.0f/s; minted %d codes in %s", rate, need, time.Since(t).Round(time.Millisecond))
	return codeWorkers(f, codes), nil
}

// codeWorkers redeem the codes in order, each once.
func codeWorkers(f *fixture, codes []authCode) newWorker {
	var next atomic.Int64
	return same(func(ctx context.Context, hc *http.Client) (int, error) {
		i := next.Add(1) - 1
		if i >= int64(len(codes)) {
			return 0, errExhausted
		}
		return send(hc, f.exchangeRequest(ctx, codes[i]), nil)
	})
}

// prepareRefresh gives every connection its own refresh-token chain (a
// grant through the authorization endpoint); each request rotates it and
// keeps the new refresh token. A chain that breaks stops its connection.
func prepareRefresh(ctx context.Context, f *fixture, p point) (newWorker, error) {
	chains := make([]string, p.conns)
	for i := range chains {
		t, err := f.grant(ctx)
		if err != nil {
			return nil, err
		}
		chains[i] = t.RefreshToken
	}
	return func(c int) worker {
		token := chains[c]
		var body []byte
		return func(ctx context.Context, hc *http.Client) (int, error) {
			if token == "" {
				return 0, errExhausted
			}
			status, err := send(hc, f.tokenRequest(ctx, f.code, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}), &body)
			var t tokenReply
			if err != nil || status != http.StatusOK || json.Unmarshal(body, &t) != nil {
				token = ""
				return status, err
			}
			token = t.RefreshToken
			return status, nil
		}
	}, nil
}

// prepareIntrospection: POST to the introspection endpoint with a live
// access token, authenticated as the client it was issued to. The token
// is checked once to be active, so that a 200 means an answer that read it.
func prepareIntrospection(ctx context.Context, f *fixture, _ point) (newWorker, error) {
	t, err := f.grant(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{"token": {t.AccessToken}}
	var body []byte
	status, err := send(f.browser, f.formPost(ctx, f.introspectURL, f.code, form), &body)
	if err != nil || status != http.StatusOK || !bytes.Contains(body, []byte(`"active":true`)) {
		return nil, fmt.Errorf("introspection: status %d: %v: %.300s", status, err, body)
	}
	return same(func(ctx context.Context, hc *http.Client) (int, error) {
		return send(hc, f.formPost(ctx, f.introspectURL, f.code, form), nil)
	}), nil
}

// prepareBearerAPI: GET /rest/api/latest/projects with a bearer token.
func prepareBearerAPI(ctx context.Context, f *fixture, _ point) (newWorker, error) {
	t, err := f.grant(ctx)
	if err != nil {
		return nil, err
	}
	return same(func(ctx context.Context, hc *http.Client) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/rest/api/latest/projects", nil)
		req.Header.Set("Authorization", "Bearer "+t.AccessToken)
		return send(hc, req, nil)
	}), nil
}

// prepareGitInfoRefs: GET /scm/PRJ/repo.git/info/refs?service=git-upload-pack
// with the access token as the Basic password (the first step of a clone
// or fetch: the node checks the token, then runs git http-backend).
func prepareGitInfoRefs(ctx context.Context, f *fixture, _ point) (newWorker, error) {
	t, err := f.grant(ctx)
	if err != nil {
		return nil, err
	}
	return same(func(ctx context.Context, hc *http.Client) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/scm/PRJ/repo.git/info/refs?service=git-upload-pack", nil)
		req.SetBasicAuth(f.user, t.AccessToken)
		return send(hc, req, nil)
	}), nil
}

// ceilingWorkers GET the ceiling process's trivial handler.
func ceilingWorkers(base string) newWorker {
	return same(func(ctx context.Context, hc *http.Client) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
		return send(hc, req, nil)
	})
}
