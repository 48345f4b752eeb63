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
	var c counts
	seen := map[pcommon.TraceID]struct{}{}
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
			c.spans += spans.Len()
			for k := 0; k < spans.Len(); k++ {
				seen[spans.At(k).TraceID()] = struct{}{}
			}
		}
	}
	c.traces = len(seen)
	return c
}

// chunks splits td into requests of at most maxBytes encoded bytes, by
// whole ResourceSpans; one larger than maxBytes travels alone. td is
// consumed.
func chunks(td ptrace.Traces, maxBytes int) []ptrace.Traces {
	var sizer ptrace.ProtoMarshaler
	if sizer.TracesSize(td) <= maxBytes {
		return []ptrace.Traces{td}
	}
	var out []ptrace.Traces
	cur, size := ptrace.NewTraces(), 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		n := sizer.ResourceSpansSize(rs) + 8 // field tag and length prefix
		if size > 0 && size+n > maxBytes {
			out = append(out, cur)
			cur, size = ptrace.NewTraces(), 0
		}
		rs.MoveTo(cur.ResourceSpans().AppendEmpty())
		size += n
	}
	if size > 0 {
		out = append(out, cur)
	}
	return out
}
