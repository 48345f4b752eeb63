package handoff

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// counts describes marked data for the metrics.
type counts struct {
	traces, spans, decisions int
}

// tally counts the distinct traces and the spans of the data in td, and
// the decisions it carries. Only used off the ingest path.
func tally(td ptrace.Traces) counts {
	var (
		c     counts
		first pcommon.TraceID
		seen  map[pcommon.TraceID]struct{} // from the second distinct trace on
	)
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		_, isDecision := rs.Resource().Attributes().Get(AttrDecision)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			if isDecision {
				c.decisions += spans.Len()
				continue
			}
			for k := 0; k < spans.Len(); k++ {
				id := spans.At(k).TraceID()
				switch {
				case c.spans == 0:
					first = id
				case seen == nil && id != first:
					seen = map[pcommon.TraceID]struct{}{first: {}, id: {}}
				case seen != nil:
					seen[id] = struct{}{}
				}
				c.spans++
			}
		}
	}
	switch {
	case seen != nil:
		c.traces = len(seen)
	case c.spans > 0:
		c.traces = 1
	}
	return c
}

// chunkLimits bound one request a sender builds: its encoded size, its
// spans and its traces (the receiver's requestLimits).
type chunkLimits struct {
	bytes, spans, traces int
}

// chunks splits td into requests within lim, by whole ResourceSpans; one
// ResourceSpans that alone exceeds lim travels alone. Traces are counted
// as runs of one trace ID within a ResourceSpans, an upper bound of the
// distinct traces that is exact for what the engine sends (one trace per
// data ResourceSpans, distinct IDs in decisions). td is consumed.
func chunks(td ptrace.Traces, lim chunkLimits) []ptrace.Traces {
	var sizer ptrace.ProtoMarshaler
	rss := td.ResourceSpans()
	if sizer.TracesSize(td) <= lim.bytes {
		spans, traces := 0, 0
		for i := 0; i < rss.Len(); i++ {
			s, t := spanRuns(rss.At(i))
			spans += s
			traces += t
		}
		if spans <= lim.spans && traces <= lim.traces {
			return []ptrace.Traces{td}
		}
	}
	var out []ptrace.Traces
	cur := ptrace.NewTraces()
	size, spans, traces := 0, 0, 0
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		n := sizer.ResourceSpansSize(rs) + 8 // field tag and length prefix
		s, t := spanRuns(rs)
		if cur.ResourceSpans().Len() > 0 && (size+n > lim.bytes || spans+s > lim.spans || traces+t > lim.traces) {
			out = append(out, cur)
			cur = ptrace.NewTraces()
			size, spans, traces = 0, 0, 0
		}
		rs.MoveTo(cur.ResourceSpans().AppendEmpty())
		size, spans, traces = size+n, spans+s, traces+t
	}
	if cur.ResourceSpans().Len() > 0 {
		out = append(out, cur)
	}
	return out
}

// spanRuns returns the spans of rs and the number of runs of equal
// consecutive trace IDs among them.
func spanRuns(rs ptrace.ResourceSpans) (spans, runs int) {
	var last pcommon.TraceID
	sss := rs.ScopeSpans()
	for i := 0; i < sss.Len(); i++ {
		ss := sss.At(i).Spans()
		for j := 0; j < ss.Len(); j++ {
			id := ss.At(j).TraceID()
			if spans == 0 || id != last {
				runs++
				last = id
			}
			spans++
		}
	}
	return spans, runs
}
