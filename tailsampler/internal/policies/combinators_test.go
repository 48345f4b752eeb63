package policies

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

func fixedPolicy(t *testing.T, yaml string, set policy.Settings) policy.Policy {
	t.Helper()
	cfgs, err := loadPolicies(t, one(yaml))
	require.NoError(t, err)
	p, err := buildPolicy(&cfgs[0], "policies[0]", bindRegistry(fixedRegistry(nil)), normalizeSettings(set))
	require.NoError(t, err)
	return p
}

func TestPolicyAndNotDrop(t *testing.T) {
	tr := buildTrace(testTraceID, spanSpec{})
	sub := func(list string, vs ...string) string {
		s := ""
		for i, v := range vs {
			s += fmt.Sprintf("{name: s%d, type: fixed, fixed: {d: %s}},", i, v)
		}
		return list + ": [" + s + "]"
	}
	tests := []struct {
		name string
		yaml string
		want policy.Decision
	}{
		{"and all sampled", `{name: a, type: and, and: {` + sub("and_sub_policy", "sampled", "invert_sampled") + `}}`, policy.Sampled},
		{"and one not", `{name: a, type: and, and: {` + sub("and_sub_policy", "sampled", "not_sampled") + `}}`, policy.NotSampled},
		{"and invert veto", `{name: a, type: and, and: {` + sub("and_sub_policy", "sampled", "invert_not_sampled") + `}}`, policy.NotSampled},
		{"and unspecified", `{name: a, type: and, and: {` + sub("and_sub_policy", "sampled", "unspecified") + `}}`, policy.NotSampled},
		{"drop all match", `{name: d, type: drop, drop: {` + sub("drop_sub_policy", "sampled", "sampled") + `}}`, policy.Dropped},
		{"drop one miss", `{name: d, type: drop, drop: {` + sub("drop_sub_policy", "sampled", "not_sampled") + `}}`, policy.NotSampled},
		{"not sampled", `{name: n, type: not, not: {not_sub_policy: {name: s, type: fixed, fixed: {d: sampled}}}}`, policy.NotSampled},
		{"not not_sampled", `{name: n, type: not, not: {not_sub_policy: {name: s, type: fixed, fixed: {d: not_sampled}}}}`, policy.Sampled},
		//lint:ignore SA1019 not passes a custom policy's inverted verdict through
		{"not invert_sampled", `{name: n, type: not, not: {not_sub_policy: {name: s, type: fixed, fixed: {d: invert_sampled}}}}`, policy.InvertSampled},
		//lint:ignore SA1019 not passes a custom policy's inverted verdict through
		{"not invert_not_sampled", `{name: n, type: not, not: {not_sub_policy: {name: s, type: fixed, fixed: {d: invert_not_sampled}}}}`, policy.InvertNotSampled},
		{"not unspecified", `{name: n, type: not, not: {not_sub_policy: {name: s, type: fixed, fixed: {d: unspecified}}}}`, policy.Unspecified},
		{"nested not(and(not))", `{name: n, type: not, not: {not_sub_policy: {name: a, type: and, and: {and_sub_policy: [
			{name: x, type: fixed, fixed: {d: sampled}},
			{name: y, type: not, not: {not_sub_policy: {name: z, type: fixed, fixed: {d: not_sampled}}}}]}}}}`, policy.NotSampled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want.String(), evalPolicy(t, fixedPolicy(t, tt.yaml, policy.Settings{}), tr).String())
		})
	}
	// Errors of sub-policies surface.
	for _, y := range []string{
		`{name: a, type: and, and: {` + sub("and_sub_policy", "error") + `}}`,
		`{name: d, type: drop, drop: {` + sub("drop_sub_policy", "error") + `}}`,
		`{name: n, type: not, not: {not_sub_policy: {name: s, type: fixed, fixed: {d: error}}}}`,
		`{name: c, type: composite, composite: {max_total_spans_per_second: 10, composite_sub_policy: [{name: s, type: fixed, fixed: {d: error}}]}}`,
	} {
		_, err := fixedPolicy(t, y, policy.Settings{}).Evaluate(context.Background(), tr)
		assert.Error(t, err, y)
	}
}

// The README's practical example: keep everything of services not using
// tail sampling (and + invert_match), with real attribute policies.
func TestPolicyAndWithInvertMatch(t *testing.T) {
	p := mustPolicy(t, one(`{name: compat, type: and, and: {and_sub_policy: [
		{name: not-ours, type: string_attribute, string_attribute: {key: service.name, values: [svc-a, svc-b], invert_match: true}},
		{name: all, type: always_sample}]}}`), policy.Settings{})
	other := buildTrace(testTraceID, spanSpec{resAttrs: map[string]any{"service.name": "legacy"}})
	ours := buildTrace(testTraceID, spanSpec{resAttrs: map[string]any{"service.name": "svc-b"}})
	assert.Equal(t, policy.Sampled, evalPolicy(t, p, other))
	assert.Equal(t, policy.NotSampled, evalPolicy(t, p, ours))
}

func TestPolicyCompositeBudgets(t *testing.T) {
	clock := &fakeClock{t: testEpoch}
	set := policy.Settings{Now: clock.now}
	p := mustPolicy(t, one(`{name: c, type: composite, composite: {
		max_total_spans_per_second: 10,
		policy_order: [errors, rest],
		composite_sub_policy: [
			{name: rest, type: always_sample},
			{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}],
		rate_allocation: [{policy: errors, percent: 40}]}}`), set)
	errTrace := buildTrace(testTraceID, spanSpec{status: ptrace.StatusCodeError}, spanSpec{}) // 2 spans
	okTrace := buildTrace(testTraceID, spanSpec{}, spanSpec{})                                // 2 spans

	// errors has 4 spans/s: two error traces fit it.
	assert.Equal(t, policy.Sampled, evalPolicy(t, p, errTrace))
	assert.Equal(t, policy.Sampled, evalPolicy(t, p, errTrace))
	// The third error trace is over the errors share but falls through to
	// rest (upstream #36959 would reject it).
	assert.Equal(t, policy.Sampled, evalPolicy(t, p, errTrace))
	// rest has no allocation: an equal share, 10/2 = 5 spans, as
	// upstream; 2 of them used by the error trace that fell through.
	assert.Equal(t, policy.Sampled, evalPolicy(t, p, okTrace))
	assert.Equal(t, policy.NotSampled, evalPolicy(t, p, okTrace), "rest's share of 5 spans reached")
	assert.Equal(t, policy.NotSampled, evalPolicy(t, p, errTrace), "both shares reached")

	clock.advance(time.Second) // new window
	assert.Equal(t, policy.Sampled, evalPolicy(t, p, okTrace))
	assert.Equal(t, policy.Sampled, evalPolicy(t, p, errTrace))
}

func TestPolicyCompositeOrderAndZeroPercent(t *testing.T) {
	clock := &fakeClock{t: testEpoch}
	// Without policy_order, list order; an explicit percent 0 means an
	// equal share (10/2 = 5 spans), as upstream.
	p := mustPolicy(t, one(`{name: c, type: composite, composite: {
		max_total_spans_per_second: 10,
		composite_sub_policy: [
			{name: a, type: always_sample},
			{name: b, type: always_sample}],
		rate_allocation: [{policy: a, percent: 0}, {policy: b, percent: 20}]}}`), policy.Settings{Now: clock.now})
	tr := buildTrace(testTraceID, spanSpec{}) // 1 span
	kept := 0
	for i := 0; i < 20; i++ {
		if evalPolicy(t, p, tr) == policy.Sampled {
			kept++
		}
	}
	assert.Equal(t, 7, kept, "a's 5 then b's 2")
}
