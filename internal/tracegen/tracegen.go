package tracegen

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Layout says how spans of different traces are spread over batches.
type Layout int

const (
	// Whole puts every span of a trace in the same batch.
	Whole Layout = iota
	// Interleaved puts one span of each of TracesPerBatch traces in every
	// batch, so a trace's spans arrive over SpansPerTrace batches.
	Interleaved
)

// Spec describes a workload. Zero fields take the defaults noted.
type Spec struct {
	Traces         int    // number of traces (default 1000)
	SpansPerTrace  int    // spans in every trace (default 10)
	TracesPerBatch int    // traces that share a batch (default 100)
	Layout         Layout // Whole or Interleaved
	Services       int    // distinct service.name values (default 10)
	ErrorEvery     int    // every Nth trace has one ERROR span; 0 means none
	SlowEvery      int    // every Nth trace lasts SlowDuration; 0 means none
	SlowDuration   time.Duration
	Seed           uint64    // varies trace and span IDs
	Start          time.Time // timestamp of the first span (default 2026-01-01 UTC)
}

func (s Spec) withDefaults() Spec {
	if s.Traces <= 0 {
		s.Traces = 1000
	}
	if s.SpansPerTrace <= 0 {
		s.SpansPerTrace = 10
	}
	if s.TracesPerBatch <= 0 {
		s.TracesPerBatch = 100
	}
	if s.Services <= 0 {
		s.Services = 10
	}
	if s.SlowDuration <= 0 {
		s.SlowDuration = 2 * time.Second
	}
	if s.Start.IsZero() {
		s.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return s
}

// TraceID is the ID of trace number i of a workload with the given seed.
func TraceID(seed uint64, i int) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], mix(seed^0x9e3779b97f4a7c15, uint64(i)))
	binary.BigEndian.PutUint64(id[8:], mix(seed, uint64(i)))
	return id
}

// SpanID is the ID of span j of trace i.
func SpanID(seed uint64, i, j int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], mix(mix(seed, uint64(j)+1), uint64(i))|1)
	return id
}

// IsError reports whether trace i of the spec carries an ERROR span.
func (s Spec) IsError(i int) bool { return s.ErrorEvery > 0 && i%s.ErrorEvery == 0 }

// IsSlow reports whether trace i of the spec lasts SlowDuration.
func (s Spec) IsSlow(i int) bool { return s.SlowEvery > 0 && i%s.SlowEvery == s.SlowEvery/2 }

// Batches returns the workload as the batches a receiver would hand on.
func Batches(spec Spec) []ptrace.Traces {
	s := spec.withDefaults()
	var out []ptrace.Traces
	for first := 0; first < s.Traces; first += s.TracesPerBatch {
		last := min(first+s.TracesPerBatch, s.Traces)
		switch s.Layout {
		case Interleaved:
			for j := 0; j < s.SpansPerTrace; j++ {
				b := newBatch(s)
				for i := first; i < last; i++ {
					b.add(i, j)
				}
				out = append(out, b.td)
			}
		default:
			b := newBatch(s)
			for i := first; i < last; i++ {
				for j := 0; j < s.SpansPerTrace; j++ {
					b.add(i, j)
				}
			}
			out = append(out, b.td)
		}
	}
	return out
}

// SpanCount is the total number of spans in batches.
func SpanCount(batches []ptrace.Traces) int {
	n := 0
	for _, b := range batches {
		n += b.SpanCount()
	}
	return n
}

type batch struct {
	s      Spec
	td     ptrace.Traces
	scopes map[int]ptrace.SpanSlice // by service index
}

func newBatch(s Spec) *batch {
	return &batch{s: s, td: ptrace.NewTraces(), scopes: make(map[int]ptrace.SpanSlice)}
}

var methods = [...]string{"GET", "POST", "PUT", "DELETE"}
var tiers = [...]string{"free", "pro", "enterprise"}

func (b *batch) add(i, j int) {
	s := b.s
	svc := int(mix(s.Seed, uint64(i)*31+uint64(j)) % uint64(s.Services))
	spans, ok := b.scopes[svc]
	if !ok {
		rs := b.td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%02d", svc))
		rs.Resource().Attributes().PutStr("k8s.namespace.name", "shop")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("tracegen")
		ss.Scope().SetVersion("1.0.0")
		spans = ss.Spans()
		b.scopes[svc] = spans
	}
	total := 200 * time.Millisecond
	if s.IsSlow(i) {
		total = s.SlowDuration
	}
	step := total / time.Duration(s.SpansPerTrace)
	start := s.Start.Add(time.Duration(i) * time.Millisecond).Add(time.Duration(j) * step / 2)
	end := start.Add(total - time.Duration(j)*step)
	if j == 0 {
		end = start.Add(total)
	}

	sp := spans.AppendEmpty()
	sp.SetTraceID(TraceID(s.Seed, i))
	sp.SetSpanID(SpanID(s.Seed, i, j))
	if j > 0 {
		sp.SetParentSpanID(SpanID(s.Seed, i, 0))
		sp.SetKind(ptrace.SpanKindClient)
	} else {
		sp.SetKind(ptrace.SpanKindServer)
	}
	sp.SetName(fmt.Sprintf("op-%d", j%8))
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	status := int64(200)
	if s.IsError(i) && j == s.SpansPerTrace-1 {
		sp.Status().SetCode(ptrace.StatusCodeError)
		sp.Status().SetMessage("upstream failed")
		status = 500
	}
	attrs := sp.Attributes()
	attrs.PutStr("http.method", methods[(i+j)%len(methods)])
	attrs.PutInt("http.status_code", status)
	attrs.PutStr("customer.tier", tiers[i%len(tiers)])
	attrs.PutInt("retry.count", int64(j%3))
}

// mix is splitmix64's finaliser over a^b: cheap, well spread, and stable
// across releases so that generated IDs never change.
func mix(a, b uint64) uint64 {
	z := a + b*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Split copies td's spans into one batch per owner, as an agent routes
// them: owner maps a trace ID to a small non-negative index. Each batch
// keeps the resource and scope of the spans it got.
func Split(td ptrace.Traces, owner func(pcommon.TraceID) int) map[int]ptrace.Traces {
	out := map[int]ptrace.Traces{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			dst := map[int]ptrace.SpanSlice{}
			for _, sp := range ss.Spans().All() {
				g := owner(sp.TraceID())
				spans, ok := dst[g]
				if !ok {
					part, ok := out[g]
					if !ok {
						part = ptrace.NewTraces()
						out[g] = part
					}
					drs := part.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(drs.Resource())
					dss := drs.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(dss.Scope())
					spans = dss.Spans()
					dst[g] = spans
				}
				sp.CopyTo(spans.AppendEmpty())
			}
		}
	}
	return out
}
