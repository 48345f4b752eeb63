package handoff

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

func flatten(m *wireMsg) []byte {
	var b []byte
	for _, p := range m.pieces {
		b = append(b, p...)
	}
	return b
}

func TestReplicaRequestRoundTrip(t *testing.T) {
	ids := []pcommon.TraceID{tracegen.TraceID(1, 1), tracegen.TraceID(1, 2)}
	tests := []struct {
		name string
		req  request
	}{
		{"hello", request{from: epA, incarnation: 7}},
		{"bye", request{from: epB, incarnation: 1, bye: true}},
		{"decisions and questions", request{from: epA, incarnation: 9, sampled: ids[:1], notSampled: ids[1:], ask: ids}},
		{"shadows", request{from: epC, incarnation: 3, shadow: []wireGroup{
			{traces: []byte{1, 2, 3}},
			{firstSeen: 1_700_000_000_000_000_000, traces: []byte{4}, ids: append(ids[0][:], ids[1][:]...)},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRequest(flatten(encodeRequest(&tt.req)))
			require.NoError(t, err)
			assert.Equal(t, tt.req, got)
		})
	}
}

func TestReplicaResponseRoundTrip(t *testing.T) {
	resp := response{incarnation: 42, pending: []pcommon.TraceID{tracegen.TraceID(2, 1)},
		sampled: []pcommon.TraceID{tracegen.TraceID(2, 2)}, notSampled: []pcommon.TraceID{tracegen.TraceID(2, 3)}}
	assert.Equal(t, resp, decodeResponse(encodeResponse(&resp)))
	assert.Equal(t, response{}, decodeResponse([]byte{0xff, 0xff}), "garbage reads as an empty answer")
}

func TestDecodeRequestRefusesMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"truncated tag":           {0x80},
		"truncated length":        {0x0a, 0x05, 'a'},
		"decision IDs not 16":     append([]byte{0x22, 0x03}, 1, 2, 3),
		"group with bad trace ID": {0x1a, 0x04, 0x1a, 0x02, 1, 2},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeRequest(b)
			assert.ErrorIs(t, err, errMalformed)
		})
	}
}

// spanOrder lists the trace IDs of td's spans in pdata's order.
func spanOrder(td ptrace.Traces) []pcommon.TraceID {
	var ids []pcommon.TraceID
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				ids = append(ids, sp.TraceID())
			}
		}
	}
	return ids
}

func idBytes(ids []pcommon.TraceID) []byte {
	var b []byte
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// The owner sends pdata's trace IDs beside the encoded spans: this holds
// only because pdata encodes spans in the order it iterates them.
func TestLayoutFollowsPdataOrder(t *testing.T) {
	for _, lay := range []tracegen.Layout{tracegen.Whole, tracegen.Interleaved} {
		td := tracegen.Batches(tracegen.Spec{Traces: 50, SpansPerTrace: 4, TracesPerBatch: 50, Layout: lay, Seed: 5})[0]
		var mar ptrace.ProtoMarshaler
		b, err := mar.MarshalTraces(td)
		require.NoError(t, err)
		var l layout
		bad, err := l.scan(b, nil)
		require.NoError(t, err)
		assert.Zero(t, bad)
		want := spanOrder(td)
		require.Len(t, l.spans, len(want))
		for i := range want {
			assert.Equal(t, want[i], l.spans[i].id, "span %d", i)
		}
		// With the IDs given, the spans are not read, and the result is the same.
		var l2 layout
		_, err = l2.scan(b, idBytes(want))
		require.NoError(t, err)
		assert.Equal(t, l.spans, l2.spans)
	}
}

// IDs that do not describe the spans (too few, too many) are ignored and
// the spans read instead.
func TestLayoutIgnoresMismatchedIDs(t *testing.T) {
	td := tracegen.Batches(tracegen.Spec{Traces: 10, SpansPerTrace: 3, TracesPerBatch: 10, Seed: 6})[0]
	var mar ptrace.ProtoMarshaler
	b, err := mar.MarshalTraces(td)
	require.NoError(t, err)
	want := spanOrder(td)
	for name, ids := range map[string][]byte{
		"too few":  idBytes(want[:5]),
		"too many": idBytes(append(append([]pcommon.TraceID{}, want...), want[0])),
	} {
		t.Run(name, func(t *testing.T) {
			var l layout
			_, err := l.scan(b, ids)
			require.NoError(t, err)
			require.Len(t, l.spans, len(want))
			for i := range want {
				assert.Equal(t, want[i], l.spans[i].id)
			}
		})
	}
}

// The writer rebuilds a subset of encoded spans as valid OTLP: resources
// and scopes follow their spans, and a limit cuts the output into chunks
// that each decode on their own.
func TestWriterSplitsSpansBack(t *testing.T) {
	td := tracegen.Batches(tracegen.Spec{Traces: 60, SpansPerTrace: 5, TracesPerBatch: 60, Layout: tracegen.Interleaved, Seed: 7})[0]
	var mar ptrace.ProtoMarshaler
	b, err := mar.MarshalTraces(td)
	require.NoError(t, err)
	var l layout
	_, err = l.scan(b, nil)
	require.NoError(t, err)
	src := &encoded{buf: b, hdr: l.hdr, rss: l.rss, sss: l.sss}
	keep := func(id pcommon.TraceID) bool { return id[15]%3 == 0 }
	for _, limit := range []int{0, 2000} {
		w := writer{limit: limit}
		wantSpans := map[pcommon.SpanID]string{} // span → its service
		for _, rs := range td.ResourceSpans().All() {
			svc, _ := rs.Resource().Attributes().Get("service.name")
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if keep(sp.TraceID()) {
						wantSpans[sp.SpanID()] = svc.Str()
					}
				}
			}
		}
		for i, sp := range l.spans {
			if keep(sp.id) {
				w.addID(spanRef{m: src, ss: sp.ss, loc: sp.loc}, l.spans[i].id)
			}
		}
		chunks := w.finishChunks()
		if limit == 0 {
			require.Len(t, chunks, 1)
		} else {
			require.Greater(t, len(chunks), 1, "a limit cuts the output")
		}
		got := map[pcommon.SpanID]string{}
		var u ptrace.ProtoUnmarshaler
		for _, c := range chunks {
			part, err := u.UnmarshalTraces(c.traces)
			require.NoError(t, err)
			assert.Equal(t, idBytes(spanOrder(part)), c.ids, "a chunk's IDs are its spans'")
			for _, rs := range part.ResourceSpans().All() {
				svc, _ := rs.Resource().Attributes().Get("service.name")
				for _, ss := range rs.ScopeSpans().All() {
					assert.Equal(t, "tracegen", ss.Scope().Name())
					for _, sp := range ss.Spans().All() {
						got[sp.SpanID()] = svc.Str()
					}
				}
			}
		}
		assert.Equal(t, wantSpans, got)
	}
}

// materialize leaves out a span replicated twice.
func TestMaterializeKeepsEachSpanOnce(t *testing.T) {
	td := tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 3, TracesPerBatch: 1, Seed: 8})[0]
	var mar ptrace.ProtoMarshaler
	b, err := mar.MarshalTraces(td)
	require.NoError(t, err)
	var l layout
	_, err = l.scan(b, nil)
	require.NoError(t, err)
	src := &encoded{buf: b, hdr: l.hdr, rss: l.rss, sss: l.sss}
	var refs []spanRef
	for range 2 {
		for _, sp := range l.spans {
			refs = append(refs, spanRef{m: src, ss: sp.ss, loc: sp.loc})
		}
	}
	got, err := materialize(refs)
	require.NoError(t, err)
	assert.Equal(t, 3, got.SpanCount())
}

// FuzzReplicaRequest: any bytes a peer may send are refused or taken
// apart without a panic, and what is taken apart rebuilds into OTLP that
// pdata decodes.
func FuzzReplicaRequest(f *testing.F) {
	td := tracegen.Batches(tracegen.Spec{Traces: 3, SpansPerTrace: 2, TracesPerBatch: 3, Seed: 9})[0]
	var mar ptrace.ProtoMarshaler
	b, _ := mar.MarshalTraces(td)
	f.Add(flatten(encodeRequest(&request{from: epA, incarnation: 1, shadow: []wireGroup{{traces: b, ids: idBytes(spanOrder(td))}}})))
	f.Add(flatten(encodeRequest(&request{from: epB, bye: true, ask: spanOrder(td)})))
	f.Add([]byte{0x1a, 0x03, 0x12, 0x01, 0x0a})
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := decodeRequest(raw)
		if err != nil {
			return
		}
		for _, g := range req.shadow {
			var l layout
			if _, err := l.scan(g.traces, g.ids); err != nil {
				continue
			}
			src := &encoded{buf: g.traces, hdr: l.hdr, rss: l.rss, sss: l.sss}
			var refs []spanRef
			for _, sp := range l.spans {
				refs = append(refs, spanRef{m: src, ss: sp.ss, loc: sp.loc})
			}
			_, _ = materialize(refs) // may be refused by pdata, never a panic
		}
	})
}
