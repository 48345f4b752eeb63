package lbexporter

import (
	"sync"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Pseudo-attributes accepted in routing_attributes for traces.
const (
	pseudoSpanKind = "span.kind"
	pseudoSpanName = "span.name"
)

func tracesOps(s *traceSplitter) signalOps[ptrace.Traces] {
	return signalOps[ptrace.Traces]{
		newData: ptrace.NewTraces,
		count:   func(td ptrace.Traces) int { return td.SpanCount() },
		moveAll: func(dst, src ptrace.Traces) { src.ResourceSpans().MoveAndAppendTo(dst.ResourceSpans()) },
		partial: func(err error, td ptrace.Traces) error { return consumererror.NewTraces(err, td) },
		split:   s.split,
		signal:  "traces",
		marshal: func(d ptrace.Traces) ([]byte, error) { return (&ptrace.ProtoMarshaler{}).MarshalTraces(d) },
		unmarshal: func(b []byte) (ptrace.Traces, error) {
			return (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
		},
	}
}

// traceSplitter routes spans. It makes one pass over the batch: the
// backend index of every span of a scope is computed into a scratch slice,
// then spans are moved (not copied) into one scope per backend, whose
// resource and scope are copied once per backend. A resource or scope
// whose spans all go to one backend is moved whole.
type traceSplitter struct {
	mode    string
	attrs   []string
	scratch sync.Pool
}

type traceScratch struct {
	idx   []int32
	count []int32
	rsDst []ptrace.ResourceSpans
	rsHas []bool
	ssDst []ptrace.SpanSlice
	key   []byte
	look  attrLookup
	// RemoveIf state: the method value notHome is bound once per scratch.
	cur     []int32
	home    int32
	pos     int
	notHome func(ptrace.Span) bool
}

func (sc *traceScratch) removeNotHome(ptrace.Span) bool {
	e := sc.cur[sc.pos]
	sc.pos++
	return e != sc.home
}

func newTraceSplitter(mode string, attrs []string) *traceSplitter {
	s := &traceSplitter{mode: mode, attrs: attrs}
	s.scratch.New = func() any {
		sc := &traceScratch{look: newAttrLookup(attrs)}
		sc.notHome = sc.removeNotHome
		return sc
	}
	return s
}

func (sc *traceScratch) reset(n int) {
	if cap(sc.count) < n {
		sc.count = make([]int32, n)
		sc.rsDst = make([]ptrace.ResourceSpans, n)
		sc.rsHas = make([]bool, n)
		sc.ssDst = make([]ptrace.SpanSlice, n)
	}
	sc.count, sc.rsDst, sc.rsHas, sc.ssDst = sc.count[:n], sc.rsDst[:n], sc.rsHas[:n], sc.ssDst[:n]
}

func (s *traceSplitter) split(r *router, td ptrace.Traces, out *outputs[ptrace.Traces], st *splitStats) {
	sc := s.scratch.Get().(*traceScratch)
	defer s.scratch.Put(sc)
	sc.reset(len(out.data))
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		if s.mode == RoutingService {
			var ok bool
			sc.key, ok = serviceKey(sc.key[:0], rs.Resource())
			if !ok {
				st.missingService += int64(countSpans(rs))
			}
			e := r.route(sc.key)
			rs.MoveTo(out.at(e).ResourceSpans().AppendEmpty())
			continue
		}
		s.splitResource(r, rs, out, sc, st)
	}
}

func countSpans(rs ptrace.ResourceSpans) int {
	n := 0
	for _, ss := range rs.ScopeSpans().All() {
		n += ss.Spans().Len()
	}
	return n
}

// splitResource computes the index of every span of rs, then moves rs
// whole when they agree, or distributes scope by scope.
func (s *traceSplitter) splitResource(r *router, rs ptrace.ResourceSpans, out *outputs[ptrace.Traces], sc *traceScratch, st *splitStats) {
	sc.idx = sc.idx[:0]
	same := true
	first := int32(-1)
	sss := rs.ScopeSpans()
	for j := 0; j < sss.Len(); j++ {
		ss := sss.At(j)
		spans := ss.Spans()
		resolved := false
		if s.mode == RoutingAttributes {
			resolved = sc.look.resolveUpper(rs.Resource().Attributes(), ss.Scope().Attributes())
			if resolved && spans.Len() > 0 {
				sc.key = sc.look.appendKey(sc.key[:0], nil)
			}
		}
		scopeIdx := int32(-1)
		for k := 0; k < spans.Len(); k++ {
			var e int32
			switch {
			case s.mode == RoutingTraceID:
				e = int32(s.routeTraceID(r, spans.At(k), st))
			case resolved:
				if scopeIdx < 0 {
					scopeIdx = int32(r.route(sc.key))
				}
				e = scopeIdx
			default:
				sp := spans.At(k)
				sc.key = sc.look.appendKey(sc.key[:0], func(name string) (pcommon.Value, string, int) {
					return spanAttr(sp, name)
				})
				e = int32(r.route(sc.key))
			}
			if first < 0 {
				first = e
			} else if e != first {
				same = false
			}
			sc.idx = append(sc.idx, e)
		}
	}
	if first < 0 {
		return // no span: nothing to deliver
	}
	if same {
		rs.MoveTo(out.at(int(first)).ResourceSpans().AppendEmpty())
		return
	}
	clear(sc.rsHas)
	pos := 0
	for j := 0; j < sss.Len(); j++ {
		ss := sss.At(j)
		spans := ss.Spans()
		m := spans.Len()
		if m == 0 {
			continue
		}
		idx := sc.idx[pos : pos+m]
		sc.cur = idx
		pos += m
		clear(sc.count)
		for _, e := range idx {
			sc.count[e]++
		}
		if int(sc.count[idx[0]]) == m {
			ss.MoveTo(sc.resourceFor(int(idx[0]), rs, out).ScopeSpans().AppendEmpty())
			continue
		}
		// The endpoint with most spans keeps the source scope: only the
		// others' spans are moved out (one allocation each).
		home := int32(0)
		for e, c := range sc.count {
			if c > sc.count[home] {
				home = int32(e)
			}
		}
		for e, c := range sc.count {
			if c == 0 || int32(e) == home {
				continue
			}
			dss := sc.resourceFor(e, rs, out).ScopeSpans().AppendEmpty()
			ss.Scope().CopyTo(dss.Scope())
			dss.SetSchemaUrl(ss.SchemaUrl())
			dss.Spans().EnsureCapacity(int(c))
			sc.ssDst[e] = dss.Spans()
		}
		for k, e := range idx {
			if e != home {
				spans.At(k).MoveTo(sc.ssDst[e].AppendEmpty())
			}
		}
		sc.home, sc.pos = home, 0
		spans.RemoveIf(sc.notHome)
		ss.MoveTo(sc.resourceFor(int(home), rs, out).ScopeSpans().AppendEmpty())
	}
}

func (sc *traceScratch) resourceFor(e int, rs ptrace.ResourceSpans, out *outputs[ptrace.Traces]) ptrace.ResourceSpans {
	if sc.rsHas[e] {
		return sc.rsDst[e]
	}
	d := out.at(e).ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(d.Resource())
	d.SetSchemaUrl(rs.SchemaUrl())
	sc.rsDst[e], sc.rsHas[e] = d, true
	return d
}

// routeTraceID routes by trace ID. A span with an empty (all-zero) trace ID
// is routed by its span ID instead (or the zero key if that is empty too):
// deterministic, spread over the endpoints, and counted.
func (s *traceSplitter) routeTraceID(r *router, sp ptrace.Span, st *splitStats) int {
	tid := sp.TraceID()
	if tid.IsEmpty() {
		st.emptyTraceID++
		sid := sp.SpanID()
		return r.route(sid[:])
	}
	return r.route(tid[:])
}

func spanAttr(sp ptrace.Span, name string) (pcommon.Value, string, int) {
	switch name {
	case pseudoSpanKind:
		return pcommon.Value{}, sp.Kind().String(), itemPseudo
	case pseudoSpanName:
		return pcommon.Value{}, sp.Name(), itemPseudo
	}
	if v, ok := sp.Attributes().Get(name); ok {
		return v, "", itemValue
	}
	return pcommon.Value{}, "", itemMissing
}
