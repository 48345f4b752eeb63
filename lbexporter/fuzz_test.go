package lbexporter

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

func delivered[T any](env *testEnv, pick func(*memSink) []T, count func(T) int) int {
	env.sinks.mu.Lock()
	defer env.sinks.mu.Unlock()
	n := 0
	for _, s := range env.sinks.m {
		s.mu.Lock()
		for _, d := range pick(s) {
			n += count(d)
		}
		s.mu.Unlock()
	}
	return n
}

func FuzzConsumeTraces(f *testing.F) {
	m := &ptrace.ProtoMarshaler{}
	for _, td := range tracegen.Batches(tracegen.Spec{Traces: 4, SpansPerTrace: 3, TracesPerBatch: 2}) {
		b, _ := m.MarshalTraces(td)
		f.Add(b, uint8(0))
	}
	keys := []string{RoutingTraceID, RoutingService, RoutingAttributes}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
		if err != nil {
			return
		}
		key := keys[int(mode)%len(keys)]
		env := newTestEnv(endpoints(1 + int(mode)%5)...)
		l := newMemTraces(t, env, testConfig(func(c *Config) {
			c.RoutingKey = key
			if key == RoutingAttributes {
				c.RoutingAttributes = []string{"service.name", "span.name", "k"}
			}
		}))
		in := td.SpanCount()
		pushFlush(t, l, td)
		require.Equal(t, in, delivered(env, func(s *memSink) []ptrace.Traces { return s.traces }, ptrace.Traces.SpanCount))
	})
}

func FuzzConsumeLogs(f *testing.F) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "a")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().SetTraceID([16]byte{1})
	lrs.AppendEmpty().Body().SetStr("x")
	b, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	f.Add(b, uint8(1))
	keys := []string{RoutingService, RoutingTraceID, RoutingResource, RoutingAttributes}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(data)
		if err != nil {
			return
		}
		key := keys[int(mode)%len(keys)]
		env := newTestEnv(endpoints(1 + int(mode)%5)...)
		l := newMemLogs(t, env, testConfig(func(c *Config) {
			c.RoutingKey = key
			if key == RoutingAttributes {
				c.RoutingAttributes = []string{"service.name", "log.severity", "log.body", "k"}
			}
		}))
		in := ld.LogRecordCount()
		pushFlush(t, l, ld)
		require.Equal(t, in, delivered(env, func(s *memSink) []plog.Logs { return s.logs }, plog.Logs.LogRecordCount))
	})
}

func FuzzConsumeMetrics(f *testing.F) {
	f.Add(sampleMetricsBytes(), uint8(3))
	keys := []string{RoutingService, RoutingResource, RoutingMetric, RoutingStreamID, RoutingAttributes}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(data)
		if err != nil {
			return
		}
		key := keys[int(mode)%len(keys)]
		env := newTestEnv(endpoints(1 + int(mode)%5)...)
		l := newMemMetrics(t, env, testConfig(func(c *Config) {
			c.RoutingKey = key
			if key == RoutingAttributes {
				c.RoutingAttributes = []string{"service.name", "k"}
			}
		}))
		in := md.DataPointCount()
		pushFlush(t, l, md)
		require.Equal(t, in, delivered(env, func(s *memSink) []pmetric.Metrics { return s.metrics }, pmetric.Metrics.DataPointCount))
	})
}

func sampleMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range 3 {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", []string{"a", "b", "c"}[r])
		rm.Resource().Attributes().PutInt("r", int64(r))
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("s")
		g := sm.Metrics().AppendEmpty()
		g.SetName("gauge")
		for i := range 6 {
			dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.Attributes().PutInt("k", int64(i))
		}
		s := sm.Metrics().AppendEmpty()
		s.SetName("sum")
		sum := s.SetEmptySum()
		sum.SetIsMonotonic(true)
		for i := range 5 {
			sum.DataPoints().AppendEmpty().Attributes().PutStr("k", string(rune('a'+i)))
		}
		h := sm.Metrics().AppendEmpty()
		h.SetName("hist")
		for i := range 4 {
			h.SetEmptyHistogram()
			_ = i
		}
		for i := range 4 {
			h.Histogram().DataPoints().AppendEmpty().Attributes().PutInt("k", int64(i))
		}
		e := sm.Metrics().AppendEmpty()
		e.SetName("exp")
		e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().Attributes().PutInt("k", 1)
		e.ExponentialHistogram().DataPoints().AppendEmpty().Attributes().PutInt("k", 2)
		su := sm.Metrics().AppendEmpty()
		su.SetName("summary")
		su.SetEmptySummary().DataPoints().AppendEmpty().Attributes().PutInt("k", 3)
		su.Summary().DataPoints().AppendEmpty().Attributes().PutInt("k", 4)
	}
	return md
}

func sampleMetricsBytes() []byte {
	b, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(sampleMetrics())
	return b
}
