package compat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	upstream "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/tailsampler"
)

// Upstream writes the deciding policy's name on sampled data only with
// its recordpolicy gate; ours with record_policy. Both on, so names are
// compared too.
func init() {
	if err := featuregate.GlobalRegistry().Set("processor.tailsamplingprocessor.recordpolicy", true); err != nil {
		panic(err)
	}
}

// outcome is what one side kept: spans per trace and the policy each
// kept trace was named after.
type outcome struct {
	spans  map[pcommon.TraceID]int
	policy map[pcommon.TraceID]string
}

func (o outcome) total() int {
	n := 0
	for _, c := range o.spans {
		n += c
	}
	return n
}

const policyAttr = "tailsampling.policy"

func collect(sink *consumertest.TracesSink) outcome {
	o := outcome{spans: map[pcommon.TraceID]int{}, policy: map[pcommon.TraceID]string{}}
	for _, td := range sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				scopeName := ""
				if v, ok := ss.Scope().Attributes().Get(policyAttr); ok { // upstream: on the scope
					scopeName = v.AsString()
				}
				for _, sp := range ss.Spans().All() {
					o.spans[sp.TraceID()]++
					name := scopeName
					if v, ok := sp.Attributes().Get(policyAttr); ok { // ours: on the span
						name = v.AsString()
					}
					if name != "" {
						o.policy[sp.TraceID()] = name
					}
				}
			}
		}
	}
	return o
}

// side is one implementation under test.
type side struct {
	name    string
	factory processor.Factory
}

var (
	sideUpstream = side{"upstream", upstream.NewFactory()}
	sideOurs     = side{"tailgate", tailsampler.NewFactory()}
)

// loadYAML reads a YAML document into a confmap.
func loadYAML(t testing.TB, doc string) *confmap.Conf {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cfg.yaml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	conf, err := confmaptest.LoadConf(path)
	require.NoError(t, err)
	return conf
}

// run feeds the phases of input to a fresh processor of s built from the
// YAML config, waiting between phases (so the first phase is decided
// before late spans arrive), and returns what reached the next consumer.
// Everything still pending is decided by Shutdown, on both sides.
func (s side) run(t testing.TB, cfgYAML string, gap time.Duration, beforeDecide func(), phases ...[]ptrace.Traces) outcome {
	t.Helper()
	return s.runWith(t, processortest.NewNopSettings(component.MustNewType("tail_sampling")), cfgYAML, gap, beforeDecide, phases...)
}

// runWith is run with the processor settings set (its ID, its telemetry).
func (s side) runWith(t testing.TB, set processor.Settings, cfgYAML string, gap time.Duration, beforeDecide func(), phases ...[]ptrace.Traces) outcome {
	t.Helper()
	cfg := s.factory.CreateDefaultConfig()
	require.NoError(t, loadYAML(t, cfgYAML).Unmarshal(cfg))
	require.NoError(t, cfg.(interface{ Validate() error }).Validate())
	sink := new(consumertest.TracesSink)
	p, err := s.factory.CreateTraces(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	for i, phase := range phases {
		if i > 0 {
			time.Sleep(gap)
		}
		for _, td := range phase {
			require.NoError(t, p.ConsumeTraces(context.Background(), td))
		}
	}
	if beforeDecide != nil {
		beforeDecide()
	}
	require.NoError(t, p.Shutdown(context.Background()))
	return collect(sink)
}

// reason is a named, expected difference: a property of a trace that
// upstream and tailgate decide differently on purpose (the README's
// compatibility table says why).
type reason struct {
	name string
	has  func(*genTrace) bool
}

func anyValue(t *genTrace, key string, pred func(any) bool) bool {
	for _, r := range t.resources {
		if v, ok := r[key]; ok && pred(v) {
			return true
		}
	}
	for _, s := range t.spans() {
		if v, ok := s.attrs[key]; ok && pred(v) {
			return true
		}
	}
	return false
}

// numericTypes: upstream reads every numeric_attribute value with Int(),
// so a double (500.0) or a string reads as 0; tailgate compares doubles
// and ignores strings.
func numericTypes(key string) reason {
	return reason{"numeric_attribute reads a non-int " + key + " as 0", func(t *genTrace) bool {
		return anyValue(t, key, func(v any) bool { _, isInt := v.(int64); return !isInt })
	}}
}

// numericZeroBound: upstream drops a bound written as 0 (it means unset),
// so `min_value: 0` matches negative values.
func numericZeroBound(key string) reason {
	return reason{"numeric_attribute treats a bound of 0 as unset", func(t *genTrace) bool {
		return anyValue(t, key, func(v any) bool { i, ok := v.(int64); return ok && i < 0 })
	}}
}

// boolTypes: upstream reads a non-bool attribute with Bool() (false).
func boolTypes(key string) reason {
	return reason{"boolean_attribute reads a non-bool " + key + " as false", func(t *genTrace) bool {
		return anyValue(t, key, func(v any) bool { _, isBool := v.(bool); return !isBool })
	}}
}

// stringResourceTypes: upstream reads a non-string resource attribute
// with Str() (""), which a regex may match.
func stringResourceTypes(key string) reason {
	return reason{"string_attribute reads a non-string resource " + key + " as \"\"", func(t *genTrace) bool {
		for _, r := range t.resources {
			if v, ok := r[key]; ok {
				if _, isStr := v.(string); !isStr {
					return true
				}
			}
		}
		return false
	}}
}

// latencyBand: upstream decides a latency band on the running duration
// while it scans spans in arrival order, and keeps a trace as soon as a
// prefix of its spans falls in the band.
func latencyBand(lo, hi int64) reason {
	return reason{fmt.Sprintf("latency band %d–%d ms decided on a prefix of the spans", lo, hi), func(t *genTrace) bool {
		var first, last time.Duration
		prefixIn := false
		for i, s := range t.spans() {
			if i == 0 || s.start < first {
				first = s.start
			}
			if i == 0 || s.start+s.dur > last {
				last = s.start + s.dur
			}
			if ms := (last - first).Milliseconds(); ms > lo && ms <= hi {
				prefixIn = true
			}
		}
		ms := (last - first).Milliseconds()
		return prefixIn != (ms > lo && ms <= hi)
	}}
}

// policySet is one configuration run through both sides.
type policySet struct {
	name     string
	policies string // YAML list items, indented by four spaces
	extra    string // more processor keys (YAML, indented by two)
	expected []reason
	// budget: decisions depend on decision order (a rate or a per-second
	// budget): totals are compared within tol spans, and every kept trace
	// must be one that filter (an exact set) keeps.
	budget bool
	tol    int
	filter string
	// fallThrough: a composite whose sub-policies run over their shares:
	// tailgate lets a trace fall through to the next sub-policy with room
	// (upstream rejects it), so it keeps at least as many spans as
	// upstream and at most maxTotal.
	fallThrough bool
	maxTotal    int
	// probabilistic names policies of type probabilistic: upstream v0.161
	// names a trace after the first sampling policy, v0.165.1 (and
	// tailgate) after the one with the smallest threshold, so a later
	// filter policy takes a probabilistic one's place.
	probabilistic []string
}

func (ps policySet) config() string {
	return "decision_wait: 30s\nnum_traces: 200000\nrecord_policy: true\n" + ps.extra + "policies:\n" + ps.policies
}

// upstreamConfig is the same without our own keys.
func (ps policySet) upstreamConfig() string {
	return strings.Replace(ps.config(), "record_policy: true\n", "", 1)
}

const fivePolicies = `    - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
    - {name: slow, type: latency, latency: {threshold_ms: 500}}
    - name: not-health
      type: string_attribute
      string_attribute: {key: http.route, values: [/health], invert_match: true}
    - {name: server-errors, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 500, max_value: 599}}
    - {name: ten-percent, type: probabilistic, probabilistic: {sampling_percentage: 10}}
`

var policySets = []policySet{
	{name: "always_sample", policies: "    - {name: all, type: always_sample}\n"},
	{name: "status_code ERROR", policies: "    - {name: e, type: status_code, status_code: {status_codes: [ERROR]}}\n"},
	{name: "status_code OK UNSET", policies: "    - {name: e, type: status_code, status_code: {status_codes: [OK, UNSET]}}\n"},
	{name: "latency 500", policies: "    - {name: l, type: latency, latency: {threshold_ms: 500}}\n"},
	{name: "latency 0", policies: "    - {name: l, type: latency, latency: {threshold_ms: 0}}\n"},
	{name: "latency band 100-1000", policies: "    - {name: l, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 1000}}\n", expected: []reason{latencyBand(100, 1000)}},
	{name: "numeric 500-599", policies: "    - {name: n, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 500, max_value: 599}}\n", expected: []reason{numericTypes("http.status_code")}},
	{name: "numeric 500-599 invert", policies: "    - {name: n, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 500, max_value: 599, invert_match: true}}\n", expected: []reason{numericTypes("http.status_code")}},
	{name: "numeric min 400 only", policies: "    - {name: n, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 400}}\n", expected: []reason{numericTypes("http.status_code")}},
	{name: "numeric max 299 only", policies: "    - {name: n, type: numeric_attribute, numeric_attribute: {key: http.status_code, max_value: 299}}\n", expected: []reason{numericTypes("http.status_code")}},
	{name: "numeric min 0 written", policies: "    - {name: n, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 0, max_value: 299}}\n", expected: []reason{numericTypes("http.status_code"), numericZeroBound("http.status_code")}},
	{name: "probabilistic 10", policies: "    - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 10}}\n"},
	{name: "probabilistic 33.3 salt", policies: "    - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 33.3, hash_salt: my-salt}}\n"},
	{name: "probabilistic 50 other salt", policies: "    - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 50, hash_salt: gateway-tier-2}}\n"},
	{name: "probabilistic 100", policies: "    - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 100}}\n"},
	{name: "string exact", policies: "    - {name: s, type: string_attribute, string_attribute: {key: http.route, values: [/api/cart, /api/pay]}}\n"},
	{name: "string regex", policies: "    - {name: s, type: string_attribute, string_attribute: {key: http.route, values: ['^/api/.*'], enabled_regex_matching: true}}\n"},
	{name: "string regex invert", policies: "    - {name: s, type: string_attribute, string_attribute: {key: http.route, values: ['/health|/metrics'], enabled_regex_matching: true, invert_match: true}}\n"},
	{name: "string resource tenant", policies: "    - {name: s, type: string_attribute, string_attribute: {key: tenant, values: [gold]}}\n"},
	{name: "string regex resource any", policies: "    - {name: s, type: string_attribute, string_attribute: {key: tenant, values: ['.*'], enabled_regex_matching: true}}\n", expected: []reason{stringResourceTypes("tenant")}},
	{name: "boolean true", policies: "    - {name: b, type: boolean_attribute, boolean_attribute: {key: feature.enabled, value: true}}\n"},
	{name: "boolean false", policies: "    - {name: b, type: boolean_attribute, boolean_attribute: {key: feature.enabled, value: false}}\n", expected: []reason{boolTypes("feature.enabled")}},
	{name: "boolean true invert", policies: "    - {name: b, type: boolean_attribute, boolean_attribute: {key: feature.enabled, value: true, invert_match: true}}\n"},
	{name: "span_count 2-10", policies: "    - {name: c, type: span_count, span_count: {min_spans: 2, max_spans: 10}}\n"},
	{name: "span_count min 20", policies: "    - {name: c, type: span_count, span_count: {min_spans: 20}}\n"},
	{name: "trace_state", policies: "    - {name: ts, type: trace_state, trace_state: {key: vendor, values: [gold]}}\n"},
	{name: "trace_flags", policies: "    - {name: f, type: trace_flags}\n"},
	{name: "ottl span and event", policies: "    - {name: o, type: ottl_condition, ottl_condition: {span: ['attributes[\"retry\"] == 2'], spanevent: ['name == \"exception\"']}}\n"},
	{name: "and numeric 5xx latency", policies: `    - name: a
      type: and
      and: {and_sub_policy: [{name: n, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 500, max_value: 599}}, {name: l, type: latency, latency: {threshold_ms: 100}}]}
`, expected: []reason{numericTypes("http.status_code")}},
	{name: "and with not", policies: `    - name: a
      type: and
      and: {and_sub_policy: [{name: e, type: status_code, status_code: {status_codes: [ERROR, OK]}}, {name: n, type: not, not: {not_sub_policy: {name: h, type: string_attribute, string_attribute: {key: http.route, values: [/health]}}}}]}
`},
	{name: "not of invert", policies: "    - {name: n, type: not, not: {not_sub_policy: {name: s, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}}}\n"},
	{name: "invert plus sampling policy", policies: `    - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
    - {name: not-health, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}
`},
	{name: "two inverts plus others", policies: `    - {name: not-health, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}
    - {name: not-flag, type: boolean_attribute, boolean_attribute: {key: feature.enabled, value: true, invert_match: true}}
    - {name: slow, type: latency, latency: {threshold_ms: 1000}}
    - {name: flags, type: trace_flags}
`},
	{name: "five mixed policies", policies: fivePolicies, expected: []reason{numericTypes("http.status_code")}, probabilistic: []string{"ten-percent"}},
	{name: "sample_on_first_match probabilistic then invert", extra: "sample_on_first_match: true\n", policies: `    - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 25}}
    - {name: not-health, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}
`},
	{name: "probabilistic then invert", policies: `    - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 25}}
    - {name: not-health, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}
`, probabilistic: []string{"p"}},
	{name: "sample_on_first_match errors first", extra: "sample_on_first_match: true\n", policies: `    - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
    - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 50}}
    - {name: slow, type: latency, latency: {threshold_ms: 500}}
`},
	{name: "drop precedence", policies: `    - {name: all, type: always_sample}
    - name: drop-health
      type: drop
      drop: {drop_sub_policy: [{name: h, type: string_attribute, string_attribute: {key: http.route, values: [/health]}}]}
`},
	{name: "drop with and-style subs and not", policies: `    - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
    - {name: slow, type: latency, latency: {threshold_ms: 500}}
    - name: drop-fast-health
      type: drop
      drop: {drop_sub_policy: [{name: h, type: string_attribute, string_attribute: {key: http.route, values: [/health, /metrics]}}, {name: n, type: not, not: {not_sub_policy: {name: e, type: status_code, status_code: {status_codes: [ERROR]}}}}]}
`},
	{name: "old veto with drop", policies: `    - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 30}}
    - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
    - name: veto-health
      type: drop
      drop: {drop_sub_policy: [{name: h, type: string_attribute, string_attribute: {key: http.route, values: [/health]}}]}
`, probabilistic: []string{"p"}},
	{name: "composite within shares", policies: `    - name: c
      type: composite
      composite:
        max_total_spans_per_second: 1000000
        policy_order: [errors, rest]
        composite_sub_policy:
          - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
          - {name: rest, type: probabilistic, probabilistic: {sampling_percentage: 20}}
        rate_allocation: [{policy: errors, percent: 50}, {policy: rest, percent: 50}]
`},
	{name: "rate_limiting", budget: true, tol: 80, filter: "    - {name: all, type: always_sample}\n",
		policies: "    - {name: r, type: rate_limiting, rate_limiting: {spans_per_second: 1, burst_capacity: 3000}}\n"},
	{name: "and status rate_limiting", budget: true, tol: 80, filter: "    - {name: e, type: status_code, status_code: {status_codes: [ERROR, OK]}}\n",
		policies: "    - {name: a, type: and, and: {and_sub_policy: [{name: e, type: status_code, status_code: {status_codes: [ERROR, OK]}}, {name: r, type: rate_limiting, rate_limiting: {spans_per_second: 1, burst_capacity: 1500}}]}}\n"},
	{name: "bytes_limiting", budget: true, tol: 80, filter: "    - {name: all, type: always_sample}\n",
		policies: "    - {name: b, type: bytes_limiting, bytes_limiting: {bytes_per_second: 1, burst_capacity: 200000}}\n"},
	{name: "composite over a share", budget: true, fallThrough: true, maxTotal: 4000, filter: "    - {name: all, type: always_sample}\n",
		policies: `    - name: c
      type: composite
      composite:
        max_total_spans_per_second: 4000
        composite_sub_policy:
          - {name: errors, type: status_code, status_code: {status_codes: [ERROR, OK]}}
          - {name: slow, type: latency, latency: {threshold_ms: 200}}
        rate_allocation: [{policy: errors, percent: 50}, {policy: slow, percent: 50}]
`},
}

const (
	genSeed   = 20260301
	genTraces = 3000
	perBatch  = 200
)

// TestTailSamplingMatchesUpstream runs every policy set over the same
// generated traces through upstream's processor and ours and compares the
// kept traces one by one (and the policy each is named after). A trace
// decided differently must have a property one of the set's expected
// reasons names; each reason is reported with its count.
func TestTailSamplingMatchesUpstream(t *testing.T) {
	traces := generate(genSeed, genTraces)
	byID := map[pcommon.TraceID]*genTrace{}
	spans := 0
	for _, tr := range traces {
		byID[tr.id] = tr
		spans += len(tr.spans())
	}
	t.Logf("%d traces, %d spans, %d batches", len(traces), spans, len(batches(traces, perBatch)))
	for _, ps := range policySets {
		t.Run(ps.name, func(t *testing.T) {
			t.Parallel()
			var up, ours outcome
			if ps.budget {
				// One budget window for the whole decision round on both
				// sides: start deciding just after a second begins.
				up = sideUpstream.run(t, ps.upstreamConfig(), 0, startOfSecond, batches(traces, perBatch))
				ours = sideOurs.run(t, ps.config(), 0, startOfSecond, batches(traces, perBatch))
				compareBudget(t, ps, byID, traces, up, ours)
				return
			}
			up = sideUpstream.run(t, ps.upstreamConfig(), 0, nil, batches(traces, perBatch))
			ours = sideOurs.run(t, ps.config(), 0, nil, batches(traces, perBatch))
			compareExact(t, ps, byID, up, ours)
		})
	}
}

func startOfSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
}

func compareExact(t *testing.T, ps policySet, byID map[pcommon.TraceID]*genTrace, up, ours outcome) {
	t.Helper()
	explained := map[string]int{}
	var unexplained []string
	for id, tr := range byID {
		u, o := up.spans[id], ours.spans[id]
		if u == o {
			continue
		}
		why := ""
		for _, r := range ps.expected {
			if r.has(tr) {
				why = r.name
				break
			}
		}
		if why == "" {
			unexplained = append(unexplained, fmt.Sprintf("%s: upstream kept %d spans, tailgate %d", id, u, o))
			continue
		}
		explained[why]++
	}
	sort.Strings(unexplained)
	assert.Empty(t, unexplained, "traces decided differently with no expected reason")
	for _, r := range ps.expected {
		t.Logf("expected difference %q: %d traces", r.name, explained[r.name])
	}
	// Names: the same policy, except where v0.165.1 names a later policy
	// with a smaller threshold than the probabilistic one v0.161 names.
	renamed := 0
	for id, un := range up.policy {
		on, ok := ours.policy[id]
		if !ok || on == un {
			continue
		}
		if contains(ps.probabilistic, un) {
			renamed++
			continue
		}
		t.Errorf("trace %s: upstream names %q, tailgate %q", id, un, on)
	}
	if renamed > 0 {
		t.Logf("named after a later filter policy instead of probabilistic (upstream v0.165.1's rule): %d traces", renamed)
	}
	t.Logf("kept traces/spans: upstream %d/%d, tailgate %d/%d", len(up.spans), up.total(), len(ours.spans), ours.total())
}

func compareBudget(t *testing.T, ps policySet, byID map[pcommon.TraceID]*genTrace, traces []*genTrace, up, ours outcome) {
	t.Helper()
	filter := policySet{name: ps.name + " filter", policies: ps.filter}
	allowed := sideOurs.run(t, filter.config(), 0, nil, batches(traces, perBatch))
	for _, o := range []outcome{up, ours} {
		for id, n := range o.spans {
			require.Equal(t, len(byID[id].spans()), n, "a kept trace is kept whole")
			require.Contains(t, allowed.spans, id, "kept a trace its filter does not keep")
		}
	}
	assert.NotZero(t, up.total())
	if ps.fallThrough {
		assert.GreaterOrEqual(t, ours.total(), up.total(), "falling through to a sub-policy with room keeps more")
		assert.LessOrEqual(t, ours.total(), ps.maxTotal, "max_total_spans_per_second caps the sum")
		t.Logf("expected difference \"composite falls through to the next sub-policy with room\": %d more spans", ours.total()-up.total())
	} else {
		assert.InDelta(t, up.total(), ours.total(), float64(ps.tol), "kept spans: upstream %d, tailgate %d", up.total(), ours.total())
	}
	t.Logf("kept traces/spans: upstream %d/%d, tailgate %d/%d (decision order differs: which traces win differs)", len(up.spans), up.total(), len(ours.spans), ours.total())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestDecisionCachesMatchUpstream sends each trace's first part, waits
// until both sides have decided it, then sends the rest as late spans:
// late spans must follow the first decision on both sides, with the
// decision caches on (upstream) or at their defaults (upstream off: its
// decided traces stay in memory and late spans follow them there; ours
// on by default).
func TestDecisionCachesMatchUpstream(t *testing.T) {
	traces := generate(genSeed+1, 1500)
	byID := map[pcommon.TraceID]*genTrace{}
	var first, late []*genTrace
	for _, tr := range traces {
		byID[tr.id] = tr
		head := &genTrace{id: tr.id, resources: tr.resources, parts: tr.parts[:1]}
		first = append(first, head)
		if len(tr.parts) > 1 {
			late = append(late, &genTrace{id: tr.id, resources: tr.resources, parts: tr.parts[1:]})
		}
	}
	require.NotEmpty(t, late)
	for _, tc := range []struct{ name, up, ours string }{
		{"caches on", "decision_cache: {sampled_cache_size: 100000, non_sampled_cache_size: 100000}\n", "decision_cache: {sampled_cache_size: 100000, non_sampled_cache_size: 100000}\n"},
		{"defaults", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps := policySet{policies: fivePolicies}
			cfg := func(extra string) string {
				return "decision_wait: 1s\nnum_traces: 200000\n" + extra + "policies:\n" + ps.policies
			}
			// Upstream decides on a 1 s tick; 2.5 s leaves room for it.
			gap := 2500 * time.Millisecond
			up := sideUpstream.run(t, cfg(tc.up), gap, nil, batches(first, perBatch), batches(late, perBatch))
			ours := sideOurs.run(t, cfg(tc.ours), gap, nil, batches(first, perBatch), batches(late, perBatch))
			// Upstream decided the first parts only; late spans follow.
			// Both sides decide on the same first parts, so the kept
			// traces and their span counts (late spans included) agree
			// up to the five policies' expected difference.
			reasons := []reason{numericTypes("http.status_code")}
			var unexplained []string
			lateKept := 0
			for id, tr := range byID {
				u, o := up.spans[id], ours.spans[id]
				if u == o {
					firstPart := 0
					for _, r := range tr.parts[0] {
						firstPart += len(r)
					}
					if u > firstPart {
						lateKept++
					}
					continue
				}
				if !reasons[0].has(tr) {
					unexplained = append(unexplained, fmt.Sprintf("%s: upstream %d spans, tailgate %d", id, u, o))
				}
			}
			assert.Empty(t, unexplained)
			assert.NotZero(t, lateKept, "late spans followed kept decisions")
			t.Logf("kept spans: upstream %d, tailgate %d; traces whose late spans were kept on both sides: %d", up.total(), ours.total(), lateKept)
		})
	}
}

// The reference agent/gateway workload (internal/tracegen: whole traces,
// int status codes, 2 % errors, 5 % slow; three traces in four are
// /health probes) through the five-policy set: the same traces and spans
// on both sides, no difference at all. (With the old inverted-decision
// precedence every /health trace was vetoed, errors and slow ones too.)
func TestFivePoliciesOnTracegenWorkload(t *testing.T) {
	td := tracegenBatches(t)
	ps := policySet{policies: fivePolicies}
	up := sideUpstream.run(t, ps.upstreamConfig(), 0, nil, td())
	ours := sideOurs.run(t, ps.config(), 0, nil, td())
	require.NotZero(t, up.total())
	assert.Equal(t, up.spans, ours.spans)
	t.Logf("five policies: upstream kept %d spans of %d traces, tailgate %d of %d", up.total(), len(up.spans), ours.total(), len(ours.spans))
}

func tracegenBatches(t *testing.T) func() []ptrace.Traces {
	t.Helper()
	spec := tracegen.Spec{Traces: 5000, SpansPerTrace: 10, TracesPerBatch: 100, ErrorEvery: 50, SlowEvery: 20, SlowDuration: time.Second, Seed: 7}
	return func() []ptrace.Traces {
		out := tracegen.Batches(spec)
		// Health checks: most traces are /health probes, the rest API calls.
		for _, td := range out {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						route := "/api/cart"
						if sp.TraceID()[15]%4 != 0 {
							route = "/health"
						}
						sp.Attributes().PutStr("http.route", route)
					}
				}
			}
		}
		return out
	}
}
