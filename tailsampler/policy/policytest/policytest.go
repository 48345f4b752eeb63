package policytest

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// Trace is a policy.Trace over a ptrace.Traces, built by NewTrace.
type Trace struct {
	td          ptrace.Traces
	id          pcommon.TraceID
	n, bytes    int
	first, last pcommon.Timestamp
	firstSeen   time.Time
}

var _ policy.Trace = (*Trace)(nil)

// NewTrace returns the spans of td as the one trace a policy evaluates, as
// the processor would hand it over once they were buffered: its ID is the
// first span's trace ID, Bytes is td's OTLP protobuf size, FirstStart and
// LastEnd span every span's timestamps (a zero start is ignored), and the
// root is the first span without a parent span ID. FirstSeen is the Unix
// epoch unless set with WithFirstSeen. td is read, never modified; it
// must not change while the Trace is in use.
func NewTrace(td ptrace.Traces) *Trace {
	t := &Trace{td: td, firstSeen: time.Unix(0, 0)}
	var sizer ptrace.ProtoMarshaler
	t.bytes = sizer.TracesSize(td)
	t.Spans(func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, sp ptrace.Span) bool {
		if t.n == 0 {
			t.id = sp.TraceID()
		}
		t.n++
		if t.first == 0 || (sp.StartTimestamp() != 0 && sp.StartTimestamp() < t.first) {
			t.first = sp.StartTimestamp()
		}
		if sp.EndTimestamp() > t.last {
			t.last = sp.EndTimestamp()
		}
		return true
	})
	return t
}

// WithFirstSeen sets the time FirstSeen reports and returns t.
func (t *Trace) WithFirstSeen(at time.Time) *Trace {
	t.firstSeen = at
	return t
}

// ID is the first span's trace ID.
func (t *Trace) ID() pcommon.TraceID { return t.id }

// SpanCount is the number of spans in td.
func (t *Trace) SpanCount() int { return t.n }

// Bytes is td's OTLP protobuf size.
func (t *Trace) Bytes() int { return t.bytes }

// FirstSeen is the Unix epoch, or what WithFirstSeen set.
func (t *Trace) FirstSeen() time.Time { return t.firstSeen }

// FirstStart is the earliest non-zero span start.
func (t *Trace) FirstStart() pcommon.Timestamp { return t.first }

// LastEnd is the latest span end.
func (t *Trace) LastEnd() pcommon.Timestamp { return t.last }

// Root returns the first span without a parent span ID.
func (t *Trace) Root() (root ptrace.Span, found bool) {
	t.Spans(func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, sp ptrace.Span) bool {
		if sp.ParentSpanID().IsEmpty() {
			root, found = sp, true
		}
		return !found
	})
	return root, found
}

// Spans calls fn for every span of td in order, until fn returns false.
func (t *Trace) Spans(fn func(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span) bool) {
	rss := t.td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				if !fn(rs, ss, spans.At(k)) {
					return
				}
			}
		}
	}
}
