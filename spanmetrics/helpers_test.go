package spanmetrics

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock is the injectable clock tests drive by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time  { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Set(t time.Time) { f.mu.Lock(); f.now = t; f.mu.Unlock() }

type harness struct {
	c     *spanConnector
	sink  *consumertest.MetricsSink
	clock *fakeClock
}

func newHarness(t testing.TB, cfg *Config) *harness {
	t.Helper()
	set := componenttest.NewNopTelemetrySettings()
	set.Resource = pcommon.NewResource()
	set.Resource.Attributes().PutStr("service.instance.id", testInstance)
	return startHarness(t, set, cfg)
}

// startHarness starts a connector with telemetry set, a fake clock at t0
// and no flush ticker.
func startHarness(t testing.TB, set component.TelemetrySettings, cfg *Config) *harness {
	t.Helper()
	h := &harness{sink: new(consumertest.MetricsSink), clock: &fakeClock{now: t0}}
	c, err := newConnector(set, cfg, h.sink, withClock(h.clock.Now),
		withTicker(func(time.Duration) (<-chan time.Time, func()) { return nil, func() {} }))
	require.NoError(t, err)
	h.c = c
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
	return h
}

// testInstance is the harness collector's service.instance.id, which
// every series carries as collector.instance.id.
const testInstance = "6f1c3d2e-test-instance"

func (h *harness) consume(t testing.TB, at time.Time, td ptrace.Traces) {
	t.Helper()
	h.clock.Set(at)
	require.NoError(t, h.c.ConsumeTraces(context.Background(), td))
}

func (h *harness) flush(t testing.TB, at time.Time) pmetric.Metrics {
	t.Helper()
	h.clock.Set(at)
	before := len(h.sink.AllMetrics())
	require.NoError(t, h.c.flush(context.Background()))
	all := h.sink.AllMetrics()
	if len(all) == before {
		return pmetric.NewMetrics()
	}
	return all[len(all)-1]
}

// spanSpec describes one span for tests.
type spanSpec struct {
	name       string
	kind       ptrace.SpanKind
	status     ptrace.StatusCode
	dur        time.Duration
	attrs      map[string]any
	tracestate string
	traceID    byte // 0: empty trace ID
	events     []map[string]any
}

func traces(resAttrs map[string]any, spans ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	addResource(td, resAttrs, spans...)
	return td
}

func addResource(td ptrace.Traces, resAttrs map[string]any, spans ...spanSpec) {
	rs := td.ResourceSpans().AppendEmpty()
	_ = rs.Resource().Attributes().FromRaw(resAttrs)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("test-scope")
	ss.Scope().SetVersion("v1")
	for _, s := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(s.name)
		sp.SetKind(s.kind)
		sp.Status().SetCode(s.status)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(s.dur)))
		_ = sp.Attributes().FromRaw(s.attrs)
		sp.TraceState().FromRaw(s.tracestate)
		if s.traceID != 0 {
			sp.SetTraceID(pcommon.TraceID{s.traceID})
			sp.SetSpanID(pcommon.SpanID{s.traceID, 1})
		}
		for _, e := range s.events {
			ev := sp.Events().AppendEmpty()
			ev.SetName("event")
			_ = ev.Attributes().FromRaw(e)
		}
	}
}

// point is a flat, comparable view of one emitted data point.
type point struct {
	Resource    map[string]any
	Metric      string
	Unit        string
	Temporality pmetric.AggregationTemporality
	Attrs       map[string]any
	Start, Time time.Duration // offsets from t0
	Value       int64
	Count       uint64
	Sum         float64
	Buckets     []uint64
	Bounds      []float64
	Exemplars   int
}

func ts(tm pcommon.Timestamp) time.Duration { return tm.AsTime().Sub(t0) }

func flatten(md pmetric.Metrics) []point {
	var out []point
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			sm := rm.ScopeMetrics().At(j)
			for k := 0; k < sm.Metrics().Len(); k++ {
				m := sm.Metrics().At(k)
				base := point{Resource: rm.Resource().Attributes().AsRaw(), Metric: m.Name(), Unit: m.Unit()}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					base.Temporality = m.Sum().AggregationTemporality()
					for d := 0; d < m.Sum().DataPoints().Len(); d++ {
						dp := m.Sum().DataPoints().At(d)
						p := base
						p.Attrs, p.Start, p.Time, p.Value = dp.Attributes().AsRaw(), ts(dp.StartTimestamp()), ts(dp.Timestamp()), dp.IntValue()
						p.Exemplars = dp.Exemplars().Len()
						out = append(out, p)
					}
				case pmetric.MetricTypeHistogram:
					base.Temporality = m.Histogram().AggregationTemporality()
					for d := 0; d < m.Histogram().DataPoints().Len(); d++ {
						dp := m.Histogram().DataPoints().At(d)
						p := base
						p.Attrs, p.Start, p.Time = dp.Attributes().AsRaw(), ts(dp.StartTimestamp()), ts(dp.Timestamp())
						p.Count, p.Sum, p.Buckets, p.Bounds = dp.Count(), dp.Sum(), dp.BucketCounts().AsRaw(), dp.ExplicitBounds().AsRaw()
						p.Exemplars = dp.Exemplars().Len()
						out = append(out, p)
					}
				case pmetric.MetricTypeExponentialHistogram:
					base.Temporality = m.ExponentialHistogram().AggregationTemporality()
					for d := 0; d < m.ExponentialHistogram().DataPoints().Len(); d++ {
						dp := m.ExponentialHistogram().DataPoints().At(d)
						p := base
						p.Attrs, p.Start, p.Time = dp.Attributes().AsRaw(), ts(dp.StartTimestamp()), ts(dp.Timestamp())
						p.Count, p.Sum, p.Buckets = dp.Count(), dp.Sum(), dp.Positive().BucketCounts().AsRaw()
						p.Exemplars = dp.Exemplars().Len()
						out = append(out, p)
					}
				}
			}
		}
	}
	return out
}

func seedConfig() *Config {
	cfg := createDefaultConfig()
	cfg.Histogram.Explicit = &ExplicitHistogramConfig{Buckets: []time.Duration{
		100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second}}
	cfg.Dimensions = []Dimension{{Name: "http.method"}, {Name: "http.status_code"}}
	return cfg
}
