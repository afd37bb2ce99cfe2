package oauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// peekParams reads, best effort and without consuming anything, the
// parameters a protocol request carries: the query string, and a form or
// JSON body (the body is put back for the handler, which reads it with
// ReadParams and refuses what is malformed). For the rate limits, which
// run before the handler: nothing here is trusted.
func peekParams(r *http.Request) url.Values {
	vs, _ := url.ParseQuery(r.URL.RawQuery)
	if vs == nil {
		vs = url.Values{}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return vs
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil {
		return vs
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mediaType {
	case "application/x-www-form-urlencoded":
		form, _ := url.ParseQuery(string(body))
		for k, v := range form {
			vs[k] = append(vs[k], v...)
		}
	case "application/json":
		var obj map[string]any
		if json.Unmarshal(body, &obj) == nil {
			for k, v := range obj {
				if s, ok := v.(string); ok {
					vs.Add(k, s)
				}
			}
		}
	}
	return vs
}

// ClaimedClientID is the client ID a request to a protocol endpoint
// claims, before anything is checked: the user of an HTTP Basic header,
// else its client_id parameter (query, form or JSON body), else "". The
// request's body stays readable. The rate limits count by it.
func ClaimedClientID(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if creds, err := parseBasic(h); err == nil {
			return creds.id
		}
	}
	return peekParams(r).Get("client_id")
}

// QueryClientID is the client_id of the query string alone, for the
// authorization endpoint (a GET whose parameters are all in the query).
func QueryClientID(r *http.Request) string {
	vs, _ := url.ParseQuery(r.URL.RawQuery)
	return vs.Get("client_id")
}

// WriteRateLimited answers a request that a rate limit refused, as RFC
// 6749 error JSON with 429 Too Many Requests (RFC 6585; the caller sets
// Retry-After). RFC 6749 registers no code for it; the error is
// temporarily_unavailable, which clients treat as "try again later"
// (GitLab and Coder answer the same), except for a device_code poll at the
// token endpoint, which gets RFC 8628's slow_down: device clients (such as
// golang.org/x/oauth2's DeviceAccessToken) then poll 5 seconds slower and
// go on waiting for the person, where any other code would end the flow.
func WriteRateLimited(w http.ResponseWriter, r *http.Request, retryAfter time.Duration) {
	code := CodeTemporarilyUnavailable
	if peekParams(r).Get("grant_type") == GrantDeviceCode {
		code = CodeSlowDown
	}
	e := &Error{Code: code, Status: http.StatusTooManyRequests,
		Description: fmt.Sprintf("too many requests: try again in %d seconds", int64(math.Ceil(max(retryAfter.Seconds(), 1))))}
	e.WriteJSON(w)
}
