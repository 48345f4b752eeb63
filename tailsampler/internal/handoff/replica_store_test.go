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

// storeMessage encodes one trace of three spans for the store.
func storeMessage(t *testing.T, i int) (*encoded, []spanLoc) {
	t.Helper()
	td := tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 3, TracesPerBatch: 1, Seed: uint64(100 + i)})[0]
	var mar ptrace.ProtoMarshaler
	b, err := mar.MarshalTraces(td)
	require.NoError(t, err)
	var l layout
	_, err = l.scan(b, nil)
	require.NoError(t, err)
	return &encoded{buf: b, hdr: l.hdr, rss: l.rss, sss: l.sss}, append([]spanLoc(nil), l.spans...)
}

// TestShadowStoreLifecycle walks one shadow through each of its fates.
func TestShadowStoreLifecycle(t *testing.T) {
	const sec = int64(time.Second)
	tm := timing{decide: 5 * sec, orphanAfter: 6 * sec, keep: 2 * sec}
	mine := func(pcommon.TraceID) bool { return true }
	notMine := func(pcommon.TraceID) bool { return false }
	tests := []struct {
		name string
		// act acts on the store holding one shadow added at t=0 and
		// returns the sweep at the given time.
		act  func(s *shadowStore, owner *life, id pcommon.TraceID) sweepOut
		want func(t *testing.T, out sweepOut, s *shadowStore)
	}{
		{
			name: "dropped by the owner: freed at once",
			act: func(s *shadowStore, _ *life, id pcommon.TraceID) sweepOut {
				assert.Equal(t, 1, s.decide([]pcommon.TraceID{id}, false, false, sec, tm))
				return s.sweep(20*sec+1, tm, mine)
			},
			want: func(t *testing.T, out sweepOut, s *shadowStore) {
				assert.Empty(t, out.ask)
				assert.Zero(t, s.traces.Load())
			},
		},
		{
			name: "kept by the owner: asked about when the grace ends",
			act: func(s *shadowStore, _ *life, id pcommon.TraceID) sweepOut {
				assert.Zero(t, s.decide([]pcommon.TraceID{id}, true, false, sec, tm))
				assert.Empty(t, s.sweep(2*sec+1, tm, mine).ask, "not before the grace")
				return s.sweep(3*sec+1, tm, mine)
			},
			want: func(t *testing.T, out sweepOut, s *shadowStore) {
				require.Len(t, out.ask, 1)
				for _, as := range out.ask {
					assert.True(t, as[0].kept)
				}
				assert.Equal(t, int64(1), s.traces.Load(), "held until the owner answers")
			},
		},
		{
			name: "kept by an owner that said goodbye: freed",
			act: func(s *shadowStore, owner *life, id pcommon.TraceID) sweepOut {
				owner.graceful.Store(true)
				s.decide([]pcommon.TraceID{id}, true, true, sec, tm)
				return s.sweep(3*sec+1, tm, mine)
			},
			want: func(t *testing.T, out sweepOut, s *shadowStore) {
				assert.Empty(t, out.ask)
				assert.Zero(t, s.traces.Load())
			},
		},
		{
			name: "kept by an owner that restarted: exported",
			act: func(s *shadowStore, owner *life, id pcommon.TraceID) sweepOut {
				s.decide([]pcommon.TraceID{id}, true, false, sec, tm)
				owner.ended.Store(true)
				return s.sweep(3*sec+1, tm, mine)
			},
			want: func(t *testing.T, out sweepOut, s *shadowStore) {
				require.Len(t, out.export, 1)
				assert.Len(t, out.export[0].refs, 3)
			},
		},
		{
			name: "undecided, owner dead: promoted when due",
			act: func(s *shadowStore, owner *life, _ pcommon.TraceID) sweepOut {
				owner.leftAt.Store(sec)
				owner.dead.Store(true)
				return s.sweep(5*sec+1, tm, mine)
			},
			want: func(t *testing.T, out sweepOut, _ *shadowStore) {
				require.Len(t, out.promote, 1)
				assert.Equal(t, int64(0), out.promote[0].firstSeen-1, "first seen travels with it")
			},
		},
		{
			name: "undecided, owner left the set: asked when its decision is due",
			act: func(s *shadowStore, owner *life, _ pcommon.TraceID) sweepOut {
				owner.leftAt.Store(sec)
				return s.sweep(5*sec+1, tm, mine)
			},
			want: func(t *testing.T, out sweepOut, _ *shadowStore) {
				assert.Len(t, out.ask, 1)
			},
		},
		{
			name: "undecided, owner in the set: asked after the grace",
			act: func(s *shadowStore, _ *life, _ pcommon.TraceID) sweepOut {
				assert.Empty(t, s.sweep(5*sec+1, tm, mine).ask, "the owner is still deciding")
				return s.sweep(6*sec+1, tm, mine)
			},
			want: func(t *testing.T, out sweepOut, _ *shadowStore) {
				assert.Len(t, out.ask, 1)
			},
		},
		{
			name: "undecided, no longer this gateway's to hold: dropped",
			act: func(s *shadowStore, _ *life, _ pcommon.TraceID) sweepOut {
				s.sweep(5*sec+1, tm, notMine)
				return s.sweep(6*sec+1, tm, notMine)
			},
			want: func(t *testing.T, out sweepOut, s *shadowStore) {
				assert.Equal(t, 1, out.dropped)
				assert.Zero(t, s.traces.Load())
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newShadowStore()
			owner := &life{ep: epA, inc: 1}
			m, spans := storeMessage(t, i)
			traces, n := s.add(owner, m, spans, 1, 1, tm)
			require.Equal(t, 1, traces)
			require.Equal(t, 3, n)
			tt.want(t, tt.act(s, owner, spans[0].id), s)
		})
	}
}

// Spans of a trace that arrive in several messages join one shadow, whose
// first-seen is the earliest.
func TestShadowStoreJoinsMessages(t *testing.T) {
	s := newShadowStore()
	owner := &life{ep: epA, inc: 1}
	m, spans := storeMessage(t, 0)
	tm := timing{decide: 10, orphanAfter: 20, keep: 5}
	s.add(owner, m, spans[:1], 100, 1000, tm)
	s.add(owner, m, spans[1:], 50, 1000, tm)
	assert.Equal(t, int64(1), s.traces.Load())
	assert.Equal(t, int64(3), s.spans.Load())
	got := s.take(owner, []pcommon.TraceID{spans[0].id})
	require.Len(t, got, 1)
	assert.Equal(t, int64(50), got[0].firstSeen)
	assert.Len(t, got[0].refs, 3)
	assert.Empty(t, s.take(&life{ep: epA, inc: 2}, []pcommon.TraceID{spans[0].id}), "another life's take finds nothing")
	assert.Zero(t, s.traces.Load())
}

func TestDueQueueOrder(t *testing.T) {
	var q dueQueue
	for _, at := range []int64{50, 10, 40, 30, 20, 60, 10} {
		q.push(dueItem{at: at})
	}
	var got []int64
	for len(q) > 0 {
		got = append(got, q.pop().at)
	}
	assert.Equal(t, []int64{10, 10, 20, 30, 40, 50, 60}, got)
}
