package handoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// Replication between real engines on loopback, with in-memory buffers:
// A owns the traces, B is their successor (a ring of two).

const (
	rDecisionWait = 300 * time.Millisecond
	rGrace        = 300 * time.Millisecond
)

func replicaPair(t *testing.T) (a, b *node, owned map[pcommon.TraceID]ptrace.Traces) {
	t.Helper()
	c := newCluster(t)
	ring := []string{epA, epB}
	o := nodeOpt{replicate: true, grace: rGrace, decisionWait: rDecisionWait}
	c.reserve(epA)
	c.reserve(epB)
	a = c.add(epA, ring, o)
	b = c.add(epB, ring, o)
	v := a.e.cur.Load()
	owned = map[pcommon.TraceID]ptrace.Traces{}
	for id, td := range workload(21, 40, 3) {
		if v.owns(id) {
			owned[id] = td
		}
	}
	require.NotEmpty(t, owned)
	return a, b, owned
}

// replicateAll has A buffer and replicate its traces, and waits for B's
// acknowledgements.
func replicateAll(t *testing.T, a *node, owned map[pcommon.TraceID]ptrace.Traces) int {
	t.Helper()
	spans := 0
	for _, td := range owned {
		spans += td.SpanCount()
		cp := ptrace.NewTraces()
		td.CopyTo(cp)
		r := a.e.Replicate(cp)
		require.NotNil(t, r)
		a.buf.add(cp, time.Now())
		r.Wait(context.Background())
	}
	return spans
}

func TestReplicaHeldUntilDecided(t *testing.T) {
	a, b, owned := replicaPair(t)
	spans := replicateAll(t, a, owned)
	assert.Equal(t, int64(spans), b.replica(t, "spans_received"))
	assert.Equal(t, int64(len(owned)), b.replica(t, "shadows"))
	assert.Equal(t, int64(spans), a.replica(t, "spans_sent"))

	// A decides: dropped ones are freed at once, kept ones after the grace
	// (A answers that it is alive).
	now := time.Now()
	kept := 0
	for id := range owned {
		a.buf.decide(id, kept%2 == 0, now)
		kept++
	}
	require.Eventually(t, func() bool { return b.replica(t, "shadows") == int64((len(owned)+1)/2) }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, int64(len(owned)/2), b.replica(t, "freed", attribute.String("reason", "not_sampled")))
	require.Eventually(t, func() bool { return b.replica(t, "shadows") == 0 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64((len(owned)+1)/2), b.replica(t, "freed", attribute.String("reason", "sampled")))
	assert.Zero(t, b.replica(t, "exported"))
	assert.Zero(t, b.replica(t, "promoted"))
	b.buf.mu.Lock()
	defer b.buf.mu.Unlock()
	assert.Len(t, b.buf.remembered, len(owned), "the successor remembers the owner's decisions")
}

// A decision that never reached the successor: after decision_wait plus
// the grace it asks the owner, which answers with what it decided, or
// that it does not know the trace (lost it): then it gets it back.
func TestReplicaAsksTheOwnerWhenNoDecisionCame(t *testing.T) {
	a, b, owned := replicaPair(t)
	replicateAll(t, a, owned)
	var lost pcommon.TraceID
	a.buf.mu.Lock()
	for id := range owned {
		if lost.IsEmpty() {
			lost = id // A lost it: no longer pending, never decided
			delete(a.buf.pending, id)
			continue
		}
		// Decided, but the decision is never sent (not in RecentDecisions).
		delete(a.buf.pending, id)
		a.buf.remembered[id] = true
	}
	a.buf.mu.Unlock()

	require.Eventually(t, func() bool {
		return b.replica(t, "freed", attribute.String("reason", "sampled")) == int64(len(owned)-1)
	}, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return b.replica(t, "orphans") == 1 }, 5*time.Second, 10*time.Millisecond, "the lost trace is handed back")
	require.Eventually(t, func() bool { _, ok := a.buf.snapshot()[lost]; return ok }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, owned[lost].SpanCount(), a.buf.snapshot()[lost].spans)
	// Pending at A again, so held by B again, until A decides it.
	require.Eventually(t, func() bool { return b.replica(t, "shadows") == 1 }, 5*time.Second, 10*time.Millisecond)
}

// The owner restarts on the same endpoint (a new incarnation) before the
// set changes: the successor gives its previous life's traces to it.
func TestReplicaOwnerRestartGetsItsTracesBack(t *testing.T) {
	c := newCluster(t)
	ring := []string{epA, epB}
	o := nodeOpt{replicate: true, grace: rGrace, decisionWait: 10 * time.Second}
	c.reserve(epA)
	c.reserve(epB)
	a := c.add(epA, ring, o)
	b := c.add(epB, ring, o)
	owned := map[pcommon.TraceID]ptrace.Traces{}
	v := a.e.cur.Load()
	for id, td := range workload(22, 40, 3) {
		if v.owns(id) {
			owned[id] = td
		}
	}
	replicateAll(t, a, owned)

	// A dies without a word; a new process starts as A.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, a.e.Shutdown(ctx))
	c.mu.Lock()
	delete(c.addrs, epA)
	c.mu.Unlock()
	a2 := c.add(epA, ring, o)

	require.Eventually(t, func() bool { return len(a2.buf.snapshot()) == len(owned) }, 5*time.Second, 10*time.Millisecond)
	for id, info := range a2.buf.snapshot() {
		assert.Equal(t, owned[id].SpanCount(), info.spans)
	}
	assert.Equal(t, int64(len(owned)), b.replica(t, "promoted", attribute.String("reason", PromotedOwnerRestarted)))
}

// An owner removed from the set that still answers is leaving gracefully:
// nothing is promoted, and its goodbye frees what it replicated.
func TestReplicaLeavingOwnerSaysGoodbye(t *testing.T) {
	a, b, owned := replicaPair(t)
	replicateAll(t, a, owned)
	b.res.Set(epB)
	a.res.Set(epB)
	require.Eventually(t, func() bool { return b.replica(t, "shadows") == 0 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(len(owned)), b.replica(t, "freed", attribute.String("reason", "bye")))
	assert.Zero(t, b.replica(t, "promoted"))
}

// An owner removed from the set that does not answer is dead: its
// traces are promoted at once, to the successor's buffer, with their
// first-seen time.
func TestReplicaDeadOwnerIsPromotedAtOnce(t *testing.T) {
	a, b, owned := replicaPair(t)
	replicateAll(t, a, owned)
	first := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, a.e.Shutdown(ctx)) // no Drain: no goodbye
	b.res.Set(epB)
	require.Eventually(t, func() bool { return len(b.buf.snapshot()) == len(owned) }, 5*time.Second, 10*time.Millisecond)
	for id, info := range b.buf.snapshot() {
		assert.Equal(t, owned[id].SpanCount(), info.spans)
		assert.LessOrEqual(t, info.firstSeen, first.UnixNano(), "the original first-seen")
	}
	assert.Equal(t, int64(len(owned)), b.replica(t, "promoted", attribute.String("reason", PromotedOwnerLeft)))
	assert.Zero(t, b.replica(t, "shadows"))
}

// A keep decision from an owner that was leaving, for a trace the
// successor had promoted already: only the spans the owner did not have
// are exported here.
func TestReplicaLateKeepExportsOnlyNewSpans(t *testing.T) {
	a, b, owned := replicaPair(t)
	replicateAll(t, a, owned)
	var id pcommon.TraceID
	for k := range owned {
		id = k
		break
	}
	rep := b.e.rep
	rep.mu.Lock()
	owner := rep.lives[epA]
	rep.mu.Unlock()
	require.NotNil(t, owner)
	// B no longer sees A (A does not know yet, and still answers, so B
	// promotes nothing by itself): B promotes this one trace, as it would
	// had A not answered.
	b.res.Set(epB)
	require.Eventually(t, func() bool { return owner.left() }, 5*time.Second, 5*time.Millisecond)
	ts := rep.store.take(owner, []pcommon.TraceID{id})
	require.Len(t, ts, 1)
	rep.promote(ts, PromotedOwnerLeft)
	require.Eventually(t, func() bool { _, ok := b.buf.snapshot()[id]; return ok }, 5*time.Second, 5*time.Millisecond)
	// A span only B got, as agents send to the new owner.
	extra := ptrace.NewTraces()
	owned[id].CopyTo(extra)
	extra.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetSpanID(pcommon.SpanID{9, 9, 9})
	extra.ResourceSpans().At(0).ScopeSpans().At(0).Spans().RemoveIf(func(sp ptrace.Span) bool { return sp.SpanID() != pcommon.SpanID{9, 9, 9} })
	b.buf.add(extra, time.Now())

	assert.True(t, rep.ownerKept(owner, id))
	b.buf.mu.Lock()
	defer b.buf.mu.Unlock()
	assert.Equal(t, 1, b.buf.exported.SpanCount(), "only the span the owner never had")
}

// The replica method of the handoff listener verifies its senders and
// applies the per-request limits as the OTLP handler does; an owner keeps
// its requests within the limits (split by spans and by decisions).
func TestReplicaPushIsVerifiedAndWithinLimits(t *testing.T) {
	c := newCluster(t)
	ring := []string{epA, epB}
	o := nodeOpt{replicate: true, grace: rGrace, decisionWait: rDecisionWait,
		modify: func(cfg *Config) { cfg.MaxSpansPerRequest = 10 }}
	c.reserve(epA)
	c.reserve(epB)
	a := c.add(epA, ring, o)
	b := c.add(epB, ring, o)
	v := a.e.cur.Load()
	all := ptrace.NewTraces()
	var ids []pcommon.TraceID
	for id, td := range workload(22, 40, 3) {
		if v.owns(id) {
			ids = append(ids, id)
			td.ResourceSpans().MoveAndAppendTo(all.ResourceSpans())
		}
	}
	require.Greater(t, len(ids), 10)
	spans := all.SpanCount()
	r := a.e.Replicate(all)
	require.NotNil(t, r)
	a.buf.add(all, time.Now())
	r.Wait(context.Background())
	assert.Equal(t, int64(spans), b.replica(t, "spans_received"), "split into requests of at most 10 spans")
	now := time.Now()
	for _, id := range ids {
		a.buf.decide(id, false, now)
	}
	require.Eventually(t, func() bool { return b.replica(t, "shadows") == 0 }, 5*time.Second, 5*time.Millisecond,
		"decisions split into requests of at most 10")
	assert.Zero(t, refusedCount(t, b, RefusedTooManySpans))

	push := func(source string, req *request) error {
		conn := newRogue(t, b.e.Addr().String(), source, nil).conn
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var raw []byte
		return conn.Invoke(ctx, replicaMethod, encodeRequest(req), &raw, callRaw)
	}
	var m ptrace.ProtoMarshaler
	one := tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 1, Seed: 5})[0]
	small, err := m.MarshalTraces(one)
	require.NoError(t, err)
	shadow := []wireGroup{{traces: small}}
	before := b.replica(t, "spans_received")

	err = push("127.0.0.66", &request{from: epA, incarnation: 1, shadow: shadow})
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	assert.Equal(t, int64(1), refusedCount(t, b, RefusedNotPeer))

	big := tracegen.Batches(tracegen.Spec{Traces: 4, SpansPerTrace: 3, Seed: 6})[0]
	bigRaw, err := m.MarshalTraces(big)
	require.NoError(t, err)
	err = push(endpointHost(epA), &request{from: epA, incarnation: 1, shadow: []wireGroup{{traces: bigRaw}}})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	assert.Equal(t, int64(1), refusedCount(t, b, RefusedTooManySpans))

	err = push(endpointHost(epA), &request{from: epA, incarnation: 1, shadow: []wireGroup{{traces: []byte{0x0a, 0x7f}}}})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	assert.Equal(t, int64(1), refusedCount(t, b, RefusedMalformed))

	assert.Equal(t, before, b.replica(t, "spans_received"), "nothing of a refused request is held")
	assert.Zero(t, b.replica(t, "shadows"))
}

func TestSplitIDs(t *testing.T) {
	id := func(i int) pcommon.TraceID { return pcommon.TraceID{byte(i)} }
	a := []pcommon.TraceID{id(1), id(2), id(3)}
	b := []pcommon.TraceID{id(4), id(5)}
	var got [][2]int
	for x, y := range splitIDs(a, b, 2) {
		got = append(got, [2]int{len(x), len(y)})
	}
	assert.Equal(t, [][2]int{{2, 0}, {1, 1}, {0, 1}}, got)
	for range splitIDs(nil, nil, 2) {
		t.Fatal("nothing to split")
	}
}
