package tailsampler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tailgate-otel/tailgate/tailsampler/internal/policies"
)

// Deciders count per-policy outcomes per round and add them to the
// instruments once per round: the totals are still one per trace and
// policy, with upstream's attributes.
func TestPolicyCountsPerRound(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Policies = []PolicyCfg{
			{Name: "odd", Type: "keep_odd_id"},
			{Name: "marked", Type: "keep_marked"},
		}
	})
	const traces = 40
	for i := 0; i < traces; i++ {
		h.consume(t, spansOf(i, 2, i%4 == 0, false))
	}
	h.advance(t, time.Second+timerResolution)
	kept := 0
	for i := 0; i < traces; i++ {
		if i%2 == 1 || i%4 == 0 {
			kept++
		}
	}
	h.waitForwarded(t, 2*kept)
	want := map[string]int64{
		"policy=odd,sampled=true":     traces / 2,
		"policy=odd,sampled=false":    traces / 2,
		"policy=marked,sampled=true":  traces / 4,
		"policy=marked,sampled=false": traces - traces/4,
	}
	require.Eventually(t, func() bool {
		return assert.ObjectsAreEqual(want, h.metrics(t)[policies.MetricCountTracesSampled])
	}, 5*time.Second, time.Millisecond)
}
