package compat

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// genSpan is one generated span with everything a policy may look at.
type genSpan struct {
	parent     bool // has a parent (not the root)
	start, dur time.Duration
	status     ptrace.StatusCode
	attrs      map[string]any
	flags      uint32
	traceState string
	events     []string
}

// genTrace is one generated trace: its resources (service and resource
// attributes) and, per batch it arrives in, the spans of each resource.
type genTrace struct {
	id        pcommon.TraceID
	resources []map[string]any
	// parts[b][r] are the spans sent in the trace's b-th batch under
	// resource r; the batches are spread over the run.
	parts [][][]genSpan
}

func (g *genTrace) spans() []genSpan {
	var out []genSpan
	for _, p := range g.parts {
		for _, r := range p {
			out = append(out, r...)
		}
	}
	return out
}

var genStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// generate builds n traces whose attributes and durations are varied on
// purpose around what the policy sets test: numeric values as ints (and
// some doubles, strings and negatives), routes, booleans (some as strings),
// durations at and around the latency thresholds, traces whose first spans
// fall in a latency band while the whole trace outlasts it, tracestate,
// W3C flags, span events, span counts, several resources per trace, and
// traces split over up to three batches.
func generate(seed uint64, n int) []*genTrace {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	routes := []string{"/health", "/api/cart", "/api/pay", "/metrics", "/", "/api/search"}
	services := []string{"checkout", "cart", "payment", "search"}
	out := make([]*genTrace, n)
	for i := range out {
		t := &genTrace{}
		binary.BigEndian.PutUint64(t.id[:8], seed*1_000_003+uint64(i))
		binary.BigEndian.PutUint64(t.id[8:], r.Uint64())
		nres := 1 + r.IntN(3)/2 // mostly 1, sometimes 2
		for k := 0; k < nres; k++ {
			res := map[string]any{"service.name": services[r.IntN(len(services))]}
			switch r.IntN(10) {
			case 0:
				res["http.status_code"] = int64(500 + r.IntN(5))
			case 1:
				res["tenant"] = []string{"gold", "free"}[r.IntN(2)]
			case 2:
				res["feature.enabled"] = r.IntN(2) == 0
			case 3:
				res["tenant"] = int64(7) // not a string
			}
			t.resources = append(t.resources, res)
		}
		nspans := 1 + r.IntN(12)
		if r.IntN(20) == 0 {
			nspans = 30 + r.IntN(40)
		}
		// Durations: the trace's whole span, with cases on purpose at
		// 500 ms exactly, at 501 ms, and inside the 100–1000 ms band.
		var total time.Duration
		switch r.IntN(8) {
		case 0:
			total = 500 * time.Millisecond
		case 1:
			total = 501 * time.Millisecond
		case 2:
			total = time.Duration(100+r.IntN(900)) * time.Millisecond
		case 3:
			total = time.Duration(1000+r.IntN(2000)) * time.Millisecond
		default:
			total = time.Duration(1+r.IntN(600)) * time.Millisecond
		}
		bandPrefix := r.IntN(6) == 0 && nspans > 1
		spans := make([]genSpan, nspans)
		for j := range spans {
			s := genSpan{parent: j > 0, attrs: map[string]any{}}
			switch {
			case j == 0:
				s.start, s.dur = 0, total
				if bandPrefix {
					// The root arrives first and lasts 300 ms; a later
					// span takes the trace past 1000 ms.
					s.dur = 300 * time.Millisecond
				}
			case bandPrefix && j == nspans-1:
				s.start, s.dur = 200*time.Millisecond, 1500*time.Millisecond
			default:
				s.start = time.Duration(r.Int64N(int64(total)/2 + 1))
				s.dur = time.Duration(r.Int64N(int64(total-s.start) + 1))
			}
			if r.IntN(15) == 0 {
				s.status = ptrace.StatusCodeError
			} else if r.IntN(4) == 0 {
				s.status = ptrace.StatusCodeOk
			}
			switch r.IntN(20) {
			case 0:
				s.attrs["http.status_code"] = 500.0 + float64(r.IntN(3)) // a double
			case 1:
				s.attrs["http.status_code"] = "503" // a string
			case 2:
				s.attrs["http.status_code"] = int64(-1 - r.IntN(3))
			case 3, 4:
				s.attrs["http.status_code"] = int64(400 + r.IntN(200))
			case 5, 6, 7, 8, 9, 10:
				s.attrs["http.status_code"] = int64(200 + r.IntN(4))
			}
			if r.IntN(3) == 0 {
				s.attrs["http.route"] = routes[r.IntN(len(routes))]
			}
			switch r.IntN(12) {
			case 0:
				s.attrs["feature.enabled"] = true
			case 1:
				s.attrs["feature.enabled"] = false
			case 2:
				s.attrs["feature.enabled"] = "false" // not a bool
			}
			if r.IntN(10) == 0 {
				s.attrs["retry"] = int64(r.IntN(3))
			}
			if r.IntN(10) == 0 {
				s.flags = 1
			}
			switch r.IntN(12) {
			case 0:
				s.traceState = "vendor=gold,ot=th:8"
			case 1:
				s.traceState = "vendor=silver"
			}
			if r.IntN(15) == 0 {
				s.events = []string{"exception"}
			}
			spans[j] = s
		}
		// Split over 1–3 batches, in order; the band case keeps its root
		// first and its long span last.
		nparts := 1 + r.IntN(3)
		t.parts = make([][][]genSpan, nparts)
		for p := range t.parts {
			t.parts[p] = make([][]genSpan, nres)
		}
		for j, s := range spans {
			p := j * nparts / nspans
			t.parts[p][j%nres] = append(t.parts[p][j%nres], s)
		}
		out[i] = t
	}
	return out
}

// batches lays the traces out as upstream-style input: each batch holds
// the next part of many traces, interleaved, one ResourceSpans per trace
// resource and one scope.
func batches(traces []*genTrace, perBatch int) []ptrace.Traces {
	type pending struct {
		t    *genTrace
		next int
	}
	queue := make([]pending, len(traces))
	for i, t := range traces {
		queue[i] = pending{t: t}
	}
	var out []ptrace.Traces
	for len(queue) > 0 {
		n := min(perBatch, len(queue))
		td := ptrace.NewTraces()
		var rest []pending
		for _, q := range queue[:n] {
			appendPart(td, q.t, q.next)
			if q.next+1 < len(q.t.parts) {
				rest = append(rest, pending{t: q.t, next: q.next + 1})
			}
		}
		out = append(out, td)
		queue = append(queue[n:], rest...)
	}
	return out
}

func appendPart(td ptrace.Traces, t *genTrace, part int) {
	for ri, spans := range t.parts[part] {
		if len(spans) == 0 {
			continue
		}
		rs := td.ResourceSpans().AppendEmpty()
		_ = rs.Resource().Attributes().FromRaw(t.resources[ri])
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("compat")
		for k, s := range spans {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(t.id)
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], uint64(part)<<40|uint64(ri)<<32|uint64(k+1))
			sp.SetSpanID(sid)
			if s.parent {
				sp.SetParentSpanID(pcommon.SpanID{0xff})
			}
			sp.SetName("op")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(genStart.Add(s.start)))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(genStart.Add(s.start + s.dur)))
			sp.Status().SetCode(s.status)
			_ = sp.Attributes().FromRaw(s.attrs)
			sp.SetFlags(s.flags)
			sp.TraceState().FromRaw(s.traceState)
			for _, e := range s.events {
				sp.Events().AppendEmpty().SetName(e)
			}
		}
	}
}
