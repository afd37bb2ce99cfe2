package e2e

// The real client libraries of issue 13's dialect tests; the tests that
// use them live beside this file.
import (
	_ "code.gitea.io/sdk/gitea"
	_ "github.com/drone/go-scm/scm/driver/gitea"
	_ "github.com/drone/go-scm/scm/driver/stash"
)
