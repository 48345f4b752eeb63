package tailsampler

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// countingSink counts spans and drops them, so the benchmark measures the
// processor, not a sink that keeps everything.
type countingSink struct {
	spans atomic.Int64
	calls atomic.Int64
}

func (c *countingSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *countingSink) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	c.spans.Add(int64(td.SpanCount()))
	c.calls.Add(1)
	return nil
}

var benchPolicies = map[string][]PolicyCfg{
	"P1": {{Name: "all", Type: "always_sample"}},
	"P2": {
		{Name: "errors", Type: "status_code", StatusCode: StatusCodeCfg{StatusCodes: []string{"ERROR"}}},
		{Name: "slow", Type: "latency", Latency: LatencyCfg{ThresholdMs: 500}},
		{Name: "sample10", Type: "probabilistic", Probabilistic: ProbabilisticCfg{SamplingPercentage: 10}},
		{Name: "enterprise", Type: "string_attribute", StringAttribute: StringAttributeCfg{Key: "customer.tier", Values: []string{"enterprise"}}},
		{Name: "server-errors", Type: "numeric_attribute", NumericAttribute: NumericAttributeCfg{Key: "http.status_code", MinValue: ptr[int64](500), MaxValue: ptr[int64](599)}},
	},
}

func benchSpec(layout tracegen.Layout) tracegen.Spec {
	return tracegen.Spec{Traces: 100_000, SpansPerTrace: 10, TracesPerBatch: 100, Layout: layout, ErrorEvery: 50, SlowEvery: 20}
}

func newBenchProcessor(b *testing.B, pols []PolicyCfg, clk clock, next consumer.Traces, numTraces uint64) *sampler {
	f := NewFactory(withClock(clk))
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.DecisionWait = time.Second
	cfg.NumTraces = numTraces
	cfg.Policies = pols
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(componentType), cfg, next)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	return p.(*sampler)
}

// BenchmarkThroughput feeds 100,000 traces × 10 spans and measures wall
// time from the first ConsumeTraces to the last decision forwarded. The
// clock is a manual one: after the last batch it is moved past
// decision_wait instead of sleeping, so the figure is processing time.
//
// Batches are generated afresh for every run (outside the timer), as a
// receiver hands on new data: the processor moves kept spans out of input
// it owns. The "+RO" variants mark the input read-only, as the fan-out
// does when several pipelines share it, so kept spans are copied.
func BenchmarkThroughput(b *testing.B) {
	layouts := []struct {
		name   string
		layout tracegen.Layout
	}{{"W", tracegen.Whole}, {"I", tracegen.Interleaved}}
	cases := []struct {
		pols     string
		readOnly bool
	}{{"P1", false}, {"P2", false}, {"P2+RO", true}}
	for _, l := range layouts {
		for _, c := range cases {
			b.Run(l.name+"+"+c.pols, func(b *testing.B) {
				b.ReportAllocs()
				var elapsed time.Duration
				var mallocs uint64
				var forwarded, total int64
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					batches := tracegen.Batches(benchSpec(l.layout))
					if c.readOnly {
						for _, td := range batches {
							td.MarkReadOnly()
						}
					}
					total += int64(tracegen.SpanCount(batches))
					clk := newManualClock()
					sink := &countingSink{}
					p := newBenchProcessor(b, benchPolicies[c.pols[:2]], clk, sink, 200_000)
					runtime.GC()
					var m0, m1 runtime.MemStats
					runtime.ReadMemStats(&m0)
					b.StartTimer()
					start := time.Now()
					for _, td := range batches {
						if err := p.ConsumeTraces(context.Background(), td); err != nil {
							b.Fatal(err)
						}
					}
					clk.Advance(time.Second + timerResolution)
					for p.decided.Load() < 100_000 || p.fwd.queuedSpans() > 0 {
						runtime.Gosched()
					}
					elapsed += time.Since(start)
					b.StopTimer()
					runtime.ReadMemStats(&m1)
					mallocs += m1.Mallocs - m0.Mallocs
					forwarded += sink.spans.Load()
					if err := p.Shutdown(context.Background()); err != nil {
						b.Fatal(err)
					}
					batches = nil
					runtime.KeepAlive(batches)
					b.StartTimer()
				}
				b.ReportMetric(float64(total)/elapsed.Seconds(), "spans/s")
				b.ReportMetric(float64(mallocs)/float64(total), "allocs/span")
				b.ReportMetric(float64(forwarded)/float64(total)*100, "%kept")
			})
		}
	}
}

// BenchmarkPendingMemory measures the heap held per pending span: the
// whole workload buffered (nothing decided yet), the generator's own
// references dropped, so what stays alive is what the processor holds,
// the input pdata included.
func BenchmarkPendingMemory(b *testing.B) {
	for _, l := range []struct {
		name   string
		layout tracegen.Layout
	}{{"W", tracegen.Whole}, {"I", tracegen.Interleaved}} {
		b.Run(l.name, func(b *testing.B) {
			var perSpan, inputPerSpan float64
			for i := 0; i < b.N; i++ {
				clk := newManualClock()
				p := newBenchProcessor(b, benchPolicies["P2"], clk, &countingSink{}, 200_000)
				var m0, m1, m2 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				batches := tracegen.Batches(benchSpec(l.layout))
				spans := tracegen.SpanCount(batches)
				runtime.GC()
				runtime.ReadMemStats(&m1)
				for _, td := range batches {
					if err := p.ConsumeTraces(context.Background(), td); err != nil {
						b.Fatal(err)
					}
				}
				batches = nil
				runtime.GC()
				runtime.ReadMemStats(&m2)
				if n := p.pendingTotal(); n != 100_000 {
					b.Fatalf("pending %d traces, want 100000", n)
				}
				perSpan += float64(m2.HeapAlloc-m0.HeapAlloc) / float64(spans)
				inputPerSpan += float64(m1.HeapAlloc-m0.HeapAlloc) / float64(spans)
				runtime.KeepAlive(batches)
				if err := p.Shutdown(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(perSpan/float64(b.N), "B/pending-span")
			b.ReportMetric(inputPerSpan/float64(b.N), "B/input-span")
		})
	}
}
