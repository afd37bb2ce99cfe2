// Package access owns the step every protected resource takes before it
// does its work: who is calling, may they do this, and what HTTP answer
// follows when they may not. The REST API (package api), git over HTTP
// (package gitserve) and the userinfo endpoint (package oidc) are adapters
// over it; none of them reads credentials, compares a verdict or picks a
// status or challenge itself.
//
// What it owns:
//
//   - Credentials. A Guard reads the access token of a request in every
//     form its resource accepts (its Schemes: Bearer per RFC 6750 §2.1,
//     HTTP Basic as git sends it, Gitea's "token <token>") and asks the protocol core who the token
//     acts for (oauth.Provider.AuthenticateToken: the core stays the owner
//     of token validity). Which forms a resource accepts is the resource's
//     choice, made where it builds its Guard; adding a form is one Scheme.
//   - Decisions. The Guard loads a project or repository and asks package
//     scope for the verdict; Global, AdminRead, Account and RequireScope
//     decide what needs no loading. A refusal is a *Denied error, which
//     names the scope a token would need (RFC 6750's insufficient_scope).
//     A project or repository that does not exist is refused exactly like
//     one the caller may not see.
//   - Answers. Guard.Answer turns any error of a protected request (an
//     authentication failure, a *Denied, a fault) into the status and the
//     WWW-Authenticate challenges the resource's protocol expects, and the
//     RFC 6750 error where the body names one; plain errors are classified
//     by package fault (400, 503, 500). The adapter writes the body: RFC
//     6750 JSON (Answer.WriteJSON) for authentication and scope errors, and
//     its own words otherwise (the dialect's error JSON, git's plain text
//     through Answer.WriteText).
//
// How the adapters call it: each builds one Guard (api.New, gitserve.New,
// oidc.Provider.Mount), authenticates every request with Authenticate or
// AuthenticateOrAnonymous, decides with Guard.Repo, Guard.Project or the
// functions above, and hands any error to Guard.Answer:
//
//	caller, err := guard.AuthenticateOrAnonymous(r)
//	if err == nil {
//		repo, _, err = guard.Repo(ctx, caller, key, slug, scope.Write)
//	}
//	if err != nil {
//		answer := guard.Answer(err)
//		answer.WriteText(w, wordsFor(answer))
//	}
//
// What a caller may list (the projects and repositories it may see) is
// the API's (internal/api/visible.go); Guard.Project asks it, through a
// function, whether a caller who may not read a project reads one of its
// repositories.
package access
