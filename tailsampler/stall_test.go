package tailsampler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A gateway frozen mid-trace (SIGSTOP for 15 s, then SIGCONT) wakes with
// every pending deadline passed, while the agents buffered the rest of
// those traces and send it right after. With stall detection the delay is
// added to the pending deadlines, so the trace is decided with its late
// (error) span; without it, the trace is decided at once on its first span
// and the late span follows that decision.
func TestStallPostponesPendingDecisions(t *testing.T) {
	for _, detect := range []bool{true, false} {
		name := "stall detected: decided whole"
		if !detect {
			name = "no detection: decided on the first span"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.DecisionWait = 5 * time.Second })
			if detect {
				h.p.stallAfter.Store(int64(3 * time.Second))
			}
			h.consume(t, spansOf(1, 1, false, false)) // the first span, not keep
			for range 4 {
				h.advance(t, 500*time.Millisecond)
				h.armed(t)
			}
			require.Equal(t, 1, h.pending())
			h.clock.Advance(15 * time.Second) // the process did not run
			require.Eventually(t, func() bool { return h.dueCount() == 0 }, 5*time.Second, time.Millisecond)
			// The agents' buffered span, the one that makes the trace kept.
			h.consume(t, spansOf(1, 1, true, true))
			for range 12 {
				h.advance(t, 500*time.Millisecond)
				h.armed(t)
			}
			if detect {
				h.waitForwarded(t, 2)
				assert.Zero(t, h.pending())
				return
			}
			assert.Zero(t, h.pending())
			assert.Zero(t, h.sink.SpanCount(), "decided not sampled before the late span came")
		})
	}
}

// armed waits until every decider is waiting on a timer in the future of
// the manual clock, i.e. has run since the last Advance.
func (h *harness) armed(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		h.clock.mu.Lock()
		defer h.clock.mu.Unlock()
		n := 0
		for _, tm := range h.clock.timers {
			if tm.active && tm.at.After(h.clock.now) {
				n++
			}
		}
		return n >= len(h.p.shards)
	}, 5*time.Second, time.Millisecond)
}

func TestStallDetectionOnlyOnTheRealClock(t *testing.T) {
	h := newHarness(t, nil)
	assert.Zero(t, h.p.stallAfter.Load(), "a test clock's jumps are not stalls")
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Policies = []PolicyCfg{{Name: "all", Type: "always_sample"}}
	p, err := newProcessor(newNopSettings(), cfg, h.sink, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(stallThreshold), p.stallAfter.Load())
	require.NoError(t, p.Shutdown(context.Background()))
}
