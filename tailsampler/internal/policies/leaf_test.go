package policies

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

func one(yaml string) string { return "policies:\n  - " + yaml + "\n" }

func TestPolicyLeafTypes(t *testing.T) {
	errSpan := spanSpec{status: ptrace.StatusCodeError, durMs: 10}
	okSpan := spanSpec{status: ptrace.StatusCodeOk, durMs: 10}
	unset := spanSpec{durMs: 10}
	attr := func(k string, v any) spanSpec { return spanSpec{attrs: map[string]any{k: v}, durMs: 1} }
	res := func(k string, v any) spanSpec { return spanSpec{resAttrs: map[string]any{k: v}, durMs: 1} }
	tests := []struct {
		name   string
		policy string
		trace  []spanSpec
		want   policy.Decision
	}{
		{"always", `{name: a, type: always_sample}`, []spanSpec{unset}, policy.Sampled},

		{"latency at threshold", `{name: l, type: latency, latency: {threshold_ms: 500}}`, []spanSpec{{durMs: 500}}, policy.NotSampled},
		{"latency above threshold", `{name: l, type: latency, latency: {threshold_ms: 500}}`, []spanSpec{{durMs: 501}}, policy.Sampled},
		{"latency below", `{name: l, type: latency, latency: {threshold_ms: 500}}`, []spanSpec{{durMs: 499}}, policy.NotSampled},
		{"latency spans whole trace", `{name: l, type: latency, latency: {threshold_ms: 500}}`, []spanSpec{{startMs: 0, durMs: 100}, {startMs: 450, durMs: 100}}, policy.Sampled},
		{"latency window lower exclusive", `{name: l, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}`, []spanSpec{{durMs: 100}}, policy.NotSampled},
		{"latency window inside", `{name: l, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}`, []spanSpec{{durMs: 150}}, policy.Sampled},
		{"latency window upper inclusive", `{name: l, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}`, []spanSpec{{durMs: 200}}, policy.Sampled},
		{"latency window above", `{name: l, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}`, []spanSpec{{durMs: 150}, {startMs: 100, durMs: 150}}, policy.NotSampled},

		{"status error", `{name: s, type: status_code, status_code: {status_codes: [ERROR]}}`, []spanSpec{okSpan, errSpan}, policy.Sampled},
		{"status no error", `{name: s, type: status_code, status_code: {status_codes: [ERROR]}}`, []spanSpec{okSpan, unset}, policy.NotSampled},
		{"status unset", `{name: s, type: status_code, status_code: {status_codes: [UNSET, OK]}}`, []spanSpec{unset}, policy.Sampled},

		{"span count in", `{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}`, []spanSpec{unset, unset, unset}, policy.Sampled},
		{"span count below", `{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}`, []spanSpec{unset}, policy.NotSampled},
		{"span count above", `{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}`, []spanSpec{unset, unset, unset, unset}, policy.NotSampled},
		{"span count no max", `{name: c, type: span_count, span_count: {min_spans: 2}}`, []spanSpec{unset, unset, unset, unset}, policy.Sampled},

		{"trace flags set", `{name: f, type: trace_flags}`, []spanSpec{unset, {flags: 0x101}}, policy.Sampled},
		{"trace flags unset", `{name: f, type: trace_flags}`, []spanSpec{unset, {flags: 0x100}}, policy.NotSampled},

		{"trace state match", `{name: t, type: trace_state, trace_state: {key: vendor, values: [v1, v2]}}`, []spanSpec{{traceState: "a=b, vendor=v2 ,c=d"}}, policy.Sampled},
		{"trace state other value", `{name: t, type: trace_state, trace_state: {key: vendor, values: [v1]}}`, []spanSpec{{traceState: "vendor=v3"}}, policy.NotSampled},
		{"trace state key prefix", `{name: t, type: trace_state, trace_state: {key: vendor, values: [v1]}}`, []spanSpec{{traceState: "xvendor=v1,vendorx=v1"}}, policy.NotSampled},
		{"trace state empty", `{name: t, type: trace_state, trace_state: {key: vendor, values: [v1]}}`, []spanSpec{unset}, policy.NotSampled},

		{"string span", `{name: s, type: string_attribute, string_attribute: {key: tier, values: [pro]}}`, []spanSpec{attr("tier", "free"), attr("tier", "pro")}, policy.Sampled},
		{"string resource", `{name: s, type: string_attribute, string_attribute: {key: service.name, values: [checkout]}}`, []spanSpec{res("service.name", "checkout")}, policy.Sampled},
		{"string none", `{name: s, type: string_attribute, string_attribute: {key: tier, values: [pro]}}`, []spanSpec{attr("tier", "free")}, policy.NotSampled},
		{"string wrong type", `{name: s, type: string_attribute, string_attribute: {key: tier, values: ["1"]}}`, []spanSpec{attr("tier", 1)}, policy.NotSampled},
		{"string regex", `{name: s, type: string_attribute, string_attribute: {key: path, values: ["^/api/v[0-9]+/"], enabled_regex_matching: true}}`, []spanSpec{attr("path", "/api/v2/users")}, policy.Sampled},
		{"string regex unanchored as upstream", `{name: s, type: string_attribute, string_attribute: {key: path, values: ["health"], enabled_regex_matching: true}}`, []spanSpec{attr("path", "/healthz")}, policy.Sampled},
		{"string regex miss", `{name: s, type: string_attribute, string_attribute: {key: path, values: ["^/api"], enabled_regex_matching: true}}`, []spanSpec{attr("path", "/web")}, policy.NotSampled},
		{"string invert no match", `{name: s, type: string_attribute, string_attribute: {key: tier, values: [pro], invert_match: true}}`, []spanSpec{attr("tier", "free")}, policy.Sampled},
		{"string invert missing key", `{name: s, type: string_attribute, string_attribute: {key: tier, values: [pro], invert_match: true}}`, []spanSpec{unset}, policy.Sampled},
		{"string invert match", `{name: s, type: string_attribute, string_attribute: {key: tier, values: [pro], invert_match: true}}`, []spanSpec{attr("tier", "free"), attr("tier", "pro")}, policy.NotSampled},
		{"string invert resource", `{name: s, type: string_attribute, string_attribute: {key: service.name, values: [x], invert_match: true}}`, []spanSpec{res("service.name", "x")}, policy.NotSampled},

		{"numeric in range", `{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 400, max_value: 599}}`, []spanSpec{attr("code", 200), attr("code", 503)}, policy.Sampled},
		{"numeric bounds inclusive", `{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 400, max_value: 599}}`, []spanSpec{attr("code", 599)}, policy.Sampled},
		{"numeric out of range", `{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 400, max_value: 599}}`, []spanSpec{attr("code", 600)}, policy.NotSampled},
		{"numeric open max", `{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 400}}`, []spanSpec{attr("code", math.MaxInt64)}, policy.Sampled},
		{"numeric open min", `{name: n, type: numeric_attribute, numeric_attribute: {key: code, max_value: 0}}`, []spanSpec{attr("code", -5)}, policy.Sampled},
		{"numeric double", `{name: n, type: numeric_attribute, numeric_attribute: {key: ratio, min_value: 1, max_value: 2}}`, []spanSpec{attr("ratio", 1.5)}, policy.Sampled},
		{"numeric string ignored", `{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 0, max_value: 10}}`, []spanSpec{attr("code", "abc")}, policy.NotSampled},
		{"numeric resource", `{name: n, type: numeric_attribute, numeric_attribute: {key: shard, min_value: 3, max_value: 3}}`, []spanSpec{res("shard", 3)}, policy.Sampled},
		{"numeric invert", `{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 400, max_value: 599, invert_match: true}}`, []spanSpec{attr("code", 200)}, policy.Sampled},
		{"numeric invert match", `{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 400, max_value: 599, invert_match: true}}`, []spanSpec{attr("code", 404)}, policy.NotSampled},

		{"bool match", `{name: b, type: boolean_attribute, boolean_attribute: {key: force, value: true}}`, []spanSpec{attr("force", true)}, policy.Sampled},
		{"bool false value", `{name: b, type: boolean_attribute, boolean_attribute: {key: force, value: false}}`, []spanSpec{attr("force", false)}, policy.Sampled},
		{"bool mismatch", `{name: b, type: boolean_attribute, boolean_attribute: {key: force, value: true}}`, []spanSpec{attr("force", false)}, policy.NotSampled},
		{"bool string not bool", `{name: b, type: boolean_attribute, boolean_attribute: {key: force, value: true}}`, []spanSpec{attr("force", "true")}, policy.NotSampled},
		{"bool resource", `{name: b, type: boolean_attribute, boolean_attribute: {key: force, value: true}}`, []spanSpec{res("force", true)}, policy.Sampled},
		{"bool invert", `{name: b, type: boolean_attribute, boolean_attribute: {key: force, value: true, invert_match: true}}`, []spanSpec{attr("force", true)}, policy.NotSampled},
		{"bool invert absent", `{name: b, type: boolean_attribute, boolean_attribute: {key: force, value: true, invert_match: true}}`, []spanSpec{unset}, policy.Sampled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, one(tt.policy), policy.Settings{})
			assert.Equal(t, tt.want.String(), evalPolicy(t, p, buildTrace(testTraceID, tt.trace...)).String())
		})
	}
}

// The probabilistic policy hashes exactly as upstream (FNV-1a 64 of salt
// then trace ID against MaxUint64·p): same salt, same verdicts.
func TestPolicyProbabilistic(t *testing.T) {
	for _, pct := range []float64{0, 1, 10, 33.3, 50, 100} {
		t.Run(fmt.Sprint(pct), func(t *testing.T) {
			p := mustPolicy(t, one(fmt.Sprintf(`{name: p, type: probabilistic, probabilistic: {sampling_percentage: %v}}`, pct)), policy.Settings{})
			const n = 20000
			kept := 0
			for i := 0; i < n; i++ {
				var id pcommon.TraceID
				id[0], id[1], id[15] = byte(i), byte(i>>8), byte(i>>16)
				tr := buildTrace(id, spanSpec{})
				if evalPolicy(t, p, tr) == policy.Sampled {
					kept++
				}
			}
			assert.InDelta(t, pct/100, float64(kept)/n, 0.01)
		})
	}
	// Golden: the reference FNV-1a from the standard library agrees.
	p := mustPolicy(t, one(`{name: p, type: probabilistic, probabilistic: {hash_salt: s, sampling_percentage: 50}}`), policy.Settings{}).(*probabilisticPolicy)
	want := refHash("s", testTraceID)
	assert.Equal(t, want <= probabilityThreshold(0.5), evalPolicy(t, p, buildTrace(testTraceID, spanSpec{})) == policy.Sampled)
	d := mustPolicy(t, one(`{name: p, type: probabilistic, probabilistic: {sampling_percentage: 50}}`), policy.Settings{}).(*probabilisticPolicy)
	assert.NotEqual(t, p.saltState, d.saltState, "default salt differs from an explicit one")
}

func TestPolicyLimiting(t *testing.T) {
	clock := &fakeClock{t: testEpoch}
	set := policy.Settings{Now: clock.now}
	rate := mustPolicy(t, one(`{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 10}}`), set)
	tr := buildTrace(testTraceID, spanSpec{}, spanSpec{}, spanSpec{}, spanSpec{}, spanSpec{}) // 5 spans
	// Starts full with the default burst of 2×rate = 20 spans: 4 traces.
	for i := 0; i < 4; i++ {
		assert.Equal(t, policy.Sampled, evalPolicy(t, rate, tr), i)
	}
	assert.Equal(t, policy.NotSampled, evalPolicy(t, rate, tr))
	clock.advance(500 * time.Millisecond) // +5 tokens
	assert.Equal(t, policy.Sampled, evalPolicy(t, rate, tr))
	assert.Equal(t, policy.NotSampled, evalPolicy(t, rate, tr))
	clock.advance(time.Hour) // refills to the burst only
	for i := 0; i < 4; i++ {
		assert.Equal(t, policy.Sampled, evalPolicy(t, rate, tr), i)
	}
	assert.Equal(t, policy.NotSampled, evalPolicy(t, rate, tr))

	// A trace larger than the burst never passes.
	small := mustPolicy(t, one(`{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 100, burst_capacity: 4}}`), set)
	assert.Equal(t, policy.NotSampled, evalPolicy(t, small, tr))

	bytes := mustPolicy(t, one(fmt.Sprintf(`{name: b, type: bytes_limiting, bytes_limiting: {bytes_per_second: %d, burst_capacity: %d}}`, tr.Bytes(), tr.Bytes()*2)), set)
	assert.Equal(t, policy.Sampled, evalPolicy(t, bytes, tr))
	assert.Equal(t, policy.Sampled, evalPolicy(t, bytes, tr))
	assert.Equal(t, policy.NotSampled, evalPolicy(t, bytes, tr))
	clock.advance(time.Second)
	assert.Equal(t, policy.Sampled, evalPolicy(t, bytes, tr))
}

func TestPolicyRegexCacheBounded(t *testing.T) {
	p := mustPolicy(t, one(`{name: s, type: string_attribute, string_attribute: {key: k, values: ["^a"], enabled_regex_matching: true, cache_max_size: 8}}`), policy.Settings{}).(*stringAttributePolicy)
	for i := 0; i < 100; i++ {
		v := fmt.Sprintf("a%d", i)
		if i%2 == 1 {
			v = fmt.Sprintf("b%d", i)
		}
		want := policy.Sampled
		if i%2 == 1 {
			want = policy.NotSampled
		}
		tr := buildTrace(testTraceID, spanSpec{attrs: map[string]any{"k": v}})
		assert.Equal(t, want, evalPolicy(t, p, tr), v)
		assert.Equal(t, want, evalPolicy(t, p, tr), v+" cached")
	}
	assert.Equal(t, 8, p.regex.cached())
	def := mustPolicy(t, one(`{name: s, type: string_attribute, string_attribute: {key: k, values: ["x"], enabled_regex_matching: true}}`), policy.Settings{}).(*stringAttributePolicy)
	assert.Len(t, def.regex.slots, defaultRegexCacheSize)
}

func refHash(salt string, id pcommon.TraceID) uint64 {
	h := newRefFNV()
	_, _ = h.Write([]byte(salt))
	_, _ = h.Write(id[:])
	return h.Sum64()
}

func TestPolicyLeafRejectsUnknownKeys(t *testing.T) {
	_, err := newTraceFlagsPolicy(policy.Settings{}, confFrom(map[string]any{"x": 1}))
	require.Error(t, err)
	_, err = newAlwaysSamplePolicy(policy.Settings{}, confFrom(map[string]any{"x": 1}))
	require.Error(t, err)
}
