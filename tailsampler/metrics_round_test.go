package tailsampler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

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
		"decision=sampled,policy=odd,sampled=true":         traces / 2,
		"decision=not_sampled,policy=odd,sampled=false":    traces / 2,
		"decision=sampled,policy=marked,sampled=true":      traces / 4,
		"decision=not_sampled,policy=marked,sampled=false": traces - traces/4,
	}
	require.Eventually(t, func() bool {
		return assert.ObjectsAreEqual(want, h.metrics(t)[policies.MetricCountTracesSampled])
	}, 5*time.Second, time.Millisecond)
	m := h.metrics(t)
	assert.Equal(t, map[string]int64{"policy=odd": traces, "policy=marked": traces}, m[policies.MetricPolicyExecutionCount])
	assert.Equal(t, map[string]int64{
		"decision=sampled,sampled=true":      int64(kept),
		"decision=not_sampled,sampled=false": int64(traces - kept),
	}, m[mGlobalSampled])
}

// A named processor (tail_sampling/<name>) labels its policies
// "<name>.<policy>" in every per-policy metric, as upstream does; a trace
// a drop policy vetoes is counted with decision="dropped", per policy and
// globally.
func TestPolicyMetricsOfNamedProcessorWithDrop(t *testing.T) {
	h := newNamedHarness(t, component.NewIDWithName(componentType, "gw"), func(c *Config) {
		c.Policies = []PolicyCfg{
			{Name: "all", Type: "always_sample"},
			{Name: "veto", Type: "drop", Drop: DropCfg{SubPolicies: []PolicyCfg{{Name: "m", Type: "keep_marked"}}}},
		}
		c.RecordPolicy = true
	})
	for i := 0; i < 8; i++ {
		h.consume(t, spansOf(i, 1, i < 3, false))
	}
	h.advance(t, time.Second+timerResolution)
	h.waitForwarded(t, 5)
	want := map[string]int64{
		"decision=dropped,policy=gw.veto,sampled=false":     3,
		"decision=not_sampled,policy=gw.veto,sampled=false": 5,
		"decision=sampled,policy=gw.all,sampled=true":       5,
	}
	require.Eventually(t, func() bool {
		return assert.ObjectsAreEqual(want, h.metrics(t)[policies.MetricCountTracesSampled])
	}, 5*time.Second, time.Millisecond)
	m := h.metrics(t)
	// The drop policy runs first and ends the evaluation of what it drops.
	assert.Equal(t, map[string]int64{"policy=gw.veto": 8, "policy=gw.all": 5}, m[policies.MetricPolicyExecutionCount])
	assert.Equal(t, map[string]int64{
		"decision=sampled,sampled=true":  5,
		"decision=dropped,sampled=false": 3,
	}, m[mGlobalSampled])
	for _, name := range []string{policies.MetricPolicyExecutionTimeSum, policies.MetricSamplingDecisionLatency} {
		for attrs := range m[name] {
			if attrs != "max" { // the histogram's largest value (see metrics)
				assert.Contains(t, []string{"policy=gw.veto", "policy=gw.all"}, attrs, name)
			}
		}
	}
	// The span attribute names the bare policy, as upstream's does.
	for _, td := range h.sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					v, _ := sp.Attributes().Get(policyAttribute)
					assert.Equal(t, "all", v.AsString())
				}
			}
		}
	}
}
