package lbexporter

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/cputime"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// upstreamShaped is ANCHORS' upstream workload: 1,000 ResourceSpans of one
// span each, every span its own trace.
func upstreamShaped() ptrace.Traces {
	src := tracegen.Batches(tracegen.Spec{Traces: 1000, SpansPerTrace: 1, TracesPerBatch: 1000})[0]
	td := ptrace.NewTraces()
	for _, rs := range src.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				nrs := td.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(nrs.Resource())
				nss := nrs.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(nss.Scope())
				sp.CopyTo(nss.Spans().AppendEmpty())
			}
		}
	}
	return td
}

func workloads() map[string]ptrace.Traces {
	return map[string]ptrace.Traces{
		"100traces_x10":     tracegen.Batches(tracegen.Spec{Traces: 100, SpansPerTrace: 10, TracesPerBatch: 100})[0],
		"upstream_1000x1rs": upstreamShaped(),
	}
}

// BenchmarkSplit measures routing and splitting alone (ring lookup per span,
// building one batch per endpoint), the part this package owns.
func BenchmarkSplit(b *testing.B) {
	for name, src := range workloads() {
		for _, n := range []int{3, 10} {
			b.Run(fmt.Sprintf("%s/endpoints=%d", name, n), func(b *testing.B) {
				s := newTraceSplitter(RoutingTraceID, nil)
				r := &router{ring: hashring.New(endpoints(n))}
				out := &outputs[ptrace.Traces]{newData: ptrace.NewTraces}
				spans := src.SpanCount()
				copies := make([]ptrace.Traces, b.N)
				for i := range copies {
					copies[i] = ptrace.NewTraces()
					src.CopyTo(copies[i])
				}
				var st splitStats
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					out.reset(n)
					s.split(r, copies[i], out, &st)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
			})
		}
	}
}

// BenchmarkPush is the whole exporter path with in-memory backends and the
// default per-endpoint buffers: split, hand every part to its endpoint's
// buffer, and the endpoints' senders deliver them (outcome metrics
// included); the timer stops once every buffer is empty again.
func BenchmarkPush(b *testing.B) {
	for name, src := range workloads() {
		for _, n := range []int{3, 10} {
			b.Run(fmt.Sprintf("%s/endpoints=%d", name, n), func(b *testing.B) {
				env := newTestEnv(endpoints(n)...)
				cfg := testConfig()
				ops := tracesOps(newTraceSplitter(RoutingTraceID, nil))
				ops.newBackend = func(context.Context, string) (component.Component, func(context.Context, ptrace.Traces) error, error) {
					return &memSink{}, func(context.Context, ptrace.Traces) error { return nil }, nil
				}
				l := startLB(b, env, cfg, ops)
				spans := src.SpanCount()
				copies := make([]ptrace.Traces, b.N)
				for i := range copies {
					copies[i] = ptrace.NewTraces()
					src.CopyTo(copies[i])
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu0, ok := cputime.Process()
				for i := range b.N {
					if err := l.push(context.Background(), copies[i]); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.waitIdle(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
				// CPU time of every goroutine (senders, GC) per span: what
				// the work costs, barely moved by the machine's load.
				if cpu1, ok1 := cputime.Process(); ok && ok1 {
					b.ReportMetric(float64(cpu1-cpu0)/float64(b.N*spans), "cpu-ns/span")
				}
			})
		}
	}
}

// BenchmarkGRPC sends through the real per-endpoint OTLP/gRPC exporters to
// loopback sinks.
func BenchmarkGRPC(b *testing.B) {
	for _, n := range []int{3, 10} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			var eps []string
			for range n {
				eps = append(eps, newGRPCSink(b, "127.0.0.1:0").addr)
			}
			env := newTestEnv(eps...)
			cfg := testConfig(fastOTLP, func(c *Config) { c.Protocol.OTLP.ClientConfig.Compression = "none" })
			exp := startTracesExporter(b, newFactory(env.res.newRes), cfg)
			src := tracegen.Batches(tracegen.Spec{Traces: 100, SpansPerTrace: 10, TracesPerBatch: 100})[0]
			copies := make([]ptrace.Traces, b.N)
			for i := range copies {
				copies[i] = ptrace.NewTraces()
				src.CopyTo(copies[i])
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if err := exp.ConsumeTraces(context.Background(), copies[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*src.SpanCount())/time.Since(start).Seconds(), "spans/s")
		})
	}
}

// BenchmarkBufferFull fills one endpoint's buffer (the endpoint never
// answers) with 1,000-span batches until it refuses, and reports the heap
// the full buffer holds next to the configured bound. With sizer bytes the
// buffer holds the encoded parts, so held-B is the bound; with sizer items
// it reports the memory one buffered span costs.
func BenchmarkBufferFull(b *testing.B) {
	tests := []struct {
		name  string
		sizer exporterhelper.RequestSizerType
		size  int64
	}{
		{"sizer=bytes/queue_size=16MiB", exporterhelper.RequestSizerTypeBytes, 16 << 20},
		{"sizer=items/queue_size=50000", exporterhelper.RequestSizerTypeItems, 50_000},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			var held, items int64
			for range b.N {
				held, items = fillBuffer(b, tt.sizer, tt.size)
			}
			b.ReportMetric(float64(held), "held-B")
			if tt.sizer == exporterhelper.RequestSizerTypeBytes {
				b.ReportMetric(float64(tt.size), "bound-B")
				b.ReportMetric(float64(held)/float64(tt.size), "held/bound")
			} else {
				b.ReportMetric(float64(items), "held-spans")
				b.ReportMetric(float64(held)/float64(items), "B/span")
			}
		})
	}
}

// fillBuffer returns the heap growth while one endpoint's buffer is full,
// and the spans it accepted.
func fillBuffer(b *testing.B, sizer exporterhelper.RequestSizerType, size int64) (held, items int64) {
	env := newTestEnv("gw:4317")
	never := make(chan struct{})
	ops := tracesOps(newTraceSplitter(RoutingTraceID, nil))
	ops.newBackend = func(context.Context, string) (component.Component, func(context.Context, ptrace.Traces) error, error) {
		return &memSink{}, func(ctx context.Context, _ ptrace.Traces) error {
			select {
			case <-never:
			case <-ctx.Done():
			}
			return ctx.Err()
		}, nil
	}
	cfg := testConfig(func(c *Config) {
		q := c.Protocol.OTLP.QueueConfig.Get()
		q.Sizer, q.QueueSize = sizer, size
	})
	l, err := newLB(env.set, cfg, ops, env.res.newRes)
	if err != nil {
		b.Fatal(err)
	}
	if err := l.start(context.Background(), newHost(nil)); err != nil {
		b.Fatal(err)
	}
	src := tracegen.Batches(tracegen.Spec{Traces: 100, SpansPerTrace: 10, TracesPerBatch: 100})[0]
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for {
		td := ptrace.NewTraces()
		src.CopyTo(td)
		if err := l.push(context.Background(), td); err != nil {
			break
		}
		items += int64(src.SpanCount())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held = int64(after.HeapAlloc) - int64(before.HeapAlloc)
	close(never)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_ = l.shutdown(ctx)
	return held, items
}
