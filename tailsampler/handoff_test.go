package tailsampler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExtractAndImportTrace(t *testing.T) {
	from := newHarness(t, nil)
	to := newHarness(t, nil)

	from.consume(t, spansOf(1, 3, true, false))
	from.clock.Advance(400 * time.Millisecond)
	td, firstSeen, ok := from.p.extract(traceID(1))
	require.True(t, ok)
	assert.Equal(t, 3, td.SpanCount())
	assert.Equal(t, from.clock.Now().Add(-400*time.Millisecond), firstSeen)
	assert.Equal(t, 0, from.pending())
	_, _, ok = from.p.extract(traceID(1))
	assert.False(t, ok, "extracted traces are gone")
	// Spans are copied whole: resource attributes travel with them.
	v, _ := td.ResourceSpans().At(0).Resource().Attributes().Get("service.name")
	assert.Equal(t, "svc", v.Str())

	// The new owner decides at the original deadline, not a fresh one.
	_, err := to.p.importTrace(context.Background(), td, to.clock.Now().Add(-400*time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, 1, to.pending())
	to.clock.Advance(500 * time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, 0, to.sink.SpanCount())
	to.advance(t, 100*time.Millisecond+timerResolution)
	to.waitForwarded(t, 3)

	// Importing with a first-seen time already past decision_wait decides at once.
	from.consume(t, spansOf(2, 2, true, false))
	td, _, ok = from.p.extract(traceID(2))
	require.True(t, ok)
	_, err = to.p.importTrace(context.Background(), td, to.clock.Now().Add(-time.Hour))
	require.NoError(t, err)
	to.waitForwarded(t, 5)
}

func TestImportDecision(t *testing.T) {
	h := newHarness(t, nil)
	// A kept decision keeps a pending trace at once, whatever its policies
	// would say.
	h.consume(t, spansOf(1, 2, false, false))
	h.p.importDecision(traceID(1), true)
	assert.Equal(t, 0, h.pending())
	h.waitForwarded(t, 2)
	// A not-sampled decision leaves pending spans to their own decision:
	// the peer never saw them.
	h.consume(t, spansOf(2, 2, true, false))
	h.consume(t, spansOf(5, 2, false, false))
	h.p.importDecision(traceID(2), false)
	h.p.importDecision(traceID(5), false)
	assert.Equal(t, 2, h.pending())
	h.advance(t, time.Second+timerResolution)
	h.waitForwarded(t, 4)

	// Unknown traces: the decision waits in the cache for later spans.
	h.p.importDecision(traceID(3), true)
	h.p.importDecision(traceID(4), false)
	h.consume(t, spansOf(3, 1, false, true))
	h.consume(t, spansOf(4, 1, false, true))
	assert.Equal(t, 0, h.pending())
	h.waitForwarded(t, 5)

	// A sampled import overrides an earlier not-sampled decision.
	h.p.importDecision(traceID(4), true)
	h.consume(t, spansOf(4, 1, false, true))
	h.waitForwarded(t, 6)
}
