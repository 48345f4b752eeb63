package tailsampler

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
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
	// sizes, when the processor counts bytes, are the encoded sizes of
	// the batch's resources and scopes, measured on arrival (before any
	// span can be moved out of it).
	sizes *batchSizes
}

// batchSizes holds, for each ResourceSpans of a batch, the encoded size of
// its fields other than scope_spans (resource, schema_url), and for each
// of its ScopeSpans the size of the fields other than spans (scope,
// schema_url). With them a trace's size is computed exactly as upstream
// measures it: each batch's part of the trace as its own ResourceSpans,
// holding the resource, then one ScopeSpans per run of spans of a scope.
type batchSizes struct {
	rs []int64
	ss [][]int64
}

func measureBatch(td ptrace.Traces) *batchSizes {
	rss := td.ResourceSpans()
	bs := &batchSizes{rs: make([]int64, rss.Len()), ss: make([][]int64, rss.Len())}
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		bs.ss[i] = make([]int64, sss.Len())
		inner := int64(0)
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			size := int64(protoSizer.ScopeSpansSize(ss))
			inner += fieldLen(size)
			spans := ss.Spans()
			spansLen := int64(0)
			for k := 0; k < spans.Len(); k++ {
				spansLen += fieldLen(int64(spanBytes(spans.At(k))))
			}
			bs.ss[i][j] = size - spansLen
		}
		bs.rs[i] = int64(protoSizer.ResourceSpansSize(rs)) - inner
	}
	return bs
}

// fieldLen is the encoded size of a length-delimited protobuf field with
// a one-byte tag and a payload of n bytes.
func fieldLen(n int64) int64 {
	l := int64(1)
	for v := uint64(n); v >= 0x80; v >>= 7 {
		l++
	}
	return 1 + l + n
}

// traceSize accumulates a trace's encoded size as spans arrive, in O(1)
// per span: closed parts (ResourceSpans of earlier batches) and the open
// one (its resource and closed scopes, and the open scope).
type traceSize struct {
	closed      int64 // sum of closed parts' ResourceSpans sizes
	closedOuter int64 // the same, each as a field of Traces
	head        int64 // open part: resource fields + closed scopes as fields
	scope       int64 // open scope: scope fields + its spans as fields
}

// add accounts one span of ref's batch, sized spanSize; prev is the
// trace's previous span, if any.
func (t *traceSize) add(ref spanRef, spanSize int64, prev spanRef, hasPrev bool) {
	sz := ref.b.sizes
	switch {
	case !hasPrev || prev.b != ref.b || prev.rs != ref.rs:
		if hasPrev {
			part := t.head + fieldLen(t.scope)
			t.closed += part
			t.closedOuter += fieldLen(part)
		}
		t.head = sz.rs[ref.rs]
		t.scope = sz.ss[ref.rs][ref.ss]
	case prev.ss != ref.ss:
		t.head += fieldLen(t.scope)
		t.scope = sz.ss[ref.rs][ref.ss]
	}
	t.scope += fieldLen(spanSize)
}

// parts is the sum of the trace's ResourceSpans sizes: what upstream
// counts against maximum_trace_size_bytes.
func (t *traceSize) parts() int64 { return t.closed + t.head + fieldLen(t.scope) }

// traces is the size of the trace as one Traces message: what upstream's
// bytes_limiting charges.
func (t *traceSize) traces() int64 { return t.closedOuter + fieldLen(t.head+fieldLen(t.scope)) }

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

var _ policy.Trace = (*traceView)(nil)

func (v *traceView) ID() pcommon.TraceID           { return v.id }
func (v *traceView) SpanCount() int                { return len(v.refs) }
func (v *traceView) FirstSeen() time.Time          { return v.firstSeen }
func (v *traceView) FirstStart() pcommon.Timestamp { return v.firstStart }
func (v *traceView) LastEnd() pcommon.Timestamp    { return v.lastEnd }

// Bytes is the trace's encoded size as upstream measures it when the
// processor counts bytes (a bytes_limiting policy, a byte limit), else the
// sum of its spans' encoded sizes, computed on first use.
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
