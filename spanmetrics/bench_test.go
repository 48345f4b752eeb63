package spanmetrics

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The benchmark workload of the task: the seed's config (default dimensions
// plus http.method and http.status_code, buckets 100ms…5s, cumulative),
// batches of 10 resources × 100 spans, 2,000 existing series (10 resources
// × 25 span names × 4 methods × 2 status codes). internal/tracegen yields
// fewer distinct series than that, so the batch is built here with the same
// attribute shapes (service.name + k8s.namespace.name resource, http.method
// string, http.status_code int).
const (
	benchResources = 10
	benchSpans     = 100
	benchNames     = 25
)

var benchMethods = [...]string{"GET", "POST", "PUT", "DELETE"}

// benchBatch returns batch number part (0 or 1); together they cover every
// one of the 2,000 series.
func benchBatch(part int) ptrace.Traces {
	td := ptrace.NewTraces()
	for r := 0; r < benchResources; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%02d", r))
		rs.Resource().Attributes().PutStr("k8s.namespace.name", "shop")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("tracegen")
		for i := 0; i < benchSpans; i++ {
			combo := part*benchSpans + i // 0..199
			sp := ss.Spans().AppendEmpty()
			sp.SetName(fmt.Sprintf("op-%02d", combo%benchNames))
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetTraceID(pcommon.TraceID{byte(r), byte(i), 1})
			sp.SetSpanID(pcommon.SpanID{byte(i), 1})
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(combo*7) * time.Millisecond)))
			sp.Attributes().PutStr("http.method", benchMethods[(combo/benchNames)%4])
			status := int64(200)
			if (combo/(benchNames*4))%2 == 1 {
				status = 500
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
			sp.Attributes().PutInt("http.status_code", status)
			sp.Attributes().PutStr("customer.tier", "pro")
		}
	}
	return td
}

func benchConnector(b *testing.B) *spanConnector {
	c, err := newConnector(componenttest.NewNopTelemetrySettings(), seedConfig(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Shutdown(context.Background()) })
	return c
}

func warm(b *testing.B, c *spanConnector, batches ...ptrace.Traces) {
	for _, td := range batches {
		if err := c.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
	if n := c.activeSeries(); n != benchResources*2*benchSpans {
		b.Fatalf("%d series, want 2000", n)
	}
}

func reportSpans(b *testing.B, spans int, cpu time.Duration) {
	el := b.Elapsed()
	b.ReportMetric(float64(el.Nanoseconds())/float64(spans), "ns/span")
	b.ReportMetric(float64(spans)/el.Seconds(), "spans/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(spans), "cpu-ns/span")
	}
}

// BenchmarkConsumeExisting: every span updates an existing series.
func BenchmarkConsumeExisting(b *testing.B) {
	c := benchConnector(b)
	batches := []ptrace.Traces{benchBatch(0), benchBatch(1)}
	warm(b, c, batches...)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		_ = c.ConsumeTraces(context.Background(), batches[i&1])
	}
	reportSpans(b, b.N*benchResources*benchSpans, processCPU()-cpu)
}

// BenchmarkConsumeNewSeries: every span creates a series.
func BenchmarkConsumeNewSeries(b *testing.B) {
	td := benchBatch(0)
	var c *spanConnector
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if i%50 == 0 {
			if c != nil {
				_ = c.Shutdown(context.Background())
			}
			c = benchConnector(b)
		}
		rss := td.ResourceSpans()
		for r := 0; r < rss.Len(); r++ {
			spans := rss.At(r).ScopeSpans().At(0).Spans()
			for k := 0; k < spans.Len(); k++ {
				spans.At(k).SetName(fmt.Sprintf("op-%d-%d", i, k))
			}
		}
		b.StartTimer()
		before := processCPU()
		_ = c.ConsumeTraces(context.Background(), td)
		cpu += processCPU() - before
	}
	reportSpans(b, b.N*benchResources*benchSpans, cpu)
}

// BenchmarkFlush: one cumulative flush of 2,000 series to a no-op consumer.
func BenchmarkFlush(b *testing.B) {
	c := benchConnector(b)
	warm(b, c, benchBatch(0), benchBatch(1))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		if err := c.flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	cpu = processCPU() - cpu
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2000), "ns/series")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*2000), "cpu-ns/series")
}

// BenchmarkConsumeParallel runs g goroutines, each consuming b.N batches
// into the same connector; compare spans/s of g=2 with g=1 (on an idle
// machine) and cpu-ns/span (on any machine).
func BenchmarkConsumeParallel(b *testing.B) {
	for _, g := range []int{1, 2} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			c := benchConnector(b)
			batches := make([][2]ptrace.Traces, g)
			for w := range batches {
				batches[w] = [2]ptrace.Traces{benchBatch(0), benchBatch(1)}
			}
			warm(b, c, batches[0][0], batches[0][1])
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			var wg sync.WaitGroup
			for w := 0; w < g; w++ {
				wg.Add(1)
				go func(mine [2]ptrace.Traces) {
					defer wg.Done()
					for i := 0; i < b.N; i++ {
						_ = c.ConsumeTraces(context.Background(), mine[i&1])
					}
				}(batches[w])
			}
			wg.Wait()
			b.StopTimer()
			spans := g * b.N * benchResources * benchSpans
			b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
			// CPU per span does not depend on how busy the machine is: if it
			// stays flat from 1 to 2 goroutines, nothing shared (cache line
			// ping-pong, spinning on a lock) costs extra work.
			if cpu := processCPU() - cpu; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(spans), "cpu-ns/span")
			}
		})
	}
}

// BenchmarkFlushPdataFloor builds the same output as BenchmarkFlush (10
// resources, a calls and a duration metric, 2,000 series) with nothing but
// the pdata calls no implementation on pdata's public API can avoid: two
// data points per series, a copy of the series' attributes into each (one
// allocation per value), bounds and bucket counts. No locks, no snapshot,
// no ordering. BenchmarkFlush's cpu-ns/series minus this one is what the
// connector itself costs per series.
func BenchmarkFlushPdataFloor(b *testing.B) {
	c := benchConnector(b)
	warm(b, c, benchBatch(0), benchBatch(1))
	var series [][]*series
	var res []*resource
	for i := range c.shards {
		for _, head := range c.shards[i].series {
			for s := head; s != nil; s = s.next {
				r := slices.Index(res, s.res)
				if r < 0 {
					r = len(res)
					res = append(res, s.res)
					series = append(series, nil)
				}
				series[r] = append(series[r], s)
			}
		}
	}
	counts := make([]uint64, len(c.bounds)+1)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		md := pmetric.NewMetrics()
		for r, rs := range series {
			rm := md.ResourceMetrics().AppendEmpty()
			res[r].attrs.CopyTo(rm.Resource().Attributes())
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(scopeName)
			calls := sm.Metrics().AppendEmpty()
			calls.SetName(c.callsName)
			cdps := calls.SetEmptySum().DataPoints()
			dur := sm.Metrics().AppendEmpty()
			dur.SetName(c.durationName)
			hdps := dur.SetEmptyHistogram().DataPoints()
			cdps.EnsureCapacity(len(rs))
			hdps.EnsureCapacity(len(rs))
			for _, s := range rs {
				dp := cdps.AppendEmpty()
				dp.SetIntValue(int64(s.count))
				s.attrs.CopyTo(dp.Attributes())
				hp := hdps.AppendEmpty()
				s.attrs.CopyTo(hp.Attributes())
				hp.ExplicitBounds().FromRaw(c.bounds)
				hp.BucketCounts().FromRaw(counts)
			}
		}
		if err := c.next.ConsumeMetrics(context.Background(), md); err != nil {
			b.Fatal(err)
		}
	}
	cpu = processCPU() - cpu
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*2000), "cpu-ns/series")
}
