package policies

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/ptrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// fixedRegistry adds a "fixed" type whose block names the verdict, and
// counts evaluations per policy name.
func fixedRegistry(calls map[string]int) map[string]policy.Factory {
	reg := Builtin()
	reg["fixed"] = func(set policy.Settings, conf *confmap.Conf) (policy.Policy, error) {
		var cfg struct {
			D string `mapstructure:"d"`
		}
		if err := conf.Unmarshal(&cfg); err != nil {
			return nil, err
		}
		name := set.Name
		return policy.Func(func(context.Context, policy.Trace) (policy.Decision, error) {
			if calls != nil {
				calls[name]++
			}
			if cfg.D == "error" {
				return policy.Unspecified, errors.New("boom")
			}
			for d := policy.Unspecified; d <= policy.Dropped; d++ {
				if d.String() == cfg.D {
					return d, nil
				}
			}
			return policy.Unspecified, fmt.Errorf("bad verdict %q", cfg.D)
		}), nil
	}
	return reg
}

func fixedSet(t *testing.T, first bool, calls map[string]int, verdicts ...string) *Set {
	t.Helper()
	y := "policies:\n"
	for i, v := range verdicts {
		y += fmt.Sprintf("  - {name: p%d, type: fixed, fixed: {d: %s}}\n", i, v)
	}
	cfgs, err := loadPolicies(t, y)
	require.NoError(t, err)
	ps, err := New(cfgs, fixedRegistry(calls), policy.Settings{}, Options{SampleOnFirstMatch: first})
	require.NoError(t, err)
	return ps
}

var allVerdicts = []string{"unspecified", "not_sampled", "sampled", "invert_sampled", "invert_not_sampled", "dropped", "error"}

// expectPair is the precedence rule written out for two votes.
func expectPair(a, b string) (policy.Decision, string) {
	names := map[string]string{}
	for i, v := range []string{a, b} {
		if _, ok := names[v]; !ok {
			names[v] = fmt.Sprintf("p%d", i)
		}
	}
	has := func(v string) bool { _, ok := names[v]; return ok }
	switch {
	case has("dropped"):
		return policy.Dropped, names["dropped"]
	case has("invert_not_sampled"):
		return policy.NotSampled, ""
	case has("sampled"):
		return policy.Sampled, names["sampled"]
	case has("invert_sampled") && !has("not_sampled"):
		return policy.Sampled, names["invert_sampled"]
	}
	return policy.NotSampled, ""
}

func TestEvaluatePrecedenceEveryPair(t *testing.T) {
	tr := buildTrace(testTraceID, spanSpec{durMs: 1})
	for _, a := range allVerdicts {
		for _, b := range allVerdicts {
			t.Run(a+"+"+b, func(t *testing.T) {
				ps := fixedSet(t, false, nil, a, b)
				d, name := ps.Decide(context.Background(), tr)
				wd, wn := expectPair(a, b)
				assert.Equal(t, wd.String(), d.String())
				assert.Equal(t, wn, name)
			})
		}
	}
}

func TestEvaluateDropPoliciesFirst(t *testing.T) {
	calls := map[string]int{}
	cfgs, err := loadPolicies(t, `
policies:
  - {name: keep, type: fixed, fixed: {d: sampled}}
  - name: veto
    type: drop
    drop: {drop_sub_policy: [{name: x, type: fixed, fixed: {d: sampled}}, {name: y, type: fixed, fixed: {d: invert_sampled}}]}
`)
	require.NoError(t, err)
	ps, err := New(cfgs, fixedRegistry(calls), policy.Settings{}, Options{})
	require.NoError(t, err)
	d, name := ps.Decide(context.Background(), buildTrace(testTraceID, spanSpec{}))
	assert.Equal(t, policy.Dropped, d)
	assert.Equal(t, "veto", name)
	assert.Zero(t, calls["keep"], "the drop ends evaluation before other policies run")

	// A drop that does not match is not a vote, as upstream since it
	// evaluates drop policies apart: a custom InvertSampled still keeps
	// the trace.
	cfgs, err = loadPolicies(t, `
policies:
  - {name: inv, type: fixed, fixed: {d: invert_sampled}}
  - name: veto
    type: drop
    drop: {drop_sub_policy: [{name: x, type: fixed, fixed: {d: not_sampled}}]}
`)
	require.NoError(t, err)
	ps, err = New(cfgs, fixedRegistry(nil), policy.Settings{}, Options{})
	require.NoError(t, err)
	d, name = ps.Decide(context.Background(), buildTrace(testTraceID, spanSpec{}))
	assert.Equal(t, policy.Sampled, d)
	assert.Equal(t, "inv", name)
}

func TestEvaluateSampleOnFirstMatch(t *testing.T) {
	tr := buildTrace(testTraceID, spanSpec{})
	calls := map[string]int{}
	ps := fixedSet(t, true, calls, "not_sampled", "sampled", "invert_not_sampled")
	d, name := ps.Decide(context.Background(), tr)
	assert.Equal(t, policy.Sampled, d)
	assert.Equal(t, "p1", name)
	assert.Equal(t, 0, calls["p2"], "evaluation stops at the first Sampled")

	calls = map[string]int{}
	ps = fixedSet(t, false, calls, "not_sampled", "sampled", "invert_not_sampled")
	d, name = ps.Decide(context.Background(), tr)
	assert.Equal(t, policy.NotSampled, d)
	assert.Empty(t, name, "a veto names nobody, as upstream")
	assert.Equal(t, 1, calls["p2"])

	// An earlier invert veto still wins, as upstream.
	ps = fixedSet(t, true, nil, "invert_not_sampled", "sampled", "sampled")
	d, _ = ps.Decide(context.Background(), tr)
	assert.Equal(t, policy.NotSampled, d)
}

// Counting each decision at once (Decide) and per round (a tally flushed
// after the round, as the deciders do) give the same metrics, with
// upstream's attributes (a named processor's policies labelled
// "<name>.<policy>").
func TestEvaluateMetrics(t *testing.T) {
	for _, tallied := range []bool{false, true} {
		t.Run(fmt.Sprintf("tallied=%v", tallied), func(t *testing.T) { testEvaluateMetrics(t, tallied) })
	}
}

// meteredSet builds a set of fixed-verdict policies (yaml) recording into
// a manual reader; its clock advances by step on every read.
func meteredSet(t *testing.T, yaml string, opts Options, step time.Duration) (*Set, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	cfgs, err := loadPolicies(t, yaml)
	require.NoError(t, err)
	opts.Meter = mp.Meter("test")
	ps, err := New(cfgs, fixedRegistry(nil), policy.Settings{}, opts)
	require.NoError(t, err)
	t.Cleanup(ps.Close)
	clock := &fakeClock{t: testEpoch}
	ps.now = func() time.Time { clock.advance(step); return clock.t }
	return ps, reader
}

// collectMetrics reads every instrument by name.
func collectMetrics(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m
		}
	}
	return got
}

func testEvaluateMetrics(t *testing.T, tallied bool) {
	ps, reader := meteredSet(t, `
policies:
  - {name: yes, type: fixed, fixed: {d: sampled}}
  - {name: no, type: fixed, fixed: {d: not_sampled}}
  - {name: bad, type: fixed, fixed: {d: error}}
  - {name: void, type: fixed, fixed: {d: unspecified}}
  - {name: veto, type: fixed, fixed: {d: dropped}}
`, Options{ComponentName: "gw"}, 3*time.Microsecond)
	tr := buildTrace(testTraceID, spanSpec{})
	var tally *Tally
	if tallied {
		tally = &Tally{}
	}
	for i := 0; i < 3; i++ {
		d, _ := ps.DecideTally(context.Background(), tr, tally)
		require.Equal(t, policy.Dropped, d)
	}
	if tallied {
		assert.NotContains(t, collectMetrics(t, reader), MetricCountTracesSampled, "counted before the flush")
		ps.Flush(context.Background(), tally)
		ps.Flush(context.Background(), tally) // nothing left: adds nothing
	}
	got := collectMetrics(t, reader)
	sums := func(name string) map[string]int64 {
		out := map[string]int64{}
		for _, dp := range got[name].Data.(metricdata.Sum[int64]).DataPoints {
			out[dp.Attributes.Encoded(attribute.DefaultEncoder())] = dp.Value
		}
		return out
	}
	assert.Equal(t, map[string]int64{
		"decision=sampled,policy=gw.yes,sampled=true":       3,
		"decision=not_sampled,policy=gw.no,sampled=false":   3,
		"decision=not_sampled,policy=gw.void,sampled=false": 3,
		"decision=dropped,policy=gw.veto,sampled=false":     3,
	}, sums(MetricCountTracesSampled))
	assert.Equal(t, map[string]int64{"policy=gw.bad": 3, "policy=gw.yes": 0, "policy=gw.no": 0, "policy=gw.void": 0, "policy=gw.veto": 0},
		sums(MetricPolicyEvaluationError), "every policy's series exists, as upstream's")
	every := map[string]int64{"policy=gw.yes": 3, "policy=gw.no": 3, "policy=gw.bad": 3, "policy=gw.void": 3, "policy=gw.veto": 3}
	assert.Equal(t, every, sums(MetricPolicyExecutionCount), "errors are executions too")
	// The test trace is one of the 1 in 8 that are timed: each of its
	// evaluations stands for 8 in the sum.
	for k := range every {
		every[k] = 3 * 3 * timedWeight
	}
	assert.Equal(t, every, sums(MetricPolicyExecutionTimeSum), "3 µs per evaluation from the fake clock")
	hist := got[MetricSamplingDecisionLatency].Data.(metricdata.Histogram[int64]).DataPoints
	require.Len(t, hist, 5)
	for _, dp := range hist {
		assert.Equal(t, uint64(3), dp.Count)
		assert.Equal(t, int64(9), dp.Sum, "3 µs per policy per trace from the fake clock")
	}
	for name, unit := range map[string]string{
		MetricCountTracesSampled:      "{traces}",
		MetricPolicyEvaluationError:   "{errors}",
		MetricPolicyExecutionCount:    "{executions}",
		MetricPolicyExecutionTimeSum:  "us",
		MetricSamplingDecisionLatency: "us",
	} {
		assert.Equal(t, unit, got[name].Unit, name)
	}
}

func TestEvaluateSeedPolicies(t *testing.T) {
	cfgs := loadFile(t, "policies_seed.yaml")
	ps, err := New(cfgs, Builtin(), policy.Settings{}, Options{})
	require.NoError(t, err)
	ctx := context.Background()
	d, name := ps.Decide(ctx, buildTrace(testTraceID, spanSpec{durMs: 10}, spanSpec{durMs: 5, status: ptrace.StatusCodeError}))
	assert.Equal(t, policy.Sampled, d)
	assert.Equal(t, "errors-policy", name)
	d, name = ps.Decide(ctx, buildTrace(testTraceID, spanSpec{durMs: 1500}))
	assert.Equal(t, policy.Sampled, d)
	assert.Equal(t, "slow-traces-policy", name)
}

// invert_match flips only its own policy's match, at the top level and
// inside and/not/drop/composite: the "not /health" rule keeps
// every other trace that another policy samples, and vetoes nothing.
func TestEvaluateInvertMatchFlipsOnlyItsOwnPolicy(t *testing.T) {
	health := spanSpec{attrs: map[string]any{"http.route": "/health"}, durMs: 1}
	api := spanSpec{attrs: map[string]any{"http.route": "/api"}, durMs: 1}
	failed := spanSpec{attrs: map[string]any{"http.route": "/health"}, status: ptrace.StatusCodeError, durMs: 1}
	notHealth := `{name: not-health, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}`
	tests := []struct {
		name   string
		yaml   string
		trace  spanSpec
		want   policy.Decision
		policy string
	}{
		{"top level keeps a non-matching trace", "policies:\n  - " + notHealth, api, policy.Sampled, "not-health"},
		{"top level does not veto another policy", "policies:\n  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n  - " + notHealth, failed, policy.Sampled, "errors"},
		{"matching trace is only not sampled", "policies:\n  - " + notHealth, health, policy.NotSampled, ""},
		{"inside and", "policies:\n  - {name: a, type: and, and: {and_sub_policy: [{name: e, type: status_code, status_code: {status_codes: [ERROR, UNSET]}}, " + notHealth + "]}}", api, policy.Sampled, "a"},
		{"inside and, matching", "policies:\n  - {name: a, type: and, and: {and_sub_policy: [{name: e, type: status_code, status_code: {status_codes: [ERROR, UNSET]}}, " + notHealth + "]}}", health, policy.NotSampled, ""},
		{"inside not", "policies:\n  - {name: n, type: not, not: {not_sub_policy: " + notHealth + "}}", health, policy.Sampled, "n"},
		{"inside drop: the old veto", "policies:\n  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n  - {name: d, type: drop, drop: {drop_sub_policy: [" + notHealth + "]}}", spanSpec{attrs: map[string]any{"http.route": "/api"}, status: ptrace.StatusCodeError, durMs: 1}, policy.Dropped, "d"},
		{"inside composite", "policies:\n  - {name: c, type: composite, composite: {max_total_spans_per_second: 100, composite_sub_policy: [" + notHealth + "]}}", api, policy.Sampled, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgs, err := loadPolicies(t, tt.yaml)
			require.NoError(t, err)
			ps, err := New(cfgs, Builtin(), policy.Settings{}, Options{})
			require.NoError(t, err)
			d, name := ps.Decide(context.Background(), buildTrace(testTraceID, tt.trace))
			assert.Equal(t, tt.want.String(), d.String())
			assert.Equal(t, tt.policy, name)
		})
	}
}

// The sampled trace is named after the sampling policy with the smallest
// OpenTelemetry threshold: a filter (0) wins over an earlier probabilistic
// policy, a larger percentage over a smaller one, the first on a tie; an
// and reports its most selective sub-policy's threshold.
func TestEvaluateNamesPolicyWithSmallestThreshold(t *testing.T) {
	errSpan := spanSpec{status: ptrace.StatusCodeError, durMs: 1}
	tests := []struct {
		name, yaml, want string
		first            bool
	}{
		{"filter after probabilistic", `
policies:
  - {name: ten, type: probabilistic, probabilistic: {sampling_percentage: 100}}
  - {name: all, type: always_sample}`, "ten", false},
		{"filter after a partial probabilistic", `
policies:
  - {name: ninety, type: probabilistic, probabilistic: {sampling_percentage: 99.999999}}
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}`, "errors", false},
		{"larger percentage", `
policies:
  - {name: low, type: probabilistic, probabilistic: {sampling_percentage: 99.99}}
  - {name: high, type: probabilistic, probabilistic: {sampling_percentage: 99.999999}}`, "high", false},
		{"and takes its largest threshold", `
policies:
  - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 99.9999}}
  - {name: a, type: and, and: {and_sub_policy: [{name: e, type: status_code, status_code: {status_codes: [ERROR]}}, {name: q, type: probabilistic, probabilistic: {sampling_percentage: 99.99}}]}}`, "p", false},
		{"sample_on_first_match stops at the first", `
policies:
  - {name: ninety, type: probabilistic, probabilistic: {sampling_percentage: 99.999999}}
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}`, "ninety", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgs, err := loadPolicies(t, tt.yaml)
			require.NoError(t, err)
			ps, err := New(cfgs, Builtin(), policy.Settings{}, Options{SampleOnFirstMatch: tt.first})
			require.NoError(t, err)
			d, name := ps.Decide(context.Background(), buildTrace(testTraceID, errSpan))
			require.Equal(t, policy.Sampled, d)
			assert.Equal(t, tt.want, name)
		})
	}
}

func TestOTelThreshold(t *testing.T) {
	assert.Equal(t, uint64(0), otelThreshold(1))
	assert.Equal(t, uint64(0), otelThreshold(2))
	assert.Equal(t, uint64(1<<56), otelThreshold(0))
	assert.Equal(t, uint64(1<<56), otelThreshold(-1))
	assert.Equal(t, uint64(1<<55), otelThreshold(0.5))
	assert.Equal(t, uint64(1<<56)-7205759403792794, otelThreshold(0.1), "round(0.1 × 2^56)")
	assert.Less(t, otelThreshold(0.2), otelThreshold(0.1))
}

// execution_time_sum reports whole microseconds but loses nothing to
// rounding: evaluations far under a microsecond add up, on both counting
// paths.
func TestExecutionTimeSumsSubMicroseconds(t *testing.T) {
	for _, tallied := range []bool{false, true} {
		t.Run(fmt.Sprintf("tallied=%v", tallied), func(t *testing.T) {
			ps, reader := meteredSet(t, "policies:\n  - {name: yes, type: fixed, fixed: {d: sampled}}\n", Options{}, 100*time.Nanosecond)
			tr := buildTrace(testTraceID, spanSpec{})
			var tally *Tally
			if tallied {
				tally = &Tally{}
			}
			for i := 0; i < 10; i++ {
				_, _ = ps.DecideTally(context.Background(), tr, tally)
				if tallied {
					ps.Flush(context.Background(), tally) // one round per decision
				}
			}
			sum := collectMetrics(t, reader)[MetricPolicyExecutionTimeSum].Data.(metricdata.Sum[int64]).DataPoints[0].Value
			// 10 timed evaluations × 100 ns × 8 = 8 µs; truncating each
			// evaluation's 0.8 µs would have added nothing.
			assert.Equal(t, int64(8), sum)
		})
	}
}
