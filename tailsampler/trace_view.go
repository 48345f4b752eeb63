package tailsampler

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// heldBatch is an input batch the processor keeps a reference to instead
// of copying its spans; the garbage collector frees it when no buffered
// trace refers to it any more.
//
// owned says the processor is the batch's only holder (see doc.go,
// "Ownership"): a kept span is then moved out of it into the outgoing
// batch instead of copied. A batch that is not owned (read-only: shared
// with other pipelines) is never modified.
type heldBatch struct {
	td    ptrace.Traces
	owned bool
}

// spanRef locates one buffered span: 24 bytes instead of a copy.
type spanRef struct {
	b          *heldBatch
	rs, ss, sp uint32
}

func (r spanRef) resource() ptrace.ResourceSpans { return r.b.td.ResourceSpans().At(int(r.rs)) }

func (r spanRef) scope() ptrace.ScopeSpans { return r.resource().ScopeSpans().At(int(r.ss)) }

func (r spanRef) span() ptrace.Span { return r.scope().Spans().At(int(r.sp)) }

var protoSizer ptrace.ProtoMarshaler

// spanBytes is the span's encoded OTLP size, the unit of max_buffered_bytes,
// maximum_trace_size_bytes and Trace.Bytes.
func spanBytes(sp ptrace.Span) int { return protoSizer.SpanSize(sp) }

// traceView is the Trace handed to policies: a snapshot of the buffered
// trace's metadata and of its span references taken under the shard lock.
// Spans that arrive while the policies run are appended beyond len(refs)
// and are not seen by this evaluation, but do follow its decision.
type traceView struct {
	id         pcommon.TraceID
	refs       []spanRef
	firstSeen  time.Time
	firstStart pcommon.Timestamp
	lastEnd    pcommon.Timestamp
	root       int32 // index into refs, -1 when no root span arrived
	bytes      int   // -1 until computed
}

var _ Trace = (*traceView)(nil)

func (v *traceView) ID() pcommon.TraceID           { return v.id }
func (v *traceView) SpanCount() int                { return len(v.refs) }
func (v *traceView) FirstSeen() time.Time          { return v.firstSeen }
func (v *traceView) FirstStart() pcommon.Timestamp { return v.firstStart }
func (v *traceView) LastEnd() pcommon.Timestamp    { return v.lastEnd }

func (v *traceView) Bytes() int {
	if v.bytes < 0 {
		n := 0
		for _, r := range v.refs {
			n += spanBytes(r.span())
		}
		v.bytes = n
	}
	return v.bytes
}

func (v *traceView) Root() (ptrace.Span, bool) {
	if v.root < 0 || int(v.root) >= len(v.refs) {
		return ptrace.Span{}, false
	}
	return v.refs[v.root].span(), true
}

func (v *traceView) Spans(fn func(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span) bool) {
	for _, r := range v.refs {
		rs := r.resource()
		ss := rs.ScopeSpans().At(int(r.ss))
		if !fn(rs, ss, ss.Spans().At(int(r.sp))) {
			return
		}
	}
}
