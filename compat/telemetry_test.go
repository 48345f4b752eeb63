package compat

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// metricsPolicies decide every generated trace as upstream does (no
// expected difference): a drop policy, filters, an inverted match and a
// probabilistic policy, so every verdict (sampled, not_sampled, dropped)
// is counted per policy.
const metricsPolicies = `    - name: no-metrics
      type: drop
      drop: {drop_sub_policy: [{name: m, type: string_attribute, string_attribute: {key: http.route, values: [/metrics]}}]}
    - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
    - {name: slow, type: latency, latency: {threshold_ms: 500}}
    - {name: not-health, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}
    - {name: flagged, type: boolean_attribute, boolean_attribute: {key: feature.enabled, value: true}}
    - {name: ten-percent, type: probabilistic, probabilistic: {sampling_percentage: 10}}
`

// instrument is what one side emitted under one metric name.
type instrument struct {
	kind, unit string
	keys       string           // attribute keys of its data points, sorted, "|"-joined
	points     map[string]int64 // sums and gauges: value; histograms: count; by attribute set
}

// collectMetrics reads every instrument a processor recorded.
func collectMetrics(t *testing.T, reader *sdkmetric.ManualReader) map[string]instrument {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]instrument{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			in := instrument{unit: m.Unit, points: map[string]int64{}}
			keys := map[string]bool{}
			add := func(attrs attribute.Set, v int64) {
				for _, kv := range attrs.ToSlice() {
					keys[string(kv.Key)] = true
				}
				in.points[attrs.Encoded(attribute.DefaultEncoder())] += v
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				in.kind = fmt.Sprintf("sum monotonic=%v", d.IsMonotonic)
				for _, dp := range d.DataPoints {
					add(dp.Attributes, dp.Value)
				}
			case metricdata.Gauge[int64]:
				in.kind = "gauge"
				for _, dp := range d.DataPoints {
					add(dp.Attributes, dp.Value)
				}
			case metricdata.Histogram[int64]:
				in.kind = "histogram"
				for _, dp := range d.DataPoints {
					add(dp.Attributes, int64(dp.Count))
					in.kind = fmt.Sprintf("histogram bounds=%v", dp.Bounds)
				}
			default:
				in.kind = fmt.Sprintf("%T", m.Data)
			}
			names := make([]string, 0, len(keys))
			for k := range keys {
				names = append(names, k)
			}
			sort.Strings(names)
			in.keys = strings.Join(names, "|")
			out[m.Name] = in
		}
	}
	return out
}

// TestTailSamplingMetricsMatchUpstream runs one policy set over the same
// traces through both processors, each named tail_sampling/gw with its own
// meter provider: first parts, then (after both decided them) late spans
// that the decision caches release. Every instrument upstream emits, ours
// emits with the same type, unit, attribute keys and attribute values; the
// counts that follow from the decisions are equal.
func TestTailSamplingMetricsMatchUpstream(t *testing.T) {
	traces := generate(genSeed+2, 1500)
	var first, late []*genTrace
	for _, tr := range traces {
		first = append(first, &genTrace{id: tr.id, resources: tr.resources, parts: tr.parts[:1]})
		if len(tr.parts) > 1 {
			late = append(late, &genTrace{id: tr.id, resources: tr.resources, parts: tr.parts[1:]})
		}
	}
	cfg := "decision_wait: 1s\nnum_traces: 200000\ndecision_cache: {sampled_cache_size: 100000, non_sampled_cache_size: 100000}\npolicies:\n" + metricsPolicies
	emitted := map[string]map[string]instrument{}
	for _, s := range []side{sideUpstream, sideOurs} {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		set := processortest.NewNopSettings(component.MustNewType("tail_sampling"))
		set.ID = component.MustNewIDWithName("tail_sampling", "gw")
		set.TelemetrySettings = componenttest.NewNopTelemetrySettings()
		set.MeterProvider = mp
		// Upstream decides on a 1 s tick; 2.5 s leaves room for it. Our
		// asynchronous instruments (the gauges, the policy execution
		// count and time) are observed only while the processor runs, so
		// the instruments are read before Shutdown too, when every trace
		// has been decided.
		var running map[string]instrument
		s.runWith(t, set, cfg, 2500*time.Millisecond, func() { running = collectMetrics(t, reader) },
			batches(first, perBatch), batches(late, perBatch))
		final := collectMetrics(t, reader)
		for name, in := range running {
			if _, ok := final[name]; !ok {
				final[name] = in
			}
		}
		emitted[s.name] = final
	}
	up, ours := emitted[sideUpstream.name], emitted[sideOurs.name]
	require.NotEmpty(t, up)

	// Upstream's evaluation error counter has no attributes; ours names the
	// policy (the README's metrics table says so).
	const evalErrors = "otelcol_processor_tail_sampling_sampling_policy_evaluation_error"
	for name, u := range up {
		o, ok := ours[name]
		if !assert.True(t, ok, "%s: emitted upstream, not by tailgate", name) {
			continue
		}
		assert.Equal(t, u.kind, o.kind, "%s: type", name)
		assert.Equal(t, u.unit, o.unit, "%s: unit", name)
		if name == evalErrors {
			assert.Equal(t, "policy", o.keys, name)
			continue
		}
		assert.Equal(t, u.keys, o.keys, "%s: attribute keys", name)
	}
	// Counts that follow from the decisions: the same series, the same
	// values, attribute values included (policy labels "gw.<policy>",
	// sampled and decision).
	for _, name := range []string{
		"otelcol_processor_tail_sampling_count_traces_sampled",
		"otelcol_processor_tail_sampling_global_count_traces_sampled",
		"otelcol_processor_tail_sampling_sampling_policy_execution_count",
		"otelcol_processor_tail_sampling_new_trace_id_received",
		"otelcol_processor_tail_sampling_early_releases_from_cache_decision",
	} {
		require.Contains(t, up, name)
		assert.Equal(t, up[name].points, ours[name].points, name)
	}
	// Time sums differ by nature; the series are the same.
	const timeSum = "otelcol_processor_tail_sampling_sampling_policy_execution_time_sum"
	require.Contains(t, up, timeSum)
	assert.ElementsMatch(t, keysOf(up[timeSum].points), keysOf(ours[timeSum].points), timeSum)
	assert.Equal(t, total(up[evalErrors].points), total(ours[evalErrors].points), "evaluation errors")
	counts := up["otelcol_processor_tail_sampling_count_traces_sampled"].points
	for _, decision := range []string{"sampled", "not_sampled", "dropped"} {
		n := int64(0)
		for k, v := range counts {
			if strings.Contains(k, "decision="+decision+",") {
				n += v
			}
		}
		assert.NotZero(t, n, "the policy set exercises decision=%s", decision)
	}
	var names []string
	for name := range ours {
		if _, ok := up[name]; !ok {
			names = append(names, strings.TrimPrefix(name, "otelcol_processor_tail_sampling_"))
		}
	}
	sort.Strings(names)
	t.Logf("upstream emitted %d instruments, all of them also by tailgate; only tailgate emitted (here): %s", len(up), strings.Join(names, ", "))
}

func keysOf(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
