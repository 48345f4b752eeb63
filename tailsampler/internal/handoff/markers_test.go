package handoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/resolver"
)

func TestMarkDecodeRoundTrip(t *testing.T) {
	now := time.Unix(0, 1_800_000_000_000_000_000)
	fs1, fs2 := now.Add(-3*time.Second), now.Add(-time.Second)
	td := ptrace.NewTraces()
	for _, g := range []struct {
		seed uint64
		hop  int
		fs   time.Time
	}{{1, 1, fs1}, {2, 1, fs2}, {3, 2, fs1}, {4, 1, fs1}} {
		b := tracegen.Batches(tracegen.Spec{Traces: 2, SpansPerTrace: 3, Seed: g.seed})[0]
		mark(b, g.hop, g.fs)
		b.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	s1, s2 := tracegen.TraceID(9, 1), tracegen.TraceID(9, 2)
	appendDecisions(td, 1, []pcommon.TraceID{s1}, []pcommon.TraceID{s2})

	require.False(t, inspect(td, requestLimits{}).refused())
	d := decode(td, now)
	assert.Equal(t, []decision{{s1, true}, {s2, false}}, d.decisions)
	require.Len(t, d.groups, 3, "one group per distinct (hop, first-seen)")
	type key struct {
		hop int
		fs  int64
	}
	got := map[key]int{}
	for _, g := range d.groups {
		got[key{g.hop, g.firstSeen.UnixNano()}] = g.td.SpanCount()
		for _, rs := range g.td.ResourceSpans().All() {
			for _, k := range []string{AttrHop, AttrFirstSeen, AttrDecision} {
				_, ok := rs.Resource().Attributes().Get(k)
				assert.False(t, ok, k)
			}
		}
	}
	assert.Equal(t, map[key]int{{1, fs1.UnixNano()}: 12, {1, fs2.UnixNano()}: 6, {2, fs1.UnixNano()}: 6}, got)
}

func TestInspectRefusesMalformedMarkers(t *testing.T) {
	for _, tt := range []struct {
		name  string
		attrs func(pcommon.Map)
		ok    bool
	}{
		{"data", func(m pcommon.Map) { m.PutInt(AttrHop, 1); m.PutInt(AttrFirstSeen, 5) }, true},
		{"decision", func(m pcommon.Map) { m.PutInt(AttrHop, 8); m.PutStr(AttrDecision, DecisionNotSampled) }, true},
		{"first seen in the future", func(m pcommon.Map) { m.PutInt(AttrHop, 1); m.PutInt(AttrFirstSeen, 1<<62) }, true},
		{"no markers", func(pcommon.Map) {}, false},
		{"hop as string", func(m pcommon.Map) { m.PutStr(AttrHop, "1"); m.PutInt(AttrFirstSeen, 5) }, false},
		{"hop zero", func(m pcommon.Map) { m.PutInt(AttrHop, 0); m.PutInt(AttrFirstSeen, 5) }, false},
		{"hop huge", func(m pcommon.Map) { m.PutInt(AttrHop, 1<<40); m.PutInt(AttrFirstSeen, 5) }, false},
		{"first seen missing", func(m pcommon.Map) { m.PutInt(AttrHop, 1) }, false},
		{"first seen negative", func(m pcommon.Map) { m.PutInt(AttrHop, 1); m.PutInt(AttrFirstSeen, -1) }, false},
		{"first seen double", func(m pcommon.Map) { m.PutInt(AttrHop, 1); m.PutDouble(AttrFirstSeen, 5) }, false},
		{"unknown decision", func(m pcommon.Map) { m.PutInt(AttrHop, 1); m.PutStr(AttrDecision, "maybe"); m.PutInt(AttrFirstSeen, 5) }, false},
		{"decision as int", func(m pcommon.Map) { m.PutInt(AttrHop, 1); m.PutInt(AttrDecision, 1) }, false},
		{"decision without hop", func(m pcommon.Map) { m.PutStr(AttrDecision, DecisionSampled) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Two ResourceSpans: a valid one, then the one under test.
			td := tracegen.Batches(tracegen.Spec{Traces: 2, SpansPerTrace: 1, TracesPerBatch: 2, Services: 2})[0]
			require.Equal(t, 2, td.ResourceSpans().Len())
			mark(td, 1, time.Unix(0, 7))
			attrs := td.ResourceSpans().At(1).Resource().Attributes()
			attrs.Remove(AttrHop)
			attrs.Remove(AttrFirstSeen)
			tt.attrs(attrs)
			before := ptrace.NewTraces()
			td.CopyTo(before)
			r := inspect(td, requestLimits{spans: 10, traces: 10})
			assert.Equal(t, before, td, "inspect does not modify its input")
			if tt.ok {
				assert.False(t, r.refused(), r.reason)
				return
			}
			assert.Equal(t, RefusedMalformed, r.reason)
			assert.Equal(t, 1, r.malformed)
			assert.Equal(t, codes.InvalidArgument, status.Code(r.status()))
			assert.True(t, permanent(r.status()), "the sender decides it itself")
		})
	}
	t.Run("decision span without a trace ID", func(t *testing.T) {
		td := ptrace.NewTraces()
		appendDecisions(td, 1, []pcommon.TraceID{tracegen.TraceID(1, 1)}, nil)
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
		assert.Equal(t, RefusedMalformed, inspect(td, requestLimits{}).reason)
	})
}

func TestInspectLimits(t *testing.T) {
	// 10 traces of 3 spans, and 4 decisions of other traces.
	td := tracegen.Batches(tracegen.Spec{Traces: 10, SpansPerTrace: 3, TracesPerBatch: 10, Seed: 3})[0]
	mark(td, 1, time.Unix(0, 7))
	var dec []pcommon.TraceID
	for i := range 4 {
		dec = append(dec, tracegen.TraceID(99, i))
	}
	appendDecisions(td, 1, dec, nil)
	for _, tt := range []struct {
		name   string
		lim    requestLimits
		reason string
		code   codes.Code
	}{
		{"unlimited", requestLimits{}, "", codes.OK},
		{"exactly at the limits", requestLimits{spans: 34, traces: 14}, "", codes.OK},
		{"one span too many", requestLimits{spans: 33, traces: 14}, RefusedTooManySpans, codes.ResourceExhausted},
		{"one trace too many", requestLimits{spans: 34, traces: 13}, RefusedTooManyTraces, codes.ResourceExhausted},
		{"both: spans first", requestLimits{spans: 1, traces: 1}, RefusedTooManySpans, codes.ResourceExhausted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := inspect(td, tt.lim)
			assert.Equal(t, tt.reason, r.reason)
			if tt.reason != "" {
				assert.Equal(t, tt.code, status.Code(r.status()))
				assert.Contains(t, r.status().Error(), "more than")
			}
		})
	}
}

func TestDecodeClampsFutureFirstSeen(t *testing.T) {
	now := time.Unix(0, 1_800_000_000_000_000_000)
	td := tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 1})[0]
	mark(td, 1, now.Add(time.Hour))
	d := decode(td, now)
	require.Len(t, d.groups, 1)
	assert.True(t, now.Equal(d.groups[0].firstSeen))
}

// TestDecodeWorstCaseGroups decodes the worst case (one tiny ResourceSpans per
// span, every one with its own first-seen) and checks that it yields one
// group per ResourceSpans in input order; BenchmarkDecodeWorstCase shows
// the cost per span staying flat from 1k to 100k spans.
func TestDecodeWorstCaseGroups(t *testing.T) {
	td := worstCase(2000, 0)
	d := decode(td, time.Unix(0, 1<<62))
	require.Len(t, d.groups, 2000)
	for i, g := range d.groups {
		assert.Equal(t, int64(i+1), g.firstSeen.UnixNano())
		assert.Equal(t, 1, g.td.SpanCount())
	}
}

// worstCase is the costliest request per byte for the receiver: n
// ResourceSpans of one span each, every one with its own first-seen
// (1..n ns), spread over traces distinct trace IDs (every span its own
// trace when traces is 0).
func worstCase(n, traces int) ptrace.Traces {
	td := ptrace.NewTraces()
	rss := td.ResourceSpans()
	rss.EnsureCapacity(n)
	for i := range n {
		rs := rss.AppendEmpty()
		attrs := rs.Resource().Attributes()
		attrs.PutInt(AttrHop, 1)
		attrs.PutInt(AttrFirstSeen, int64(i+1))
		span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		t := i
		if traces > 0 {
			t = i % traces
		}
		span.SetTraceID(tracegen.TraceID(7, t))
		span.SetSpanID(tracegen.SpanID(7, t, i))
	}
	return td
}

// FuzzDecode feeds arbitrary OTLP requests to inspect and decode: they
// never panic; what inspect accepts decodes into exactly its data spans
// and decisions, with every marker removed.
func FuzzDecode(f *testing.F) {
	for _, td := range fuzzSeeds() {
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(f, err)
		f.Add(b, uint16(0), uint16(0))
		f.Add(b, uint16(3), uint16(2))
	}
	now := time.Unix(0, 1_800_000_000_000_000_000)
	f.Fuzz(func(t *testing.T, data []byte, maxSpans, maxTraces uint16) {
		req := ptraceotlp.NewExportRequest()
		if req.UnmarshalProto(data) != nil {
			return
		}
		td := req.Traces()
		lim := requestLimits{spans: int(maxSpans), traces: int(maxTraces)}
		r := inspect(td, lim)
		if r.refused() {
			require.Error(t, r.status())
			return
		}
		dataSpans, decisions := 0, 0
		for _, rs := range td.ResourceSpans().All() {
			if _, ok := rs.Resource().Attributes().Get(AttrDecision); ok {
				decisions += spanCount(rs)
			} else {
				dataSpans += spanCount(rs)
			}
		}
		if lim.spans > 0 {
			require.LessOrEqual(t, dataSpans+decisions, lim.spans)
		}
		d := decode(td, now)
		assert.Len(t, d.decisions, decisions)
		got := 0
		for _, g := range d.groups {
			got += g.td.SpanCount()
			assert.False(t, g.firstSeen.After(now))
			assert.GreaterOrEqual(t, g.hop, 1)
			for _, rs := range g.td.ResourceSpans().All() {
				for k := range rs.Resource().Attributes().All() {
					assert.NotContains(t, k, markerPrefix)
				}
			}
		}
		assert.Equal(t, dataSpans, got)
	})
}

func fuzzSeeds() []ptrace.Traces {
	seed := tracegen.Batches(tracegen.Spec{Traces: 3, SpansPerTrace: 2, TracesPerBatch: 3})[0]
	mark(seed, 1, time.Unix(0, 42))
	appendDecisions(seed, 1, []pcommon.TraceID{tracegen.TraceID(1, 1)}, nil)
	bad := ptrace.NewTraces()
	rs := bad.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(AttrDecision, "sampled")
	rs.Resource().Attributes().PutInt(AttrHop, -3)
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	return []ptrace.Traces{seed, ptrace.NewTraces(), bad, worstCase(20, 3)}
}

// FuzzExport feeds arbitrary OTLP requests to the handoff listener's
// handler: it never panics; a request it accepts has every data span
// buffered, never with a marker on; a request it refuses leaves the
// Buffer untouched.
func FuzzExport(f *testing.F) {
	for _, td := range fuzzSeeds() {
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(f, err)
		f.Add(b)
	}
	cfg := NewDefaultConfig()
	cfg.Endpoint = "127.0.0.2:4317"
	cfg.Resolver.Static = &resolver.StaticConfig{Hostnames: []string{cfg.Endpoint}}
	cfg.MaxSpansPerRequest = 50
	cfg.MaxTracesPerRequest = 20
	cfg.AcceptFrom = AcceptAny // the handler is called without a network peer
	// One engine, never started (it owns everything): only the Buffer is
	// replaced per input.
	e, err := New(cfg, componenttest.NewNopTelemetrySettings(), newFakeBuffer())
	require.NoError(f, err)
	f.Cleanup(func() { require.NoError(f, e.Shutdown(context.Background())) })
	f.Fuzz(func(t *testing.T, data []byte) {
		req := ptraceotlp.NewExportRequest()
		if req.UnmarshalProto(data) != nil {
			return
		}
		dataSpans, decisions := 0, 0
		for _, rs := range req.Traces().ResourceSpans().All() {
			if _, ok := rs.Resource().Attributes().Get(AttrDecision); ok {
				decisions += spanCount(rs)
			} else {
				dataSpans += spanCount(rs)
			}
		}
		refused := inspect(req.Traces(), e.cfg.limits()).refused()
		buf := newFakeBuffer()
		e.buf = buf
		_, err := (&handler{e: e}).Export(context.Background(), req)
		got := 0
		for _, ti := range buf.snapshot() {
			got += ti.spans
		}
		if refused {
			require.Error(t, err)
			assert.Zero(t, got)
			assert.Empty(t, buf.decisions())
			return
		}
		require.NoError(t, err)
		assert.Equal(t, dataSpans, got)
		assert.LessOrEqual(t, len(buf.decisions()), decisions)
		assert.Zero(t, buf.markers)
	})
}

func spanCount(rs ptrace.ResourceSpans) int {
	n := 0
	for _, ss := range rs.ScopeSpans().All() {
		n += ss.Spans().Len()
	}
	return n
}
