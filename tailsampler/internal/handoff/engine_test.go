package handoff

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/resolver"
)

const (
	epA = "127.0.0.2:4317"
	epB = "127.0.0.3:4317"
	epC = "127.0.0.4:4317"
)

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fill gives every trace of w to the node that owns it under ring, with a
// distinct first-seen time per trace, and returns what each node holds.
func fill(w map[pcommon.TraceID]ptrace.Traces, ring []string, nodes map[string]*node) map[pcommon.TraceID]traceInfo {
	r := hashring.New(ring)
	want := map[pcommon.TraceID]traceInfo{}
	i := 0
	for id, td := range w {
		fs := base.Add(time.Duration(i)*time.Millisecond + 7)
		i++
		cp := ptrace.NewTraces()
		td.CopyTo(cp)
		nodes[r.Get(id[:])].buf.add(cp, fs)
		want[id] = traceInfo{spans: td.SpanCount(), firstSeen: fs.UnixNano()}
	}
	return want
}

func expect(all map[pcommon.TraceID]traceInfo, ring []string, ep string) map[pcommon.TraceID]traceInfo {
	r := hashring.New(ring)
	out := map[pcommon.TraceID]traceInfo{}
	for id, ti := range all {
		if r.Get(id[:]) == ep {
			out[id] = ti
		}
	}
	return out
}

func TestScaleUpHandsOffExactlyTheNotOwnedTraces(t *testing.T) {
	c := newCluster(t)
	two := []string{epA, epB}
	three := []string{epA, epB, epC}
	a := c.add(epA, two, nodeOpt{})
	b := c.add(epB, two, nodeOpt{})
	cc := c.add(epC, three, nodeOpt{})
	all := fill(workload(1, 400, 4), two, map[string]*node{epA: a, epB: b})
	require.NotEmpty(t, expect(all, three, epC))

	a.res.Set(three...)
	b.res.Set(three...)

	for _, n := range []*node{a, b, cc} {
		want := expect(all, three, n.ep)
		require.Eventually(t, func() bool { return len(n.buf.snapshot()) == len(want) }, 10*time.Second, 10*time.Millisecond, n.ep)
		assert.Equal(t, want, n.buf.snapshot(), "%s holds exactly what it owns, first-seen preserved", n.ep)
		assert.Zero(t, n.buf.markers, "markers stripped before import")
	}
	moved := int64(len(expect(all, three, epC)))
	sumEventually(t, moved, "traces_sent", a, b)
	sumEventually(t, 4*moved, "spans_sent", a, b)
	sumEventually(t, moved, "traces_received", cc)
	sumEventually(t, 4*moved, "spans_received", cc)
	assert.Zero(t, a.counter(t, "failures")+b.counter(t, "failures"))
	assert.Zero(t, cc.counter(t, "malformed"))
	r3 := hashring.New(three)
	for _, n := range []*node{a, b, cc} {
		for id := range all {
			assert.Equal(t, r3.Get(id[:]) == n.ep, n.e.Owns(id))
		}
	}
}

func TestHandedOffSpansKeepResourceAndScope(t *testing.T) {
	c := newCluster(t)
	a := c.add(epA, []string{epA}, nodeOpt{})
	b := c.add(epB, []string{epA, epB}, nodeOpt{})
	w := workload(2, 60, 3)
	var id pcommon.TraceID
	r := hashring.New([]string{epA, epB})
	for tid := range w {
		if r.Get(tid[:]) == epB {
			id = tid
			break
		}
	}
	orig := ptrace.NewTraces()
	w[id].CopyTo(orig)
	a.buf.add(w[id], base)
	a.res.Set(epA, epB)
	require.Eventually(t, func() bool { return len(b.buf.snapshot()) == 1 }, 10*time.Second, 10*time.Millisecond)
	b.buf.mu.Lock()
	got := b.buf.pending[id].spans
	b.buf.mu.Unlock()
	assert.Equal(t, orig, got)
}

func TestDecisionsForwardedWithinWindow(t *testing.T) {
	c := newCluster(t)
	window := time.Minute
	a := c.add(epA, []string{epA}, nodeOpt{window: window})
	b := c.add(epB, []string{epA, epB}, nodeOpt{window: window})
	r := hashring.New([]string{epA, epB})
	want := map[pcommon.TraceID]bool{}
	for i, id := range ids(workload(3, 300, 1)) {
		sampled := i%3 == 0
		at := time.Now()
		if i%4 == 0 {
			at = at.Add(-2 * window) // too old to matter
		}
		a.buf.decide(id, sampled, at)
		if i%4 != 0 && r.Get(id[:]) == epB {
			want[id] = sampled
		}
	}
	require.NotEmpty(t, want)
	a.res.Set(epA, epB)
	require.Eventually(t, func() bool { return len(b.buf.decisions()) == len(want) }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, want, b.buf.decisions())
	sumEventually(t, int64(len(want)), "decisions_sent", a)
	sumEventually(t, int64(len(want)), "decisions_received", b)
	assert.Empty(t, b.buf.snapshot(), "decisions are not data")
}

func ids(w map[pcommon.TraceID]ptrace.Traces) []pcommon.TraceID {
	out := make([]pcommon.TraceID, 0, len(w))
	for id := range w {
		out = append(out, id)
	}
	return out
}

const epD = "127.0.0.5:4317"

// TestStaleRoutingForwardsOnceNeverLoops gives four gateways views that
// disagree so that each thinks the next one owns the traces: A → B → C →
// D. (A cycle cannot be built: the ring ranks endpoints per key, so every
// hop goes to a better-ranked gateway.) Spans an agent sends to A travel
// hop_limit hops and stop there, buffered exactly once.
func TestStaleRoutingForwardsOnceNeverLoops(t *testing.T) {
	views := [][]string{{epA, epB}, {epB, epC}, {epC, epD}, {epD}}
	rings := []*hashring.Ring{hashring.New(views[0]), hashring.New(views[1]), hashring.New(views[2])}
	w := workload(4, 2000, 2)
	chain := ptrace.NewTraces()
	n := 0
	for id, td := range w {
		if rings[0].Get(id[:]) == epB && rings[1].Get(id[:]) == epC && rings[2].Get(id[:]) == epD {
			td.ResourceSpans().MoveAndAppendTo(chain.ResourceSpans())
			n++
		}
	}
	require.Positive(t, n)
	spans := int64(chain.SpanCount())
	for _, tt := range []struct {
		name      string
		hopLimit  int
		forwarded [4]int64 // spans forwarded by A, B, C, D
		keeper    int      // who ends up buffering them
	}{
		{"hop_limit=1", 1, [4]int64{spans, 0, 0, 0}, 1},
		{"hop_limit=2", 2, [4]int64{spans, spans, 0, 0}, 2},
		{"hop_limit=3", 3, [4]int64{spans, spans, spans, 0}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t)
			// The views disagree for good: B never learns of A, so B
			// accepts A's forwards only with accept_from: any.
			o := nodeOpt{hopLimit: tt.hopLimit, acceptFrom: AcceptAny}
			var nodes []*node
			for i, ep := range []string{epA, epB, epC, epD} {
				nodes = append(nodes, c.add(ep, views[i], o))
			}
			in := ptrace.NewTraces()
			chain.CopyTo(in)
			in.MarkReadOnly()
			kept := nodes[0].e.Route(in)
			assert.Zero(t, kept.SpanCount(), "A owns none of them")
			keeper := nodes[tt.keeper]
			require.Eventually(t, func() bool { return len(keeper.buf.snapshot()) == n }, 10*time.Second, 10*time.Millisecond)
			// Give further hops the time to show themselves.
			time.Sleep(200 * time.Millisecond)
			for i, nd := range nodes {
				sumEventually(t, tt.forwarded[i], "spans_forwarded", nd)
				if i != tt.keeper {
					assert.Empty(t, nd.buf.snapshot(), nd.ep)
				}
			}
			assert.Equal(t, int(spans), sumSpans(keeper.buf.snapshot()), "each span buffered once")
			assert.Zero(t, keeper.buf.markers)
		})
	}
}

func sumSpans(m map[pcommon.TraceID]traceInfo) int {
	s := 0
	for _, ti := range m {
		s += ti.spans
	}
	return s
}

func TestRouteKeepsOwnedSpans(t *testing.T) {
	c := newCluster(t)
	view := []string{epA, epB}
	a := c.add(epA, view, nodeOpt{})
	b := c.add(epB, view, nodeOpt{})
	w := workload(5, 200, 3)
	in := ptrace.NewTraces()
	ownedA := 0
	r := hashring.New(view)
	for id, td := range w {
		if r.Get(id[:]) == epA {
			ownedA += td.SpanCount()
		}
		td.ResourceSpans().MoveAndAppendTo(in.ResourceSpans())
	}
	total := in.SpanCount()
	kept := a.e.Route(in)
	assert.Equal(t, total, in.SpanCount(), "input untouched")
	assert.Equal(t, ownedA, kept.SpanCount())
	for id := range byTrace(kept) {
		assert.True(t, a.e.Owns(id))
	}
	require.Eventually(t, func() bool { return sumSpans(b.buf.snapshot()) == total-ownedA }, 10*time.Second, 10*time.Millisecond)
	sumEventually(t, int64(total-ownedA), "spans_forwarded", a)
	sumEventually(t, int64(total-ownedA), "spans_received", b)
}

func TestPeerDownImportsBackLocally(t *testing.T) {
	c := newCluster(t)
	a := c.add(epA, []string{epA}, nodeOpt{window: 300 * time.Millisecond})
	all := fill(workload(6, 200, 2), []string{epA}, map[string]*node{epA: a})
	toB := expect(all, []string{epA, epB}, epB)
	require.NotEmpty(t, toB)
	decided := ids(workload(7, 1, 1))[0]
	a.buf.decide(decided, true, time.Now())
	undelivered := int64(0)
	if hashring.New([]string{epA, epB}).Get(decided[:]) == epB {
		undelivered = 1
	}

	a.res.Set(epA, epB) // B never started: its address refuses connections
	require.Eventually(t, func() bool {
		return a.counter(t, "failures", attribute.String("reason", ReasonUnreachable)) == int64(len(toB))
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, all, a.buf.snapshot(), "every trace is back, first-seen preserved")
	assert.Zero(t, a.counter(t, "traces_sent"))
	assert.Zero(t, a.buf.markers)
	assert.Equal(t, undelivered, a.counter(t, "decisions_undelivered"))
}

func TestDrainHandsEverythingToTheRemainingGateways(t *testing.T) {
	c := newCluster(t)
	view := []string{epA, epB, epC}
	a := c.add(epA, view, nodeOpt{})
	b := c.add(epB, view, nodeOpt{})
	cc := c.add(epC, view, nodeOpt{})
	all := fill(workload(8, 300, 2), view, map[string]*node{epA: a, epB: b, epC: cc})
	fromA := expect(all, view, epA)
	require.NotEmpty(t, fromA)
	decided := ids(workload(9, 50, 1))
	for _, id := range decided {
		a.buf.decide(id, true, time.Now())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.e.Drain(ctx))

	assert.Empty(t, a.buf.snapshot())
	rest := []string{epB, epC}
	for _, n := range []*node{b, cc} {
		want := expect(all, view, n.ep)
		for id, ti := range expect(fromA, rest, n.ep) {
			want[id] = ti
		}
		assert.Equal(t, want, n.buf.snapshot(), n.ep)
	}
	assert.Equal(t, len(decided), len(b.buf.decisions())+len(cc.buf.decisions()))
	sumEventually(t, int64(len(fromA)), "traces_sent", a)
	for id := range all {
		assert.False(t, a.e.Owns(id), "a draining gateway owns nothing while others exist")
	}
}

func TestDrainWithPeerDownGivesTracesBack(t *testing.T) {
	c := newCluster(t)
	a := c.add(epA, []string{epA, epB}, nodeOpt{})
	all := fill(workload(10, 100, 2), []string{epA, epB}, map[string]*node{epA: a, epB: {buf: newFakeBuffer()}})
	held := expect(all, []string{epA, epB}, epA)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := a.e.Drain(ctx)
	require.ErrorIs(t, err, ErrUndelivered)
	assert.Equal(t, held, a.buf.snapshot())
	assert.Equal(t, int64(len(held)), a.counter(t, "failures", attribute.String("reason", ReasonUnreachable)))
}

func TestOwnsEverythingWithoutSelfInTheSet(t *testing.T) {
	c := newCluster(t)
	a := c.add(epA, []string{epB, epC}, nodeOpt{}) // DNS has not caught up with A yet
	w := workload(11, 100, 1)
	for id := range w {
		require.True(t, a.e.Owns(id))
	}
	in := ptrace.NewTraces()
	for _, td := range w {
		td.ResourceSpans().MoveAndAppendTo(in.ResourceSpans())
	}
	assert.Equal(t, in, a.e.Route(in))
	a.res.Set(epA, epB, epC)
	owned := 0
	for id := range w {
		if a.e.Owns(id) {
			owned++
		}
	}
	assert.Less(t, owned, len(w))
	assert.Positive(t, owned)
}

func TestBufferRefusalIsRetriedThenDecidedBySender(t *testing.T) {
	c := newCluster(t)
	a := c.add(epA, []string{epA}, nodeOpt{window: 300 * time.Millisecond})
	b := c.add(epB, []string{epA, epB}, nodeOpt{})
	b.buf.mu.Lock()
	b.buf.importErr = errors.New("memory limit")
	b.buf.mu.Unlock()
	all := fill(workload(12, 100, 1), []string{epA}, map[string]*node{epA: a})
	toB := expect(all, []string{epA, epB}, epB)
	a.res.Set(epA, epB)
	require.Eventually(t, func() bool {
		return a.counter(t, "failures", attribute.String("reason", ReasonUnreachable)) == int64(len(toB))
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, all, a.buf.snapshot())
	assert.Zero(t, b.counter(t, "spans_dropped"), "an Unavailable answer loses nothing")
}

func TestLifecycle(t *testing.T) {
	c := newCluster(t)
	n := c.add(epA, []string{epA}, nodeOpt{noStart: true})
	ctx := context.Background()
	require.NoError(t, n.e.Shutdown(ctx), "before Start")
	require.NoError(t, n.e.Shutdown(ctx), "twice")
	require.ErrorIs(t, n.e.Start(ctx, componenttest.NewNopHost()), ErrShutdown)
	require.NoError(t, n.e.Drain(ctx), "no-op when not started")

	m := c.add(epB, []string{epB}, nodeOpt{})
	require.ErrorIs(t, m.e.Start(ctx, componenttest.NewNopHost()), ErrAlreadyStarted)
	require.NoError(t, m.e.Shutdown(ctx))
	require.NoError(t, m.e.Shutdown(ctx))
	assert.ErrorIs(t, m.res.Start(ctx), resolver.ErrShutdown, "the engine shut its resolver down")
	id := ids(workload(13, 1, 1))[0]
	assert.True(t, m.e.Owns(id), "after Shutdown everything is kept")

	_, err := New(Config{}, componenttest.NewNopTelemetrySettings(), nil)
	require.ErrorIs(t, err, ErrNilBuffer)
	_, err = New(Config{}, componenttest.NewNopTelemetrySettings(), newFakeBuffer())
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestListenerInUseFailsStart(t *testing.T) {
	c := newCluster(t)
	a := c.add(epA, []string{epA}, nodeOpt{})
	cfg := NewDefaultConfig()
	cfg.Endpoint = epB
	cfg.Resolver.Static = &resolverStatic
	cfg.Listen.NetAddr.Endpoint = a.e.Addr().String()
	e, err := New(cfg, componenttest.NewNopTelemetrySettings(), newFakeBuffer())
	require.NoError(t, err)
	require.Error(t, e.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e.Shutdown(context.Background()))
}

func TestRouteAndOwnsDoNotAllocate(t *testing.T) {
	c := newCluster(t)
	a := c.add(epA, []string{epA, epB, epC}, nodeOpt{})
	w := workload(14, 500, 5)
	in := ptrace.NewTraces()
	var owned pcommon.TraceID
	for id, td := range w {
		if a.e.Owns(id) {
			td.ResourceSpans().MoveAndAppendTo(in.ResourceSpans())
			owned = id
		}
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = a.e.Owns(owned) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = a.e.Route(in) }))
}
