package loop

import (
	"context"
	"math/rand/v2"
	"time"
)

// DefaultInitialBackoff is the first retry delay after a failed resolution.
const DefaultInitialBackoff = 250 * time.Millisecond

// Poll calls attempt every interval after a success, and after a failure
// with an exponential backoff that starts at initialBackoff, doubles, and is
// capped at interval (so a failing source is never polled less often than a
// healthy one). lastOK tells whether the attempt made before Poll (in Start)
// succeeded. Poll returns when ctx ends.
func Poll(ctx context.Context, interval, initialBackoff time.Duration, lastOK bool, attempt func(ctx context.Context) bool) {
	if initialBackoff <= 0 {
		initialBackoff = DefaultInitialBackoff
	}
	backoff := initialBackoff
	next := func(ok bool) time.Duration {
		if ok {
			backoff = initialBackoff
			return interval
		}
		// ±20% jitter keeps a fleet of agents from retrying in lock-step.
		d := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		backoff *= 2
		if backoff > interval {
			backoff = interval
		}
		return min(d, interval)
	}
	timer := time.NewTimer(next(lastOK))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		ok := attempt(ctx)
		if ctx.Err() != nil {
			return
		}
		timer.Reset(next(ok))
	}
}
