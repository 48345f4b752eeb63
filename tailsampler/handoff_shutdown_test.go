package tailsampler

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// TestDrainToDeadPeerImportsBackWithinTheDeadline (in a file that sorts
// after the timing-sensitive handoff tests, which it would slow down): a
// gateway holding 50k
// pending traces, each first seen at its own instant, shuts down while
// the only other gateway is unreachable. Drain retries until half the
// shutdown deadline, then gives every trace back to the buffer (one
// group per distinct first-seen) and the sampler decides them all
// before the deadline. The import used to compare every group with
// every other: ~10⁹ comparisons here.
func TestDrainToDeadPeerImportsBackWithinTheDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("50k traces")
	}
	const traces = 50_000
	f := newFleet(t)
	a := f.startWith(gwA, []string{gwA, gwB}, func(c *Config) {
		c.NumTraces = 2 * traces
		c.DecisionWait = time.Hour // nothing is decided before shutdown
	})
	// Past the fleet's settle delay (200 ms): the view's second rebalance
	// then finds nothing to move, instead of taking B's traces out while
	// they are fed in (feeding 50k traces takes longer than that under
	// -race).
	time.Sleep(500 * time.Millisecond)
	spec := tracegen.Spec{Traces: traces, SpansPerTrace: 1, TracesPerBatch: 1, Seed: 41}
	ctx := context.Background()
	wantSpans := 0
	for i, td := range tracegen.Batches(spec) {
		if kept(tracegen.TraceID(spec.Seed, i)) {
			wantSpans++
		}
		// Straight into the buffer, as if A had owned them all (an agent
		// whose view is A alone); one call per trace: distinct first-seen.
		require.NoError(t, a.p.sampler.ConsumeTraces(ctx, td))
	}
	require.Equal(t, int64(traces), a.p.pendingTotal())

	// Generous: the drain takes half of it retrying the dead peer; the
	// import and the decisions need a few seconds under -race on a loaded
	// machine, the quadratic import needed minutes.
	const deadline = 30 * time.Second
	sctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	began := time.Now()
	require.NoError(t, a.p.Shutdown(sctx))
	took := time.Since(began)
	t.Logf("shutdown giving %d traces back after a failed drain: %v (the drain's half of the deadline: %v)", traces, took.Round(time.Millisecond), deadline/2)
	assert.Less(t, took, deadline)
	// How many traces the drain took out before its half of the deadline
	// depends on the machine's speed; those it took are given back and
	// counted, the rest never left the buffer. Either way each is decided
	// here, once.
	givenBack := a.counter(t, "otelcol_processor_tail_sampling_handoff_failures")
	t.Logf("traces taken by the drain and given back: %d of %d", givenBack, traces)
	assert.Positive(t, givenBack, "the failed drain gives what it took back")
	assert.LessOrEqual(t, givenBack, int64(traces))
	assert.Equal(t, int64(traces), decided(a), "every trace decided here")
	assert.Equal(t, wantSpans, a.sink.SpanCount())
	f.mu.Lock()
	delete(f.gws, gwA)
	f.mu.Unlock()
	// Give the 50k traces' memory back before the next test: under -race
	// the collection of that heap slows the timing-sensitive handoff
	// tests down.
	runtime.GC()
	debug.FreeOSMemory()
}
