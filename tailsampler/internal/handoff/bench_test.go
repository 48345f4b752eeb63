package handoff

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

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
