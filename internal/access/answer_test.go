package access

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Challenges as the resources send them.
const (
	basicRealm      = `Basic realm="Gitea"`
	bearerRealm     = `Bearer realm="latchkey"`
	expired         = `Bearer realm="latchkey", error="invalid_token", error_description="the access token has expired"`
	malformedHeader = `Bearer realm="latchkey", error="invalid_request", error_description="the Authorization header must be 'Bearer <token>'"`
	needsWrite      = `Bearer realm="latchkey", error="insufficient_scope", error_description="the token's scope does not allow this; it needs REPO_WRITE", scope="REPO_WRITE"`
)

// want is an expected answer: reason, status, challenges and the code of
// the RFC 6750 error ("" for none).
type want struct {
	reason     Reason
	status     int
	challenges []string
	code       string
}

// answerCase is an error and how each protocol answers it.
type answerCase struct {
	name string
	err  error
	api  want // the API and userinfo: Bearer only
	git  want // git: Basic and Bearer, prompting
}

func answerCases() []answerCase {
	unavailable := fmt.Errorf("load: %w", store.ErrUnavailable)
	return []answerCase{
		{"no credentials asks for them", ErrNoCredentials,
			want{NoCredentials, 401, []string{bearerRealm}, oauth.CodeInvalidToken},
			want{NoCredentials, 401, []string{basicRealm, bearerRealm}, oauth.CodeInvalidToken}},
		{"a token that is not live is refused with its reason",
			&oauth.Error{Code: oauth.CodeInvalidToken, Status: 401, Description: "the access token has expired"},
			want{BadCredentials, 401, []string{expired}, oauth.CodeInvalidToken},
			want{BadCredentials, 401, []string{basicRealm, expired}, oauth.CodeInvalidToken}},
		{"a malformed header is 400, and 401 where the resource prompts", New(bearerOnly()).malformed(),
			want{BadCredentials, 400, []string{malformedHeader}, oauth.CodeInvalidRequest},
			want{BadCredentials, 401, []string{basicRealm, malformedHeader}, oauth.CodeInvalidRequest}},
		{"the token check failing on the database is 503 without a challenge", oauth.ServerError(unavailable),
			want{Fault, 503, nil, oauth.CodeServerError},
			want{Fault, 503, nil, oauth.CodeServerError}},
		{"the token check failing otherwise is 500", oauth.ServerError(errors.New("boom")),
			want{Fault, 500, nil, oauth.CodeServerError},
			want{Fault, 500, nil, oauth.CodeServerError}},
		{"a hidden resource is 404, and asks an anonymous caller for credentials where the resource prompts",
			&Denied{Verdict: scope.DenyHidden, Anonymous: true, What: "Project P"},
			want{Hidden, 404, nil, ""},
			want{NoCredentials, 401, []string{basicRealm, bearerRealm}, oauth.CodeInvalidToken}},
		{"a hidden resource is 404 for a token", &Denied{Verdict: scope.DenyHidden, What: "Project P"},
			want{Hidden, 404, nil, ""},
			want{Hidden, 404, nil, ""}},
		{"scopes too low are insufficient_scope naming the scope", &Denied{Verdict: scope.DenyScope, Required: scope.RepoWrite},
			want{NeedsScope, 403, []string{needsWrite}, oauth.CodeInsufficientScope},
			want{NeedsScope, 403, []string{needsWrite}, oauth.CodeInsufficientScope}},
		{"scopes too low without a token asks for one", &Denied{Verdict: scope.DenyScope, Anonymous: true, Required: scope.RepoWrite},
			want{NoCredentials, 401, []string{bearerRealm}, oauth.CodeInvalidToken},
			want{NoCredentials, 401, []string{basicRealm, bearerRealm}, oauth.CodeInvalidToken}},
		{"a user without the permission is 403 in the resource's words", &Denied{Verdict: scope.DenyPermission},
			want{NotPermitted, 403, nil, ""},
			want{NotPermitted, 403, nil, ""}},
		{"no permission without a token asks for one", &Denied{Verdict: scope.DenyPermission, Anonymous: true},
			want{NoCredentials, 401, []string{bearerRealm}, oauth.CodeInvalidToken},
			want{NoCredentials, 401, []string{basicRealm, bearerRealm}, oauth.CodeInvalidToken}},
		{"a wrapped refusal is still a refusal", fmt.Errorf("handler: %w", &Denied{Verdict: scope.DenyPermission}),
			want{NotPermitted, 403, nil, ""},
			want{NotPermitted, 403, nil, ""}},
		{"the database unavailable is a 503 fault in the resource's words", unavailable,
			want{Fault, 503, nil, ""},
			want{Fault, 503, nil, ""}},
		{"text the database cannot keep is a 400 fault", fmt.Errorf("x: %w", store.ErrInvalidText),
			want{Fault, 400, nil, ""},
			want{Fault, 400, nil, ""}},
		{"anything else is a 500 fault", errors.New("boom"),
			want{Fault, 500, nil, ""},
			want{Fault, 500, nil, ""}},
	}
}

func TestAnswerOfEachProtocol(t *testing.T) {
	for _, c := range answerCases() {
		t.Run(c.name, func(t *testing.T) {
			checkAnswer(t, "Bearer only", New(bearerOnly()).Answer(c.err), c.api)
			checkAnswer(t, "git", New(gitLike()).Answer(c.err), c.git)
		})
	}
}

func checkAnswer(t *testing.T, resource string, got Answer, w want) {
	t.Helper()
	code := ""
	if got.Bearer != nil {
		code = got.Bearer.Code
		if got.Bearer.Status != got.Status {
			t.Errorf("%s: Bearer error's status %d, answer's %d", resource, got.Bearer.Status, got.Status)
		}
	}
	if got.Reason != w.reason || got.Status != w.status || !slices.Equal(got.Challenges, w.challenges) || code != w.code {
		t.Errorf("%s: got reason %d, status %d, challenges %q, code %q;\nwant reason %d, status %d, challenges %q, code %q",
			resource, got.Reason, got.Status, got.Challenges, code, w.reason, w.status, w.challenges, w.code)
	}
}

func TestHiddenAnswerNamesWhatTheRequestNamed(t *testing.T) {
	got := New(bearerOnly()).Answer(&Denied{Verdict: scope.DenyHidden, What: "Repository prj/Code"})
	if got.What != "Repository prj/Code" {
		t.Errorf("What = %q", got.What)
	}
}

// written is what a recorder got: status, the headers that matter, body.
type written struct {
	status                                        int
	challenges                                    []string
	contentType, cacheControl, pragma, body, nosn string
}

func record(write func(http.ResponseWriter)) written {
	rec := httptest.NewRecorder()
	write(rec)
	h := rec.Result().Header
	return written{rec.Code, h.Values("WWW-Authenticate"), h.Get("Content-Type"), h.Get("Cache-Control"),
		h.Get("Pragma"), rec.Body.String(), h.Get("X-Content-Type-Options")}
}

func TestWriteJSONIsRFC6750(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want written
	}{
		{"no credentials", ErrNoCredentials, written{401, []string{bearerRealm}, "application/json;charset=UTF-8", "no-store", "no-cache",
			`{"error":"invalid_token","error_description":"authentication is required"}` + "\n", ""}},
		{"insufficient scope", &Denied{Verdict: scope.DenyScope, Required: scope.OpenID},
			written{403, []string{`Bearer realm="latchkey", error="insufficient_scope", error_description="the token's scope does not allow this; it needs openid", scope="openid"`},
				"application/json;charset=UTF-8", "no-store", "no-cache",
				`{"error":"insufficient_scope","error_description":"the token's scope does not allow this; it needs openid"}` + "\n", ""}},
		{"the token check failed", oauth.ServerError(store.ErrUnavailable), written{503, nil, "application/json;charset=UTF-8", "no-store", "no-cache",
			`{"error":"server_error","error_description":"the service is temporarily unavailable; try again later"}` + "\n", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := record(New(bearerOnly()).Answer(c.err).WriteJSON)
			if !equalWritten(got, c.want) {
				t.Errorf("wrote %+v\nwant  %+v", got, c.want)
			}
		})
	}
}

func TestWriteTextIsPlainWithEveryChallenge(t *testing.T) {
	ans := New(gitLike()).Answer(&Denied{Verdict: scope.DenyHidden, Anonymous: true})
	got := record(func(w http.ResponseWriter) { ans.WriteText(w, "Authentication required.") })
	want := written{401, []string{basicRealm, bearerRealm}, "text/plain; charset=utf-8", "", "", "Authentication required.\n", "nosniff"}
	if !equalWritten(got, want) {
		t.Errorf("wrote %+v\nwant  %+v", got, want)
	}
}

func equalWritten(a, b written) bool {
	return a.status == b.status && slices.Equal(a.challenges, b.challenges) && a.contentType == b.contentType &&
		a.cacheControl == b.cacheControl && a.pragma == b.pragma && a.body == b.body && a.nosn == b.nosn
}
