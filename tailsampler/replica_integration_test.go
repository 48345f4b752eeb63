package tailsampler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// Replication (handoff::replicate) with real processors: every span a
// gateway owns is also held by the trace's successor, which decides the
// trace when the owner dies without a graceful shutdown.

const metricReplica = "otelcol_processor_tail_sampling_replica_"

func replicate(grace time.Duration) func(*Config) {
	return func(c *Config) {
		hc := c.Handoff.Get()
		hc.Replicate = true
		hc.ReplicaGrace = grace
	}
}

// crash stops g as a killed process would: no drain, no goodbye to its
// peers, its listener gone, and nothing it decides from now on reaches the
// backend.
func (f *fleet) crash(g *gateway) {
	g.dead.Store(true)
	f.mu.Lock()
	delete(f.gws, g.ep) // its address stays: a restarted process takes it again
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(f.t, g.p.eng.Shutdown(ctx))     // listener, resolver, replication: gone
	require.NoError(f.t, g.p.sampler.Shutdown(ctx)) // its memory: decided into the void
}

// ownedBy counts the traces of spec whose owner in view is ep.
func ownedBy(spec tracegen.Spec, view []string, ep string) int {
	r := hashring.New(view)
	n := 0
	for i := 0; i < spec.Traces; i++ {
		id := tracegen.TraceID(spec.Seed, i)
		if r.Get(id[:]) == ep {
			n++
		}
	}
	return n
}

// The owner is killed mid-trace and leaves the set: its successors hold
// every span it acknowledged and decide its traces on their original
// schedule, with the spans that keep arriving; every trace is decided
// once, whole.
func TestReplicaOwnerCrashesAndLeaves(t *testing.T) {
	f := newFleet(t)
	three := []string{gwA, gwB, gwC}
	two := []string{gwB, gwC}
	a := f.startWith(gwA, three, replicate(time.Second))
	b := f.startWith(gwB, three, replicate(time.Second))
	c := f.startWith(gwC, three, replicate(time.Second))
	spec, batches := workloadBatches(41, 300, 4)
	t0 := time.Now()
	f.send(three, batches[0])
	f.send(three, batches[1])
	require.Positive(t, a.p.pendingTotal())
	assert.Equal(t, int64(2*spec.Traces), a.counter(t, metricReplica+"spans_received")+b.counter(t, metricReplica+"spans_received")+c.counter(t, metricReplica+"spans_received"),
		"every span acknowledged is held by a successor")

	f.crash(a)
	b.res.Set(two...)
	c.res.Set(two...)
	f.send(two, batches[2])
	f.send(two, batches[3])

	require.Eventually(t, func() bool { return decided(b, c) == int64(spec.Traces) }, 10*time.Second, 5*time.Millisecond,
		"decided %d, pending %d, promoted %d", decided(b, c), pendingOf(b, c), b.counter(t, metricReplica+"promoted")+c.counter(t, metricReplica+"promoted"))
	assert.Less(t, time.Since(t0), itDecisionWait+4*time.Second, "decided about on schedule")
	checkExactlyOnce(t, spec, b, c)
	assert.Equal(t, int64(ownedBy(spec, three, gwA)), b.counter(t, metricReplica+"promoted")+c.counter(t, metricReplica+"promoted"))
	assert.Zero(t, b.counter(t, metricReplica+"orphans")+c.counter(t, metricReplica+"orphans"))
}

// The owner is killed and a new process comes back on the same endpoint
// before anybody notices it was gone (the set never changes): its
// successors hand it back what its previous life held, and it decides each
// trace once, with the spans it received since, on the original schedule.
func TestReplicaOwnerRestartsFasterThanDiscovery(t *testing.T) {
	f := newFleet(t)
	three := []string{gwA, gwB, gwC}
	a := f.startWith(gwA, three, replicate(time.Second))
	b := f.startWith(gwB, three, replicate(time.Second))
	c := f.startWith(gwC, three, replicate(time.Second))
	spec, batches := workloadBatches(42, 300, 4)
	f.send(three, batches[0])
	f.send(three, batches[1])
	f.crash(a)
	a2 := f.startWith(gwA, three, replicate(time.Second))
	f.send(three, batches[2])
	f.send(three, batches[3])

	checkExactlyOnce(t, spec, a2, b, c)
	promoted := b.counter(t, metricReplica+"promoted") + c.counter(t, metricReplica+"promoted")
	assert.Equal(t, int64(ownedBy(spec, three, gwA)), promoted, "every trace of the previous life is handed back")
	assert.Equal(t, int64(ownedBy(spec, three, gwA)), a2.p.decided.Load(), "and decided by the new one, once")
}

// A kept trace leaves its owner through the batch and exporter after the
// owner's decision: if the owner dies within replica_grace of it, its
// successor exports the trace (it may reach the backend twice, never
// zero times). An owner that shuts down gracefully says so, and nothing is
// exported twice.
func TestReplicaKeptTracesOfACrashedOwnerAreExported(t *testing.T) {
	for _, graceful := range []bool{false, true} {
		name := "crash"
		if graceful {
			name = "graceful"
		}
		t.Run(name, func(t *testing.T) {
			f := newFleet(t)
			two := []string{gwA, gwB}
			a := f.startWith(gwA, two, replicate(5*time.Second))
			b := f.startWith(gwB, two, replicate(5*time.Second))
			spec, batches := workloadBatches(43, 200, 2)
			f.send(two, batches[0])
			f.send(two, batches[1])
			require.Eventually(t, func() bool { return decided(a, b) == int64(spec.Traces) }, 10*time.Second, 5*time.Millisecond)
			keptOfA := 0
			r := hashring.New(two)
			for i := 0; i < spec.Traces; i++ {
				id := tracegen.TraceID(spec.Seed, i)
				if r.Get(id[:]) == gwA && kept(id) {
					keptOfA++
				}
			}
			require.Positive(t, keptOfA)
			// B holds the kept ones for the grace (the owner's decisions
			// reach it within the poll interval); the dropped ones are freed.
			require.Eventually(t, func() bool {
				return b.counter(t, metricReplica+"shadows") == int64(keptOfA)
			}, 5*time.Second, 5*time.Millisecond)
			if graceful {
				a.res.Set(gwB) // removed from the set, it says goodbye
				f.stop(a)
			} else {
				f.crash(a)
			}
			b.res.Set(gwB)
			if graceful {
				require.Eventually(t, func() bool { return b.counter(t, metricReplica+"shadows") == 0 }, 5*time.Second, 5*time.Millisecond)
				assert.Zero(t, b.counter(t, metricReplica+"exported"))
				return
			}
			require.Eventually(t, func() bool {
				return b.counter(t, metricReplica+"exported") == int64(keptOfA)
			}, 10*time.Second, 10*time.Millisecond)
			assert.Equal(t, int64(keptOfA), b.counter(t, metricReplica+"duplicates_possible"))
		})
	}
}

// Replication costs nothing in the steady state beyond the copies: every
// trace is decided once by its owner, the successors free every shadow,
// and no span reaches the backend twice.
func TestReplicaSteadyStateFreesEveryShadow(t *testing.T) {
	f := newFleet(t)
	three := []string{gwA, gwB, gwC}
	a := f.startWith(gwA, three, replicate(200*time.Millisecond))
	b := f.startWith(gwB, three, replicate(200*time.Millisecond))
	c := f.startWith(gwC, three, replicate(200*time.Millisecond))
	spec, batches := workloadBatches(44, 300, 4)
	for _, td := range batches {
		f.send(three, td)
	}
	checkExactlyOnce(t, spec, a, b, c)
	require.Eventually(t, func() bool {
		return a.counter(t, metricReplica+"shadows")+b.counter(t, metricReplica+"shadows")+c.counter(t, metricReplica+"shadows") == 0
	}, 5*time.Second, 10*time.Millisecond)
	gws := []*gateway{a, b, c}
	var freed, received, sent int64
	for _, g := range gws {
		freed += g.counter(t, metricReplica+"freed")
		received += g.counter(t, metricReplica+"spans_received")
		sent += g.counter(t, metricReplica+"spans_sent")
		assert.Zero(t, g.counter(t, metricReplica+"promoted"))
		assert.Zero(t, g.counter(t, metricReplica+"orphans"))
		assert.Zero(t, g.counter(t, metricReplica+"failures"))
	}
	assert.Equal(t, int64(spec.Traces), freed, "every shadow freed by its owner's decision")
	assert.Equal(t, int64(spec.Traces*spec.SpansPerTrace), received)
	assert.Equal(t, received, sent)
}
