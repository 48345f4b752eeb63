package handoff

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// Run: go test -run '^$' -bench . -benchmem ./tailsampler/internal/handoff/

func benchView(b *testing.B) *view {
	b.Helper()
	return newView([]string{epA, epB, epC, epD, "127.0.0.6:4317"}, epA, false)
}

// BenchmarkOwns is the per-trace ownership question of the ingest path.
func BenchmarkOwns(b *testing.B) {
	v := benchView(b)
	e := &Engine{}
	e.cur.Store(v)
	keys := make([][16]byte, 1024)
	for i := range keys {
		keys[i] = tracegen.TraceID(1, i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = e.Owns(keys[i&1023])
		i++
	}
}

// BenchmarkRouteOwned is Route in the steady state: every span owned (the
// check runs over all spans of a 1000-span batch).
func BenchmarkRouteOwned(b *testing.B) {
	v := benchView(b)
	e := &Engine{}
	e.cur.Store(v)
	td := ptrace.NewTraces()
	for _, batch := range tracegen.Batches(tracegen.Spec{Traces: 2000, SpansPerTrace: 5, TracesPerBatch: 2000, Seed: 2}) {
		for id, t := range byTrace(batch) {
			if v.owns(id) && td.SpanCount() < 1000 {
				t.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
			}
		}
	}
	spans := td.SpanCount()
	b.ReportAllocs()
	for b.Loop() {
		_ = e.Route(td)
	}
	b.ReportMetric(float64(spans*b.N)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkSplit is the slow path of Route, Drain and retries: a
// 1000-span interleaved batch split by owner among five gateways.
func BenchmarkSplit(b *testing.B) {
	v := benchView(b)
	td := tracegen.Batches(tracegen.Spec{Traces: 1000, SpansPerTrace: 1, TracesPerBatch: 1000, Layout: tracegen.Interleaved, Seed: 3})[0]
	spans := td.SpanCount()
	b.ReportAllocs()
	for b.Loop() {
		_ = v.split(td)
	}
	b.ReportMetric(float64(spans*b.N)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkMarkDecode is the receiving side's marker work for 1000 spans.
func BenchmarkMarkDecode(b *testing.B) {
	src := tracegen.Batches(tracegen.Spec{Traces: 100, SpansPerTrace: 10, TracesPerBatch: 100, Seed: 4})[0]
	now := time.Now()
	spans := src.SpanCount()
	td := ptrace.NewTraces()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		src.CopyTo(td)
		b.StartTimer()
		mark(td, 1, now)
		_ = decode(td, now)
	}
	b.ReportMetric(float64(spans*b.N)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkReplicate is the owner's side of replication: about 1000 spans
// (100 traces of 10) owned here, encoded, sent to the successor (a real engine on
// loopback, which indexes them) and acknowledged. sequential waits for each
// acknowledgement before the next batch, as one ingest call does;
// concurrent has four callers, as a receiver serving several agents.
func BenchmarkReplicate(b *testing.B) {
	c := newCluster(b)
	ring := []string{epA, epB}
	c.reserve(epB)
	a := c.add(epA, ring, nodeOpt{replicate: true, grace: time.Second})
	c.add(epB, ring, nodeOpt{replicate: true, grace: time.Second})
	v := a.e.cur.Load()
	// Batches as a receiver hands them on (spans grouped by service), of
	// the traces A owns.
	var batches []ptrace.Traces
	for s := uint64(0); len(batches) < 64; s++ {
		td := tracegen.Batches(tracegen.Spec{Traces: 200, SpansPerTrace: 10, TracesPerBatch: 200, Seed: 100 + s})[0]
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				ss.Spans().RemoveIf(func(sp ptrace.Span) bool { return !v.owns(sp.TraceID()) })
			}
		}
		batches = append(batches, td)
	}
	spans := batches[0].SpanCount()
	ctx := context.Background()
	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			a.e.Replicate(batches[i%len(batches)]).Wait(ctx)
			i++
		}
		b.ReportMetric(float64(spans*b.N)/b.Elapsed().Seconds(), "spans/s")
	})
	b.Run("concurrent", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(2) // 4 callers on 2 cores
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1)
				a.e.Replicate(batches[int(i)%len(batches)]).Wait(ctx)
			}
		})
		b.ReportMetric(float64(spans*b.N)/b.Elapsed().Seconds(), "spans/s")
	})
}

// countingBuffer is a Buffer that only counts what it is given, so that a
// benchmark measures the engine's side of an import.
type countingBuffer struct {
	noopBuffer
	spans, imports int
}

type noopBuffer struct{}

func (noopBuffer) TakeNotOwned(func(pcommon.TraceID) bool) []Pending      { return nil }
func (noopBuffer) RecentDecisions(time.Time, func(pcommon.TraceID, bool)) {}
func (noopBuffer) ImportDecision(pcommon.TraceID, bool)                   {}
func (noopBuffer) ImportTrace(context.Context, ptrace.Traces, time.Time) error {
	return nil
}

func (b *countingBuffer) ImportTrace(_ context.Context, td ptrace.Traces, _ time.Time) error {
	b.spans += td.SpanCount()
	b.imports++
	return nil
}

// BenchmarkDecodeWorstCase is the receiver's cost of the costliest request
// shape, through the listener's handler: n one-span ResourceSpans, each
// with its own first-seen, over n/10 traces (one group and one
// ImportTrace per ResourceSpans). ns/span must stay flat as n grows:
// grouping used to compare every group with every other (quadratic).
func BenchmarkDecodeWorstCase(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
			cfg := NewDefaultConfig()
			cfg.Endpoint = epA
			cfg.Resolver.Static = &resolverStatic
			cfg.MaxSpansPerRequest = n
			cfg.MaxTracesPerRequest = n
			cfg.AcceptFrom = AcceptAny // the handler is called without a network peer
			buf := &countingBuffer{}
			e, err := New(cfg, componenttest.NewNopTelemetrySettings(), buf)
			require.NoError(b, err)
			h := &handler{e: e}
			src := worstCase(n, n/10)
			td := ptrace.NewTraces()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				src.CopyTo(td)
				req := ptraceotlp.NewExportRequestFromTraces(td)
				b.StartTimer()
				if _, err := h.Export(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			require.Equal(b, n*b.N, buf.spans)
			require.Equal(b, n*b.N, buf.imports)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/span")
			require.NoError(b, e.Shutdown(ctx))
		})
	}
}
