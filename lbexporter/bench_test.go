package lbexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/hashring"
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

// BenchmarkPush is the whole exporter path (split, send to every endpoint
// concurrently, outcome metrics) with in-memory backends.
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
				for i := range b.N {
					if err := l.push(context.Background(), copies[i]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
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
