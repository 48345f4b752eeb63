package tailsampler

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// keepMarked keeps a trace when any span has the attribute keep=true.
// It is registered as a custom type, which also exercises WithPolicyType.
func keepMarked(policy.Settings, *confmap.Conf) (policy.Policy, error) {
	return policy.Func(func(_ context.Context, t policy.Trace) (policy.Decision, error) {
		d := policy.NotSampled
		t.Spans(func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, sp ptrace.Span) bool {
			if v, ok := sp.Attributes().Get("keep"); ok && v.Bool() {
				d = policy.Sampled
				return false
			}
			return true
		})
		return d, nil
	}), nil
}

// keepOddID keeps traces whose ID's last byte is odd: a decision known
// from the input alone, which the fuzz test uses as its oracle.
func keepOddID(policy.Settings, *confmap.Conf) (policy.Policy, error) {
	return policy.Func(func(_ context.Context, t policy.Trace) (policy.Decision, error) {
		id := t.ID()
		if id[15]%2 == 1 {
			return policy.Sampled, nil
		}
		return policy.NotSampled, nil
	}), nil
}

type harness struct {
	p      *sampler
	sink   *consumertest.TracesSink
	clock  *manualClock
	reader *sdkmetric.ManualReader
	next   consumer.Traces
}

// newHarness builds a started processor with a fake clock, a metric reader
// and a sink. mutate adjusts the default config (policies default to
// keep_marked).
func newHarness(t *testing.T, mutate func(*Config), next ...consumer.Traces) *harness {
	t.Helper()
	return newNamedHarness(t, component.NewID(componentType), mutate, next...)
}

// newNamedHarness is newHarness for a processor with the component ID id.
func newNamedHarness(t *testing.T, id component.ID, mutate func(*Config), next ...consumer.Traces) *harness {
	t.Helper()
	h := &harness{sink: &consumertest.TracesSink{}, clock: newManualClock(), reader: sdkmetric.NewManualReader()}
	h.next = h.sink
	if len(next) > 0 {
		h.next = next[0]
	}
	f := NewFactory(WithPolicyType("keep_marked", keepMarked), WithPolicyType("keep_odd_id", keepOddID), withClock(h.clock))
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.DecisionWait = time.Second
	cfg.NumShards = 2
	cfg.Policies = []PolicyCfg{{Name: "marked", Type: "keep_marked"}}
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	set := processortest.NewNopSettings(componentType)
	set.ID = id
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	set.TelemetrySettings = componenttest.NewNopTelemetrySettings()
	set.TelemetrySettings.MeterProvider = mp
	proc, err := f.CreateTraces(context.Background(), set, cfg, h.next)
	require.NoError(t, err)
	h.p = proc.(*sampler)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, h.p.Shutdown(context.Background())) })
	return h
}

var _ processor.Traces = (*sampler)(nil)

func traceID(i int) pcommon.TraceID {
	var id pcommon.TraceID
	id[0] = 0xab
	id[8] = byte(i >> 24)
	id[9] = byte(i >> 16)
	id[10] = byte(i >> 8)
	id[11] = byte(i)
	id[15] = byte(i)
	return id
}

// spansOf builds one batch holding n spans of trace i (the first one a root
// span unless child is set); keep marks them for keep_marked.
func spansOf(i, n int, keep, child bool) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	ss := rs.ScopeSpans().AppendEmpty()
	for j := 0; j < n; j++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(traceID(i))
		sp.SetSpanID(pcommon.SpanID{byte(j + 1), 1})
		if j > 0 || child {
			sp.SetParentSpanID(pcommon.SpanID{9, 9})
		}
		sp.SetName("op")
		sp.SetStartTimestamp(pcommon.Timestamp(1_000_000 * (j + 1)))
		sp.SetEndTimestamp(pcommon.Timestamp(2_000_000 * (j + 1)))
		sp.Attributes().PutBool("keep", keep)
	}
	return td
}

func (h *harness) consume(t *testing.T, td ptrace.Traces) {
	t.Helper()
	require.NoError(t, h.p.ConsumeTraces(context.Background(), td))
}

func (h *harness) pending() int {
	n, _ := h.p.bufferedTotals()
	return int(n)
}

// advance moves the fake clock and waits until the deciders caught up:
// no trace that is due is still pending.
func (h *harness) advance(t *testing.T, d time.Duration) {
	t.Helper()
	h.clock.Advance(d)
	require.Eventually(t, func() bool { return h.dueCount() == 0 }, 5*time.Second, time.Millisecond)
}

func (h *harness) dueCount() int {
	n := 0
	for _, s := range h.p.shards {
		s.mu.Lock()
		now := h.p.nowNanos()
		for _, it := range s.queue.items {
			e := &s.entries[it.idx]
			if it.at <= now && e.gen == it.gen && e.state == statePending {
				n++
			}
		}
		for i := range s.entries {
			if s.entries[i].state == stateDeciding {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// waitForwarded waits until the sink holds n spans.
func (h *harness) waitForwarded(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return h.sink.SpanCount() >= n }, 5*time.Second, time.Millisecond)
	require.Equal(t, n, h.sink.SpanCount())
}

// metrics collects every data point sum (counters) or count (histograms)
// by instrument name and attribute string.
func (h *harness) metrics(t *testing.T) map[string]map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, h.reader.Collect(context.Background(), &rm))
	out := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			vals := map[string]int64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					vals[encodeAttrs(dp.Attributes)] += dp.Value
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					vals[encodeAttrs(dp.Attributes)] = dp.Value
				}
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					vals[encodeAttrs(dp.Attributes)] += int64(dp.Count)
					if v, ok := dp.Max.Value(); ok {
						vals["max"] = max(vals["max"], v)
					}
				}
			}
			out[m.Name] = vals
		}
	}
	return out
}

// total sums an instrument over its attributes (histograms: counts).
func total(m map[string]map[string]int64, name string) int64 {
	var n int64
	for k, v := range m[name] {
		if k != "max" {
			n += v
		}
	}
	return n
}

// slowSink is a next consumer that blocks each call until released.
type slowSink struct {
	consumertest.TracesSink
	gate  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	calls int
}

func newSlowSink(*testing.T) *slowSink {
	return &slowSink{gate: make(chan struct{})}
}

// release lets every call through; safe to call more than once.
func (s *slowSink) release() { s.once.Do(func() { close(s.gate) }) }

func (s *slowSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	select {
	case <-s.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.TracesSink.ConsumeTraces(ctx, td)
}

func encodeAttrs(s attribute.Set) string { return s.Encoded(attribute.DefaultEncoder()) }

func newNopSettings() processor.Settings { return processortest.NewNopSettings(componentType) }

func nopSink() consumer.Traces { return consumertest.NewNop() }
