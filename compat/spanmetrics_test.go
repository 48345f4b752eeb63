package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	upstreamsm "github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/spanmetrics"
)

// spanMetricsConfigs cover dimensions (named, defaulted, glob), calls and
// histogram dimensions, events, exclusions, scopes, resource keys,
// explicit and exponential histograms, both temporalities, units,
// namespaces, the sampling-method attribute and the cardinality limit.
var spanMetricsConfigs = []struct{ name, yaml string }{
	{"reference gateway", `
dimensions: [{name: http.method}, {name: http.status_code}]
histogram: {explicit: {buckets: [100ms, 250ms, 500ms, 1s, 2s, 5s]}}
aggregation_temporality: AGGREGATION_TEMPORALITY_CUMULATIVE
`},
	{"delta exponential events", `
dimensions: [{name: http.route, default: none}, {name: feature.enabled}]
histogram: {exponential: {max_size: 40}, unit: s}
aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA
events: {enabled: true, dimensions: [{name: http.status_code}]}
resource_metrics_key_attributes: [service.name]
namespace: spans
`},
	{"exclusions scopes globs", `
dimensions: [{glob: "http.*"}]
calls_dimensions: [{name: retry}]
histogram: {dimensions: [{name: tenant}]}
exclude_dimensions: [status.code]
include_instrumentation_scope: [compat]
`},
	{"sampling method and cardinality", `
dimensions: [{name: http.status_code, default: unknown}]
enable_metrics_sampling_method: true
aggregation_cardinality_limit: 12
namespace: ""
`},
}

// TestSpanMetricsMatchUpstream feeds the same generated spans to
// upstream's connector and ours and compares the first flush series for
// series: resource, metric, attributes, counts, sums, buckets, units and
// temporality. Every series carries collector.instance.id on both sides
// (a random value upstream); its value is compared for presence only.
func TestSpanMetricsMatchUpstream(t *testing.T) {
	traces := generate(genSeed+2, 800)
	for _, tc := range spanMetricsConfigs {
		t.Run(tc.name, func(t *testing.T) {
			up := upstreamSpanMetrics(t, tc.yaml, batches(traces, perBatch))
			ours := oursSpanMetrics(t, tc.yaml, batches(traces, perBatch))
			require.NotEmpty(t, up)
			var missing, extra, differ []string
			for k, u := range up {
				o, ok := ours[k]
				switch {
				case !ok:
					missing = append(missing, k)
				case o != u:
					differ = append(differ, fmt.Sprintf("%s\n  upstream %s\n  tailgate %s", k, u, o))
				}
			}
			for k := range ours {
				if _, ok := up[k]; !ok {
					extra = append(extra, k)
				}
			}
			sort.Strings(missing)
			sort.Strings(extra)
			sort.Strings(differ)
			assert.Empty(t, missing, "series only upstream emits")
			assert.Empty(t, extra, "series only tailgate emits")
			assert.Empty(t, differ, "series with other values")
			t.Logf("%d series, the same on both sides", len(up))
		})
	}
}

func upstreamSpanMetrics(t *testing.T, cfgYAML string, in []ptrace.Traces) map[string]string {
	t.Helper()
	f := upstreamsm.NewFactory()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC))
	ctx := clockwork.AddToContext(context.Background(), clock)
	sink := new(consumertest.MetricsSink)
	c := createSpanMetrics(t, ctx, f, cfgYAML+"metrics_flush_interval: 60s\n", sink)
	for _, td := range in {
		require.NoError(t, c.ConsumeTraces(ctx, td))
	}
	// Upstream flushes on its ticker only: fire it twice. A new
	// cumulative counter (calls, events) shows 0 on its first flush and
	// its count from the second on (so Prometheus' rate() sees the first
	// interval); tailgate shows the count at once. That is the one
	// expected difference: the first flush's sums must all be 0, and the
	// second flush (same data, nothing new) is compared.
	for i := 1; i <= 2; i++ {
		require.NoError(t, clock.BlockUntilContext(ctx, 1))
		clock.Advance(60 * time.Second)
		require.Eventually(t, func() bool { return len(sink.AllMetrics()) >= i }, 10*time.Second, 10*time.Millisecond)
	}
	require.NoError(t, c.Shutdown(ctx))
	first, second := sink.AllMetrics()[0], sink.AllMetrics()[1]
	if isCumulative(first) {
		zeros := 0
		for _, rm := range first.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Type() == pmetric.MetricTypeSum {
						for _, dp := range m.Sum().DataPoints().All() {
							require.Zero(t, dp.IntValue(), "upstream's first cumulative sum point")
							zeros++
						}
					}
				}
			}
		}
		t.Logf("expected difference \"a new cumulative counter starts at 0 upstream\": %d first points", zeros)
		return seriesOf(t, second)
	}
	return seriesOf(t, first)
}

func isCumulative(md pmetric.Metrics) bool {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() == pmetric.MetricTypeSum {
					return m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
				}
			}
		}
	}
	return false
}

func oursSpanMetrics(t *testing.T, cfgYAML string, in []ptrace.Traces) map[string]string {
	t.Helper()
	sink := new(consumertest.MetricsSink)
	c := createSpanMetrics(t, context.Background(), spanmetrics.NewFactory(), cfgYAML, sink)
	for _, td := range in {
		require.NoError(t, c.ConsumeTraces(context.Background(), td))
	}
	require.NoError(t, c.Shutdown(context.Background())) // flushes
	require.Len(t, sink.AllMetrics(), 1)
	return seriesOf(t, sink.AllMetrics()[0])
}

func createSpanMetrics(t *testing.T, ctx context.Context, f connector.Factory, cfgYAML string, sink *consumertest.MetricsSink) connector.Traces {
	t.Helper()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, loadYAML(t, cfgYAML).Unmarshal(cfg))
	require.NoError(t, cfg.(interface{ Validate() error }).Validate())
	c, err := f.CreateTracesToMetrics(ctx, connectortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	return c
}

// seriesOf flattens metrics to "resource | metric | attributes" →
// "values", dropping timestamps (the two sides run at different times)
// and collector.instance.id's value after checking it is there.
func seriesOf(t *testing.T, md pmetric.Metrics) map[string]string {
	t.Helper()
	out := map[string]string{}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for _, rm := range md.ResourceMetrics().All() {
		res := js(rm.Resource().Attributes().AsRaw())
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				add := func(attrs map[string]any, value string) {
					if _, overflow := attrs["otel.metric.overflow"]; !overflow {
						id, ok := attrs["collector.instance.id"]
						require.True(t, ok && id != "", "series without collector.instance.id: %v", attrs)
						delete(attrs, "collector.instance.id")
					}
					k := res + " | " + sm.Scope().Name() + " " + m.Name() + " " + m.Unit() + " | " + js(attrs)
					require.NotContains(t, out, k, "duplicate series")
					out[k] = value
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for _, dp := range m.Sum().DataPoints().All() {
						add(dp.Attributes().AsRaw(), fmt.Sprintf("sum %s monotonic=%v value=%d", m.Sum().AggregationTemporality(), m.Sum().IsMonotonic(), dp.IntValue()))
					}
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						add(dp.Attributes().AsRaw(), fmt.Sprintf("histogram %s count=%d sum=%.6f bounds=%v buckets=%v",
							m.Histogram().AggregationTemporality(), dp.Count(), dp.Sum(), dp.ExplicitBounds().AsRaw(), dp.BucketCounts().AsRaw()))
					}
				case pmetric.MetricTypeExponentialHistogram:
					for _, dp := range m.ExponentialHistogram().DataPoints().All() {
						add(dp.Attributes().AsRaw(), fmt.Sprintf("exponential %s count=%d sum=%.6f scale=%d zero=%d offset=%d buckets=%v",
							m.ExponentialHistogram().AggregationTemporality(), dp.Count(), dp.Sum(), dp.Scale(), dp.ZeroCount(),
							dp.Positive().Offset(), dp.Positive().BucketCounts().AsRaw()))
					}
				default:
					t.Fatalf("unexpected metric type %s of %s", m.Type(), m.Name())
				}
			}
		}
	}
	return out
}
