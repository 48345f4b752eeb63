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

	d := decode(td, now)
	assert.Zero(t, d.malformed)
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

func TestDecodeMalformed(t *testing.T) {
	now := time.Unix(0, 1_800_000_000_000_000_000)
	for _, tt := range []struct {
		name      string
		attrs     func(pcommon.Map)
		wantHop   int
		wantFS    time.Time
		decisions int
	}{
		{"no markers", func(pcommon.Map) {}, unknownHop, now, 0},
		{"hop as string", func(m pcommon.Map) { m.PutStr(AttrHop, "1"); m.PutInt(AttrFirstSeen, 5) }, unknownHop, time.Unix(0, 5), 0},
		{"hop zero", func(m pcommon.Map) { m.PutInt(AttrHop, 0); m.PutInt(AttrFirstSeen, 5) }, unknownHop, time.Unix(0, 5), 0},
		{"hop huge", func(m pcommon.Map) { m.PutInt(AttrHop, 1<<40); m.PutInt(AttrFirstSeen, 5) }, unknownHop, time.Unix(0, 5), 0},
		{"first seen missing", func(m pcommon.Map) { m.PutInt(AttrHop, 1) }, unknownHop, now, 0},
		{"first seen negative", func(m pcommon.Map) { m.PutInt(AttrHop, 1); m.PutInt(AttrFirstSeen, -1) }, unknownHop, now, 0},
		{"first seen double", func(m pcommon.Map) { m.PutInt(AttrHop, 1); m.PutDouble(AttrFirstSeen, 5) }, unknownHop, now, 0},
		{"unknown decision", func(m pcommon.Map) { m.PutInt(AttrHop, 1); m.PutStr(AttrDecision, "maybe"); m.PutInt(AttrFirstSeen, 5) }, unknownHop, time.Unix(0, 5), 0},
		{"decision with bad hop", func(m pcommon.Map) { m.PutStr(AttrDecision, DecisionSampled) }, 0, time.Time{}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			td := tracegen.Batches(tracegen.Spec{Traces: 2, SpansPerTrace: 1, TracesPerBatch: 2, Services: 1})[0]
			tt.attrs(td.ResourceSpans().At(0).Resource().Attributes())
			spans := td.SpanCount()
			d := decode(td, now)
			assert.Equal(t, 1, d.malformed)
			assert.Len(t, d.decisions, tt.decisions)
			if tt.decisions > 0 {
				assert.Empty(t, d.groups)
				return
			}
			require.Len(t, d.groups, 1)
			assert.Equal(t, tt.wantHop, d.groups[0].hop)
			assert.True(t, tt.wantFS.Equal(d.groups[0].firstSeen), d.groups[0].firstSeen)
			assert.Equal(t, spans, d.groups[0].td.SpanCount(), "data kept")
		})
	}
	t.Run("first seen in the future is now", func(t *testing.T) {
		td := tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 1})[0]
		mark(td, 1, now.Add(time.Hour))
		d := decode(td, now)
		assert.Zero(t, d.malformed)
		assert.True(t, now.Equal(d.groups[0].firstSeen))
	})
}

// FuzzExport feeds arbitrary OTLP requests to the handoff listener's
// handler: it never panics, every data span reaches the Buffer and never
// with a marker on.
func FuzzExport(f *testing.F) {
	seed := tracegen.Batches(tracegen.Spec{Traces: 3, SpansPerTrace: 2, TracesPerBatch: 3})[0]
	mark(seed, 1, time.Unix(0, 42))
	appendDecisions(seed, 1, []pcommon.TraceID{tracegen.TraceID(1, 1)}, nil)
	for _, td := range []ptrace.Traces{seed, ptrace.NewTraces()} {
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(f, err)
		f.Add(b)
	}
	bad := ptrace.NewTraces()
	rs := bad.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(AttrDecision, "sampled")
	rs.Resource().Attributes().PutInt(AttrHop, -3)
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	b, _ := ptraceotlp.NewExportRequestFromTraces(bad).MarshalProto()
	f.Add(b)

	cfg := NewDefaultConfig()
	cfg.Endpoint = "127.0.0.2:4317"
	cfg.Resolver.Static = &resolver.StaticConfig{Hostnames: []string{cfg.Endpoint}}
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
		dataSpans := 0
		for _, rs := range req.Traces().ResourceSpans().All() {
			if v, ok := rs.Resource().Attributes().Get(AttrDecision); ok {
				if _, valid := parseDecision(v); valid {
					continue
				}
			}
			dataSpans += spanCount(rs)
		}
		buf := newFakeBuffer()
		e.buf = buf
		_, err := (&handler{e: e}).Export(context.Background(), req)
		require.NoError(t, err)
		got := 0
		for _, ti := range buf.snapshot() {
			got += ti.spans
		}
		assert.Equal(t, dataSpans, got)
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
