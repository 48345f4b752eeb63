package handoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

func TestTally(t *testing.T) {
	one := tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 4, Services: 2})[0]
	many := tracegen.Batches(tracegen.Spec{Traces: 7, SpansPerTrace: 3, TracesPerBatch: 7, Layout: tracegen.Interleaved})[0]
	withDecisions := ptrace.NewTraces()
	many.CopyTo(withDecisions)
	appendDecisions(withDecisions, 1, []pcommon.TraceID{tracegen.TraceID(5, 1)}, []pcommon.TraceID{tracegen.TraceID(5, 2)})
	for _, tt := range []struct {
		name string
		td   ptrace.Traces
		want counts
	}{
		{"empty", ptrace.NewTraces(), counts{}},
		{"one trace", one, counts{traces: 1, spans: 4}},
		{"interleaved traces", many, counts{traces: 7, spans: 7}},
		{"data and decisions", withDecisions, counts{traces: 7, spans: 7, decisions: 2}},
	} {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, tally(tt.td)) })
	}
}

// TestChunksKeepWithinTheReceiversLimits: what a sender splits passes the
// receiver's inspect with the same limits, and nothing is lost.
func TestChunksKeepWithinTheReceiversLimits(t *testing.T) {
	build := func() ptrace.Traces {
		td := ptrace.NewTraces()
		for i, b := range tracegen.Batches(tracegen.Spec{Traces: 300, SpansPerTrace: 4, TracesPerBatch: 1, Seed: 9}) {
			mark(b, 1, time.Unix(0, int64(i+1)))
			b.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		var dec []pcommon.TraceID
		for i := range 3000 {
			dec = append(dec, tracegen.TraceID(10, i))
		}
		appendDecisions(td, 1, dec[:2000], dec[2000:])
		return td
	}
	total := build()
	wantSpans, wantDecisions := 1200, 3000
	require.Equal(t, counts{traces: 300, spans: wantSpans, decisions: wantDecisions}, tally(total))
	for _, lim := range []chunkLimits{
		{bytes: 1 << 30, spans: 1 << 30, traces: 1 << 30},
		{bytes: 16 << 10, spans: 1 << 30, traces: 1 << 30},
		{bytes: 1 << 30, spans: 1100, traces: 1 << 30},
		{bytes: 1 << 30, spans: 1 << 30, traces: 1030},
		{bytes: 8 << 10, spans: 1030, traces: 1030},
	} {
		out := chunks(build(), lim)
		var got counts
		for _, c := range out {
			var sizer ptrace.ProtoMarshaler
			if c.ResourceSpans().Len() > 1 {
				assert.LessOrEqual(t, sizer.TracesSize(c), lim.bytes)
			}
			r := inspect(c, requestLimits{spans: lim.spans, traces: lim.traces})
			assert.False(t, r.refused(), "%+v: %s", lim, r.reason)
			ct := tally(c)
			got.spans += ct.spans
			got.decisions += ct.decisions
		}
		assert.Equal(t, wantSpans, got.spans, "%+v", lim)
		assert.Equal(t, wantDecisions, got.decisions, "%+v", lim)
		if lim.spans < 1<<30 || lim.traces < 1<<30 || lim.bytes < 1<<30 {
			assert.Greater(t, len(out), 1, "%+v", lim)
		} else {
			assert.Len(t, out, 1)
		}
	}
}
