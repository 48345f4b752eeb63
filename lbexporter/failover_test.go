package lbexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// markedSpans sums the spans an endpoint received with and without the
// failover mark.
func markedSpans(env *testEnv, ep string) (marked, plain int) {
	s := env.sinks.get(ep)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, td := range s.traces {
		if s.marked[i] {
			marked += td.SpanCount()
		} else {
			plain += td.SpanCount()
		}
	}
	return marked, plain
}

// With buffers, an endpoint that fails max_consecutive_failures attempts in
// a row becomes unhealthy: what waits in its buffer, and what its senders
// hold, moves to each key's next ring choice, sent with the failover mark
// so that the gateway there keeps it; new data for its keys goes there
// too, until a probe finds it healthy again and affinity returns.
func TestBufferedFailoverMovesBacklogWithMark(t *testing.T) {
	eps := endpoints(3)
	env := newTestEnv(eps...)
	cfg := testConfig(func(c *Config) {
		c.Failover = FailoverConfig{Enabled: true, MaxConsecutiveFailures: 3, ProbeInterval: 150 * time.Millisecond}
		c.Protocol.OTLP.RetryConfig.InitialInterval = 5 * time.Millisecond
		c.Protocol.OTLP.RetryConfig.MaxInterval = 5 * time.Millisecond
	})
	l := newMemTraces(t, env, cfg)
	bad := eps[1]
	env.sinks.get(bad).setFail(errSinkDown)
	ring := hashring.New(eps)
	var all []ptrace.Traces
	batch := func(seed uint64) ptrace.Traces {
		td := tracegen.Batches(tracegen.Spec{Traces: 50, SpansPerTrace: 2, Seed: seed})[0]
		cp := ptrace.NewTraces()
		td.CopyTo(cp)
		all = append(all, cp)
		return td
	}
	for i := range 5 {
		require.NoError(t, l.push(context.Background(), batch(uint64(i))))
	}
	flush(t, l)
	assert.EqualValues(t, 1, counterValue(t, env.reader, "otelcol_loadbalancer_failovers", "endpoint", bad))
	wantMoved := 0
	for _, td := range all {
		wantMoved += spansOwnedBy(td, ring, bad)
	}
	require.Positive(t, wantMoved)
	// The mark is per request: a successor's own spans may share a marked
	// request, but every span that moved is in one.
	movedMarked := 0
	for _, ep := range eps {
		if ep == bad {
			continue
		}
		s := env.sinks.get(ep)
		s.mu.Lock()
		for i, td := range s.traces {
			n := spansOwnedBy(td, ring, bad)
			if n > 0 {
				assert.True(t, s.marked[i], "failed-over spans sent without the mark")
			}
			movedMarked += n
		}
		s.mu.Unlock()
	}
	assert.Equal(t, wantMoved, movedMarked, "every span of the unhealthy endpoint moved")
	// Each moved span went to its trace's next ring choice.
	owners := spanOwners(t, env.sinks.spansByEndpoint())
	for _, td := range all {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					tid := sp.TraceID()
					if ring.Get(tid[:]) != bad {
						assert.Equal(t, ring.Get(tid[:]), owners[sp.SpanID()])
						continue
					}
					next := ring.Endpoint(ring.IndexWhere(tid[:], func(i int) bool { return ring.Endpoint(i) != bad }))
					assert.Equal(t, next, owners[sp.SpanID()])
				}
			}
		}
	}
	assert.Positive(t, counterValue(t, env.reader, "otelcol_loadbalancer_rerouted_items", "reason", reasonEndpointUnhealthy))

	// Recovery: a probe gets through, the endpoint owns its keys again,
	// and what it receives then is not marked.
	env.sinks.get(bad).setFail(nil)
	require.Eventually(t, func() bool {
		pushFlush(t, l, tracegen.Batches(tracegen.Spec{Traces: 20, SpansPerTrace: 1, Seed: 99})[0])
		return counterValue(t, env.reader, "otelcol_loadbalancer_unhealthy_backends") == 0
	}, 10*time.Second, 50*time.Millisecond)
	td := tracegen.Batches(tracegen.Spec{Traces: 50, SpansPerTrace: 2, Seed: 100})[0]
	want := spansOwnedBy(td, ring, bad)
	_, before := markedSpans(env, bad)
	pushFlush(t, l, td)
	_, after := markedSpans(env, bad)
	assert.Equal(t, want, after-before, "affinity restored, unmarked")
}
