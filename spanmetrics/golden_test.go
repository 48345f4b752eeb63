package spanmetrics

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var (
	checkout  = map[string]any{"service.name": "checkout", "k8s.namespace.name": "shop"}
	seedBound = []float64{100, 250, 500, 1000, 5000}
	cum       = pmetric.AggregationTemporalityCumulative
	del       = pmetric.AggregationTemporalityDelta
)

func serverGET(d time.Duration, status any) spanSpec {
	return spanSpec{name: "GET /cart", kind: ptrace.SpanKindServer, dur: d,
		attrs: map[string]any{"http.method": "GET", "http.status_code": status}}
}

func dbError(d time.Duration) spanSpec {
	return spanSpec{name: "db", kind: ptrace.SpanKindClient, status: ptrace.StatusCodeError, dur: d}
}

func attrs(name, kind, status string, extra ...any) map[string]any {
	m := map[string]any{"service.name": "checkout", "span.name": name, "span.kind": kind, "status.code": status, "collector.instance.id": testInstance}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func TestGoldenCumulativeSeedConfig(t *testing.T) {
	h := newHarness(t, seedConfig())
	getInt := attrs("GET /cart", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", "http.method", "GET", "http.status_code", int64(200))
	db := attrs("db", "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR")

	// int 200 and string "200" are one series, as upstream keys them by
	// their string form; it carries the value of the span that created it.
	h.consume(t, t0.Add(1*time.Second), traces(checkout,
		serverGET(120*time.Millisecond, 200), serverGET(80*time.Millisecond, 200),
		serverGET(600*time.Millisecond, "200"), dbError(3*time.Second)))
	got := flatten(h.flush(t, t0.Add(10*time.Second)))
	s, f := time.Second, 10*time.Second
	want := []point{
		{Resource: checkout, Metric: "traces.span.metrics.calls", Temporality: cum, Attrs: getInt, Start: s, Time: f, Value: 3},
		{Resource: checkout, Metric: "traces.span.metrics.calls", Temporality: cum, Attrs: db, Start: s, Time: f, Value: 1},
		{Resource: checkout, Metric: "traces.span.metrics.duration", Unit: "ms", Temporality: cum, Attrs: getInt, Start: s, Time: f,
			Count: 3, Sum: 800, Buckets: []uint64{1, 1, 0, 1, 0, 0}, Bounds: seedBound},
		{Resource: checkout, Metric: "traces.span.metrics.duration", Unit: "ms", Temporality: cum, Attrs: db, Start: s, Time: f,
			Count: 1, Sum: 3000, Buckets: []uint64{0, 0, 0, 0, 1, 0}, Bounds: seedBound},
	}
	require.Equal(t, want, got)

	// Second interval: one more span on an existing series, a boundary value
	// (exactly 100ms is in the first bucket: bounds are upper-inclusive).
	h.consume(t, t0.Add(15*time.Second), traces(checkout, serverGET(100*time.Millisecond, 200)))
	got = flatten(h.flush(t, t0.Add(20*time.Second)))
	f = 20 * time.Second
	want[0].Value, want[0].Time = 4, f
	want[1].Time = f
	want[2].Count, want[2].Sum, want[2].Buckets, want[2].Time = 4, 900, []uint64{2, 1, 0, 1, 0, 0}, f
	want[3].Time = f
	require.Equal(t, want, got)

	// Third flush, nothing new: cumulative series are repeated unchanged.
	got = flatten(h.flush(t, t0.Add(30*time.Second)))
	for i := range want {
		want[i].Time = 30 * time.Second
	}
	require.Equal(t, want, got)
}

func TestGoldenDelta(t *testing.T) {
	cfg := seedConfig()
	cfg.AggregationTemporality = TemporalityDelta
	h := newHarness(t, cfg)
	getInt := attrs("GET /cart", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", "http.method", "GET", "http.status_code", int64(200))
	db := attrs("db", "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR")

	h.consume(t, t0.Add(time.Second), traces(checkout, serverGET(120*time.Millisecond, 200), dbError(time.Second)))
	got := flatten(h.flush(t, t0.Add(10*time.Second)))
	require.Equal(t, []point{
		{Resource: checkout, Metric: "traces.span.metrics.calls", Temporality: del, Attrs: getInt, Start: time.Second, Time: 10 * time.Second, Value: 1},
		{Resource: checkout, Metric: "traces.span.metrics.calls", Temporality: del, Attrs: db, Start: time.Second, Time: 10 * time.Second, Value: 1},
		{Resource: checkout, Metric: "traces.span.metrics.duration", Unit: "ms", Temporality: del, Attrs: getInt, Start: time.Second, Time: 10 * time.Second,
			Count: 1, Sum: 120, Buckets: []uint64{0, 1, 0, 0, 0, 0}, Bounds: seedBound},
		{Resource: checkout, Metric: "traces.span.metrics.duration", Unit: "ms", Temporality: del, Attrs: db, Start: time.Second, Time: 10 * time.Second,
			Count: 1, Sum: 1000, Buckets: []uint64{0, 0, 0, 1, 0, 0}, Bounds: seedBound},
	}, got)

	// Only the GET series has data in the second interval; its point starts
	// where the previous one ended.
	h.consume(t, t0.Add(12*time.Second), traces(checkout, serverGET(50*time.Millisecond, 200), serverGET(60*time.Millisecond, 200)))
	got = flatten(h.flush(t, t0.Add(20*time.Second)))
	require.Equal(t, []point{
		{Resource: checkout, Metric: "traces.span.metrics.calls", Temporality: del, Attrs: getInt, Start: 10 * time.Second, Time: 20 * time.Second, Value: 2},
		{Resource: checkout, Metric: "traces.span.metrics.duration", Unit: "ms", Temporality: del, Attrs: getInt, Start: 10 * time.Second, Time: 20 * time.Second,
			Count: 2, Sum: 110, Buckets: []uint64{2, 0, 0, 0, 0, 0}, Bounds: seedBound},
	}, got)

	// Nothing new: no flush is sent at all.
	require.Empty(t, flatten(h.flush(t, t0.Add(30*time.Second))))

	// The db series comes back after two idle intervals: its start is the
	// end of its last emitted point (an uninterrupted delta stream).
	h.consume(t, t0.Add(35*time.Second), traces(checkout, dbError(2*time.Second)))
	got = flatten(h.flush(t, t0.Add(40*time.Second)))
	require.Len(t, got, 2)
	assert.Equal(t, 10*time.Second, got[0].Start)
	assert.Equal(t, 40*time.Second, got[0].Time)
	assert.Equal(t, int64(1), got[0].Value)
}

func TestOverflow(t *testing.T) {
	cfg := seedConfig()
	cfg.AggregationCardinalityLimit = 2
	cfg.Histogram.Disable = true
	h := newHarness(t, cfg)
	var spans []spanSpec
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "GET"} {
		spans = append(spans, spanSpec{name: "op", kind: ptrace.SpanKindServer, attrs: map[string]any{"http.method": m}})
	}
	h.consume(t, t0, traces(checkout, spans...))
	got := flatten(h.flush(t, t0.Add(time.Minute)))
	require.Len(t, got, 3)
	assert.Equal(t, "GET", got[0].Attrs["http.method"])
	assert.Equal(t, int64(2), got[0].Value)
	assert.Equal(t, "POST", got[1].Attrs["http.method"])
	assert.Equal(t, map[string]any{"otel.metric.overflow": true}, got[2].Attrs)
	assert.Equal(t, int64(2), got[2].Value, "PUT and DELETE land in the overflow series")
}

func TestSeriesAndResourceExpiry(t *testing.T) {
	cfg := seedConfig()
	cfg.Histogram.Disable = true
	cfg.SeriesExpiration = 30 * time.Second
	cfg.MetricsExpiration = 90 * time.Second
	h := newHarness(t, cfg)
	other := map[string]any{"service.name": "cart"}
	h.consume(t, t0, traces(checkout, serverGET(time.Millisecond, 200), dbError(time.Millisecond)))
	h.consume(t, t0, traces(other, dbError(time.Millisecond)))
	require.Len(t, flatten(h.flush(t, t0.Add(10*time.Second))), 3)

	// At 40s the checkout GET series is refreshed; db series of both
	// resources are 40s old: emitted one last time, then removed.
	h.consume(t, t0.Add(40*time.Second), traces(checkout, serverGET(time.Millisecond, 200)))
	require.Len(t, flatten(h.flush(t, t0.Add(40*time.Second))), 3)
	got := flatten(h.flush(t, t0.Add(50*time.Second)))
	require.Len(t, got, 1)
	assert.Equal(t, "GET /cart", got[0].Attrs["span.name"])
	assert.Equal(t, int64(2), got[0].Value)

	// A whole resource expires after metrics_expiration without spans; like
	// an expired series it is emitted one last time, then removed.
	h.consume(t, t0.Add(60*time.Second), traces(other, dbError(time.Millisecond)))
	got = flatten(h.flush(t, t0.Add(140*time.Second)))
	require.Len(t, got, 2)
	assert.Equal(t, "checkout", got[0].Resource["service.name"], "last time: 100s without spans")
	assert.Equal(t, "cart", got[1].Resource["service.name"])
	// cart's series was 80s old at 140s (series_expiration 30s): gone too.
	require.Empty(t, flatten(h.flush(t, t0.Add(200*time.Second))))
	assert.Zero(t, h.c.activeSeries())
}

func TestResourceCacheEvictsLeastRecentlySeen(t *testing.T) {
	cfg := seedConfig()
	cfg.Histogram.Disable = true
	cfg.ResourceMetricsCacheSize = 2
	h := newHarness(t, cfg)
	for i, svc := range []string{"a", "b", "c"} {
		h.consume(t, t0.Add(time.Duration(i)*time.Second), traces(map[string]any{"service.name": svc}, dbError(time.Millisecond)))
	}
	got := flatten(h.flush(t, t0.Add(10*time.Second)))
	require.Len(t, got, 3, "the evicted resource is flushed once more")
	got = flatten(h.flush(t, t0.Add(20*time.Second)))
	require.Len(t, got, 2)
	assert.Equal(t, "b", got[0].Resource["service.name"])
	assert.Equal(t, "c", got[1].Resource["service.name"])
}

func TestExemplarsAndAdjustedCounts(t *testing.T) {
	cfg := seedConfig()
	cfg.Exemplars = ExemplarsConfig{Enabled: true, MaxPerDataPoint: 2}
	cfg.EnableMetricsSamplingMethod = true
	h := newHarness(t, cfg)
	sampled := func(ts string, id byte) spanSpec {
		s := serverGET(120*time.Millisecond, 200)
		s.tracestate, s.traceID = ts, id
		return s
	}
	h.consume(t, t0, traces(checkout,
		sampled("ot=th:8", 1),                 // 50%: counts 2
		sampled("vendor=x,ot=rv:abc;th:c", 2), // 25%: counts 4
		sampled("ot=th:0", 3),                 // 100%: counts 1
		sampled("ot=th:zz", 4),                // invalid: counted
		sampled("", 0),                        // no trace ID: no exemplar
	))
	got := flatten(h.flush(t, t0.Add(time.Minute)))
	require.Len(t, got, 4)
	ext, cnt := got[0], got[1]
	assert.Equal(t, "extrapolated", ext.Attrs["sampling.method"])
	assert.Equal(t, int64(7), ext.Value)
	assert.Equal(t, 2, ext.Exemplars, "capped by max_per_data_point")
	assert.Equal(t, "counted", cnt.Attrs["sampling.method"])
	assert.Equal(t, int64(2), cnt.Value)
	assert.Equal(t, 1, cnt.Exemplars)
	assert.Equal(t, uint64(7), got[2].Count)
	assert.InDelta(t, 840.0, got[2].Sum, 1e-9)
	assert.Equal(t, []uint64{0, 7, 0, 0, 0, 0}, got[2].Buckets)

	// Exemplars are cleared at every flush.
	got = flatten(h.flush(t, t0.Add(2*time.Minute)))
	for _, p := range got {
		assert.Zero(t, p.Exemplars)
	}
}

func TestEventsMetric(t *testing.T) {
	cfg := seedConfig()
	cfg.Events = EventsConfig{Enabled: true, Dimensions: []Dimension{{Name: "exception.type"}}}
	h := newHarness(t, cfg)
	s := serverGET(10*time.Millisecond, 200)
	s.events = []map[string]any{{"exception.type": "Timeout"}, {"exception.type": "Timeout"}, {"exception.type": "IOError"}, {}}
	h.consume(t, t0, traces(checkout, s))
	var ev []point
	for _, p := range flatten(h.flush(t, t0.Add(time.Minute))) {
		if p.Metric == "traces.span.metrics.events" {
			ev = append(ev, p)
		}
	}
	base := attrs("GET /cart", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET", "http.method", "GET", "http.status_code", int64(200))
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range base {
			m[a] = b
		}
		if k != "" {
			m[k] = v
		}
		return m
	}
	require.Equal(t, []point{
		{Resource: checkout, Metric: "traces.span.metrics.events", Temporality: cum, Attrs: with("exception.type", "Timeout"), Time: time.Minute, Value: 2},
		{Resource: checkout, Metric: "traces.span.metrics.events", Temporality: cum, Attrs: with("exception.type", "IOError"), Time: time.Minute, Value: 1},
		{Resource: checkout, Metric: "traces.span.metrics.events", Temporality: cum, Attrs: with("", nil), Time: time.Minute, Value: 1},
	}, ev)
}

func TestDimensionResolutionAndExclusion(t *testing.T) {
	def := "unknown"
	cfg := createDefaultConfig()
	cfg.Histogram.Disable = true
	cfg.Dimensions = []Dimension{{Name: "region"}, {Name: "tier", Default: &def}, {Glob: "http.*"}}
	cfg.ExcludeDimensions = []string{"status.code"}
	cfg.IncludeInstrumentationScope = []string{"test-scope"}
	h := newHarness(t, cfg)
	res := map[string]any{"service.name": "checkout", "region": "eu", "tier": "gold"}
	h.consume(t, t0, traces(res, spanSpec{name: "x", kind: ptrace.SpanKindInternal,
		attrs: map[string]any{"region": "us", "http.route": "/a", "http.method": "GET"}}))
	got := flatten(h.flush(t, t0.Add(time.Minute)))
	require.Len(t, got, 1)
	assert.Equal(t, map[string]any{
		"service.name": "checkout", "span.name": "x", "span.kind": "SPAN_KIND_INTERNAL",
		"region": "us", "tier": "gold", "http.route": "/a", "http.method": "GET",
		"span.instrumentation.scope.name": "test-scope", "span.instrumentation.scope.version": "v1",
		"collector.instance.id": testInstance,
	}, got[0].Attrs)

	h.consume(t, t0, traces(map[string]any{"service.name": "checkout"}, spanSpec{name: "x"}))
	got = flatten(h.flush(t, t0.Add(2*time.Minute)))
	require.Len(t, got, 2)
	assert.Equal(t, "unknown", got[1].Attrs["tier"])
	assert.NotContains(t, got[1].Attrs, "region")
}

func TestCallsAndHistogramDimensions(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.CallsDimensions = []Dimension{{Name: "http.method"}}
	cfg.Histogram.Dimensions = []Dimension{{Name: "http.route"}}
	cfg.Histogram.Unit = UnitSeconds
	h := newHarness(t, cfg)
	h.consume(t, t0, traces(checkout, spanSpec{name: "x", dur: 1500 * time.Millisecond,
		attrs: map[string]any{"http.method": "GET", "http.route": "/a"}}))
	got := flatten(h.flush(t, t0.Add(time.Minute)))
	require.Len(t, got, 2)
	assert.Equal(t, "GET", got[0].Attrs["http.method"])
	assert.NotContains(t, got[0].Attrs, "http.route")
	assert.Equal(t, "/a", got[1].Attrs["http.route"])
	assert.NotContains(t, got[1].Attrs, "http.method")
	assert.Equal(t, "s", got[1].Unit)
	assert.InDelta(t, 1.5, got[1].Sum, 1e-12)
	assert.Len(t, got[1].Bounds, 16)
	assert.InDelta(t, 0.002, got[1].Bounds[0], 1e-12)
}

func TestExponentialHistogram(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 10}
	h := newHarness(t, cfg)
	var spans []spanSpec
	for _, d := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 100 * time.Millisecond, 10 * time.Second} {
		spans = append(spans, spanSpec{name: "x", dur: d})
	}
	h.consume(t, t0, traces(checkout, spans...))
	md := h.flush(t, t0.Add(time.Minute))
	m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(1)
	require.Equal(t, pmetric.MetricTypeExponentialHistogram, m.Type())
	dp := m.ExponentialHistogram().DataPoints().At(0)
	assert.Equal(t, uint64(5), dp.Count())
	assert.Equal(t, uint64(1), dp.ZeroCount())
	assert.LessOrEqual(t, dp.Positive().BucketCounts().Len(), 10)
	var n uint64
	for _, c := range dp.Positive().BucketCounts().AsRaw() {
		n += c
	}
	assert.Equal(t, uint64(4), n)
	assert.InDelta(t, 10103.0, dp.Sum(), 1e-9)
	assert.Equal(t, 0.0, dp.Min())
	assert.Equal(t, 10000.0, dp.Max())
}

func TestMissingServiceNameIsCountedNotAggregated(t *testing.T) {
	h := newHarness(t, seedConfig())
	h.consume(t, t0, traces(map[string]any{"host.name": "x"}, dbError(time.Millisecond)))
	require.Empty(t, flatten(h.flush(t, t0.Add(time.Minute))))
}
