package policytest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/policy/policytest"
)

type spanSpec struct {
	name       string
	parent     bool
	start, end pcommon.Timestamp
}

// build puts the spans in two ResourceSpans, the first holding one span.
func build(id pcommon.TraceID, specs ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	var spans ptrace.SpanSlice
	for i, s := range specs {
		if i < 2 {
			spans = td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
		}
		sp := spans.AppendEmpty()
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if s.parent {
			sp.SetParentSpanID(pcommon.SpanID{9})
		}
		sp.SetName(s.name)
		sp.SetStartTimestamp(s.start)
		sp.SetEndTimestamp(s.end)
	}
	return td
}

func names(tr *policytest.Trace, limit int) []string {
	var out []string
	tr.Spans(func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, sp ptrace.Span) bool {
		out = append(out, sp.Name())
		return len(out) < limit
	})
	return out
}

func TestNewTrace(t *testing.T) {
	id := pcommon.TraceID{1, 2, 3}
	tests := []struct {
		name      string
		td        ptrace.Traces
		id        pcommon.TraceID
		count     int
		first     pcommon.Timestamp
		last      pcommon.Timestamp
		root      string
		spanNames []string
	}{
		{"root in the middle, a zero start ignored", build(id,
			spanSpec{name: "child", parent: true, start: 0, end: 50},
			spanSpec{name: "root", start: 20, end: 40},
			spanSpec{name: "late", parent: true, start: 30, end: 90},
		), id, 3, 20, 90, "root", []string{"child", "root", "late"}},
		{"no root", build(id, spanSpec{name: "orphan", parent: true, start: 5, end: 6}), id, 1, 5, 6, "", []string{"orphan"}},
		{"empty", ptrace.NewTraces(), pcommon.TraceID{}, 0, 0, 0, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := policytest.NewTrace(tt.td)
			assert.Equal(t, tt.id, tr.ID())
			assert.Equal(t, tt.count, tr.SpanCount())
			assert.Equal(t, tt.first, tr.FirstStart())
			assert.Equal(t, tt.last, tr.LastEnd())
			var sizer ptrace.ProtoMarshaler
			assert.Equal(t, sizer.TracesSize(tt.td), tr.Bytes())
			assert.Equal(t, time.Unix(0, 0), tr.FirstSeen())
			root, ok := tr.Root()
			assert.Equal(t, tt.root != "", ok)
			if ok {
				assert.Equal(t, tt.root, root.Name())
			}
			assert.Equal(t, tt.spanNames, names(tr, 100))
		})
	}
}

func TestTraceSpansStopsEarly(t *testing.T) {
	tr := policytest.NewTrace(build(pcommon.TraceID{1}, spanSpec{name: "a"}, spanSpec{name: "b"}, spanSpec{name: "c"}))
	assert.Equal(t, []string{"a", "b"}, names(tr, 2))
}

func TestWithFirstSeen(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := policytest.NewTrace(ptrace.NewTraces()).WithFirstSeen(at)
	assert.Equal(t, at, tr.FirstSeen())
}

// NewTrace is read-only: it works on read-only pdata, which panics on any
// write.
func TestNewTraceReadOnlyInput(t *testing.T) {
	td := build(pcommon.TraceID{1}, spanSpec{name: "a", start: 1, end: 2})
	td.MarkReadOnly()
	tr := policytest.NewTrace(td)
	_, ok := tr.Root()
	assert.True(t, ok)
	assert.Equal(t, []string{"a"}, names(tr, 10))
}

// FuzzNewTrace builds a Trace from arbitrary pdata (OTLP protobuf): no
// panic, and its span count and bounds agree with the batch.
func FuzzNewTrace(f *testing.F) {
	var m ptrace.ProtoMarshaler
	for _, td := range []ptrace.Traces{
		build(pcommon.TraceID{1}, spanSpec{name: "a", start: 3, end: 1}, spanSpec{name: "b", parent: true, start: 2, end: 9}),
		ptrace.NewTraces(),
	} {
		b, err := m.MarshalTraces(td)
		require.NoError(f, err)
		f.Add(b)
	}
	var u ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := u.UnmarshalTraces(data)
		if err != nil {
			return
		}
		tr := policytest.NewTrace(td)
		assert.Equal(t, td.SpanCount(), tr.SpanCount())
		n := 0
		tr.Spans(func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, sp ptrace.Span) bool {
			n++
			assert.LessOrEqual(t, sp.EndTimestamp(), tr.LastEnd())
			if sp.StartTimestamp() != 0 {
				assert.GreaterOrEqual(t, sp.StartTimestamp(), tr.FirstStart())
			}
			return true
		})
		assert.Equal(t, td.SpanCount(), n)
	})
}
