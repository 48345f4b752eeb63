package spanmetrics

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzConsumeTraces feeds arbitrary OTLP into every feature at once and
// checks that nothing panics and that every unadjusted span is counted.
func FuzzConsumeTraces(f *testing.F) {
	m := &ptrace.ProtoMarshaler{}
	seed := traces(checkout, serverGET(time.Millisecond, 200), dbError(time.Second))
	addResource(seed, map[string]any{"service.name": int64(7), "m": map[string]any{"a": []any{1, "x"}}},
		spanSpec{name: "x", tracestate: "ot=th:8", traceID: 1, events: []map[string]any{{"exception.type": true}}})
	b, _ := m.MarshalTraces(seed)
	f.Add(b)
	f.Add([]byte{})
	def := "d"
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
		if err != nil {
			return
		}
		cfg := seedConfig()
		cfg.Dimensions = append(cfg.Dimensions, Dimension{Name: "m", Default: &def}, Dimension{Glob: "*"})
		cfg.Events = EventsConfig{Enabled: true, Dimensions: []Dimension{{Name: "exception.type"}}}
		cfg.Exemplars.Enabled = true
		cfg.AggregationCardinalityLimit = 50
		cfg.IncludeInstrumentationScope = []string{"test-scope", ""}
		h := newHarness(t, cfg)
		if err := h.c.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
		md := h.flush(t, t0.Add(time.Minute))
		var calls int64
		for _, p := range flatten(md) {
			if p.Metric == "traces.span.metrics.calls" {
				calls += p.Value
			}
		}
		var want int64
		adjusted := false
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			if _, ok := rs.Resource().Attributes().Get("service.name"); !ok {
				continue
			}
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				spans := rs.ScopeSpans().At(j).Spans()
				want += int64(spans.Len())
				for k := 0; k < spans.Len(); k++ {
					if _, ok := adjustedCount(spans.At(k).TraceState().AsRaw()); ok {
						adjusted = true
					}
				}
			}
		}
		if !adjusted && calls != want {
			t.Fatalf("counted %d calls for %d spans", calls, want)
		}
	})
}
