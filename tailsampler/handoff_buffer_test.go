package tailsampler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// withRecent turns on the decision rings of a harness (as handoff does).
func withRecent(h *harness, size int) {
	for _, s := range h.p.shards {
		s.mu.Lock()
		s.recent = newDecisionRing(size)
		s.mu.Unlock()
	}
}

func TestTakeNotOwned(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, spansOf(1, 3, true, false))
	h.consume(t, spansOf(2, 2, true, false))
	h.clock.Advance(300 * time.Millisecond)
	h.consume(t, spansOf(3, 1, false, false))
	h.consume(t, spansOf(1, 1, true, true)) // joins trace 1

	got := h.p.TakeNotOwned(func(id pcommon.TraceID) bool { return id == traceID(2) })
	require.Len(t, got, 2)
	byID := map[pcommon.TraceID]int{}
	for _, p := range got {
		byID[p.ID] = p.Spans.SpanCount()
		switch p.ID {
		case traceID(1):
			assert.Equal(t, h.clock.Now().Add(-300*time.Millisecond), p.FirstSeen)
		case traceID(3):
			assert.Equal(t, h.clock.Now(), p.FirstSeen)
		}
	}
	assert.Equal(t, map[pcommon.TraceID]int{traceID(1): 4, traceID(3): 1}, byID)
	assert.Equal(t, 1, h.pending(), "only the owned trace stays")
	assert.Empty(t, h.p.TakeNotOwned(func(id pcommon.TraceID) bool { return id == traceID(2) }), "nothing taken twice")

	// Taken traces are not decided here: no decision is counted for them.
	h.advance(t, time.Second+timerResolution)
	h.waitForwarded(t, 2)
	assert.Equal(t, int64(1), h.p.decided.Load())
	assert.Equal(t, int64(1), total(h.metrics(t), mGlobalSampled))
}

func TestRecentDecisions(t *testing.T) {
	h := newHarness(t, nil)
	withRecent(h, 1024)
	h.consume(t, spansOf(1, 1, true, false))
	h.consume(t, spansOf(2, 1, false, false))
	h.advance(t, time.Second+timerResolution)
	mid := h.clock.Now()
	h.clock.Advance(5 * time.Second)
	h.consume(t, spansOf(3, 1, true, false))
	h.p.ImportDecision(traceID(4), false) // unknown here: remembered too
	h.p.ImportDecision(traceID(5), true)
	h.advance(t, time.Second+timerResolution)

	all := map[pcommon.TraceID]bool{}
	h.p.RecentDecisions(time.Time{}.Add(time.Nanosecond), func(id pcommon.TraceID, s bool) { all[id] = s })
	h.p.RecentDecisions(h.p.base, func(id pcommon.TraceID, s bool) { all[id] = s })
	assert.Equal(t, map[pcommon.TraceID]bool{
		traceID(1): true, traceID(2): false, traceID(3): true, traceID(4): false, traceID(5): true,
	}, all)

	recent := map[pcommon.TraceID]bool{}
	h.p.RecentDecisions(mid.Add(time.Second), func(id pcommon.TraceID, s bool) { recent[id] = s })
	assert.Equal(t, map[pcommon.TraceID]bool{traceID(3): true, traceID(4): false, traceID(5): true}, recent)
}

func TestDecisionRingKeepsTheNewest(t *testing.T) {
	r := newDecisionRing(4)
	for i := 1; i <= 10; i++ {
		r.add(traceID(i), i%2 == 1, int64(i))
	}
	var got []int
	r.each(0, func(id pcommon.TraceID, _ bool) { got = append(got, int(id[15])) })
	assert.Equal(t, []int{10, 9, 8, 7}, got, "newest first, bounded")
	got = got[:0]
	r.each(9, func(id pcommon.TraceID, _ bool) { got = append(got, int(id[15])) })
	assert.Equal(t, []int{10, 9}, got)
	empty := newDecisionRing(4)
	empty.each(0, func(pcommon.TraceID, bool) { t.Fatal("empty ring") })
}

// Spans of a trace that the new owner already buffers (fresh agent spans)
// join it and the earlier first-seen wins: it is decided on the original
// schedule. A later first-seen never postpones a trace.
func TestImportTraceKeepsEarlierFirstSeen(t *testing.T) {
	h := newHarness(t, nil)
	// Span IDs distinct from the imported spans' (a same ID would be a
	// duplicate, left out).
	h.consume(t, renumber(spansOf(1, 1, true, true), 100))
	h.consume(t, renumber(spansOf(2, 1, true, true), 100))
	now := h.clock.Now()
	require.NoError(t, h.p.ImportTrace(context.Background(), spansOf(1, 2, true, false), now.Add(-800*time.Millisecond)))
	require.NoError(t, h.p.ImportTrace(context.Background(), spansOf(2, 2, true, false), now.Add(time.Hour)))
	assert.Equal(t, 2, h.pending())

	h.advance(t, 200*time.Millisecond+timerResolution)
	h.waitForwarded(t, 3) // trace 1: due 1s after its original first span
	assert.Equal(t, 1, h.pending())
	h.advance(t, 800*time.Millisecond)
	h.waitForwarded(t, 6) // trace 2: on its own schedule, not postponed
	assert.Equal(t, int64(2), h.p.decided.Load())
}

// renumber gives td's spans the span IDs base+1, base+2, ...
func renumber(td ptrace.Traces, base int) ptrace.Traces {
	n := base
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				n++
				sp.SetSpanID(pcommon.SpanID{byte(n), byte(n >> 8), 7})
			}
		}
	}
	return td
}

func TestImportLeavesOutSpansAlreadyBuffered(t *testing.T) {
	h := newHarness(t, nil)
	h.consume(t, spansOf(1, 2, true, false))
	// The same two spans again (a promoted replica and the old owner's
	// handoff), one new span, and a duplicate within the import itself.
	again := spansOf(1, 3, true, false)
	dup := again.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
	again.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(2).CopyTo(dup)
	n, err := h.p.ImportTraceDedup(context.Background(), again, h.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	// A trace not buffered here is imported whole.
	n, err = h.p.ImportTraceDedup(context.Background(), spansOf(2, 2, true, false), h.clock.Now())
	require.NoError(t, err)
	assert.Zero(t, n)
	h.advance(t, time.Second+timerResolution)
	h.waitForwarded(t, 5)
}
