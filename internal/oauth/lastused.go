package oauth

import (
	"context"
	"time"

	"latchkey/internal/store"
)

// lastUsedResolution is how stale a family's LastUsedAt may get: the bearer
// check writes it at most once per this interval and family, so that a busy
// token costs one write a minute, not one per request.
const lastUsedResolution = time.Minute

// recordUse notes that a token of fam just passed the bearer check, for the
// user's list of authorized applications. A failure is logged and
// otherwise ignored: it must not fail the request it describes.
func (p *Provider) recordUse(ctx context.Context, fam store.TokenFamily) {
	now := p.cfg.Now()
	if now.Sub(fam.LastUsedAt) < lastUsedResolution {
		return
	}
	if err := p.store.TouchFamily(ctx, fam.ID, now); err != nil {
		p.log.Warn("record token use", "family_id", fam.ID, "error", err)
	}
}
