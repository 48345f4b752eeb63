package tailsampler

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/zap/zaptest"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/manual"
	"github.com/tailgate-otel/tailgate/tailsampler/internal/handoff"
)

// These tests run real processors, each built with NewFactory and its own
// handoff listener on 127.0.0.1:0. Ring endpoints are loopback addresses
// standing in for pod addresses, mapped to those listeners (a gateway
// connects to its peers from its ring address, as a pod does from its
// IP, so that accept_from: ring recognises it); each gateway's resolver is driven by the
// test; the "agents" route every batch by trace ID over their own view of
// the ring, as the load_balancing exporter does. Time is real: the
// engine's timestamps travel on the wire.

const (
	gwA = "127.0.9.1:4317"
	gwB = "127.0.9.2:4317"
	gwC = "127.0.9.3:4317"

	itDecisionWait = 2500 * time.Millisecond
	// itGap separates a trace's first spans from the scale event: traces
	// must be decided decision_wait after their first span, not after the
	// spans that reached the new owner itGap later.
	itGap = time.Second
)

type gateway struct {
	ep     string
	p      *handoffSampler
	sink   *consumertest.TracesSink
	dead   atomic.Bool // crashed: its exports are lost
	reader *sdkmetric.ManualReader
	res    *manual.Resolver
}

type fleet struct {
	t     *testing.T
	mu    sync.Mutex
	addrs map[string]string
	gws   map[string]*gateway
}

func newFleet(t *testing.T) *fleet {
	f := &fleet{t: t, addrs: map[string]string{}, gws: map[string]*gateway{}}
	t.Cleanup(f.stopAll)
	return f
}

// peerAddress is where gateways reach ep: the address reserved for it,
// closed until a gateway runs as ep.
func (f *fleet) peerAddress(ep string) string { return f.listenAddress(ep) }

// listenAddress is the handoff listener of endpoint ep, the same for every
// process that runs as ep (a restarted pod keeps its address), known to
// its peers before it listens: a peer may dial it as soon as it is in
// their view, and a gRPC connection keeps the address it was made for.
func (f *fleet) listenAddress(ep string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.addrs[ep]; ok {
		return a
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(f.t, err)
	a := ln.Addr().String()
	require.NoError(f.t, ln.Close())
	f.addrs[ep] = a
	return a
}

// start builds and starts the gateway ep whose resolver first reports view.
func (f *fleet) start(ep string, view []string) *gateway { return f.startWith(ep, view, nil) }

// startWith is start with a change to the gateway's configuration.
func (f *fleet) startWith(ep string, view []string, mutate func(*Config)) *gateway {
	t := f.t
	g := &gateway{ep: ep, sink: &consumertest.TracesSink{}, reader: sdkmetric.NewManualReader()}
	fac := NewFactory(WithPolicyType("keep_odd_id", keepOddID), withHandoffOptions(
		handoff.WithResolverFactory(func(_ resolver.Config, set resolver.Settings, l resolver.Listener) (resolver.Resolver, error) {
			r, err := manual.New(set, l, view...)
			g.res = r
			return r, err
		}),
		handoff.WithPeerAddress(f.peerAddress),
		handoff.WithInitialBackoff(20*time.Millisecond),
		handoff.WithSettleDelay(200*time.Millisecond),
	))
	cfg := fac.CreateDefaultConfig().(*Config)
	cfg.DecisionWait = itDecisionWait
	cfg.NumShards = 2
	cfg.Policies = []PolicyCfg{{Name: "odd", Type: "keep_odd_id"}}
	hc := cfg.Handoff.GetOrInsertDefault()
	hc.Endpoint = ep
	hc.Resolver = resolver.Config{Static: &resolver.StaticConfig{Hostnames: view}}
	hc.Listen.NetAddr.Endpoint = f.listenAddress(ep)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())

	set := newNopSettings()
	set.TelemetrySettings = componenttest.NewNopTelemetrySettings()
	set.Logger = zaptest.NewLogger(t)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(g.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	set.TelemetrySettings.MeterProvider = mp
	next, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		if g.dead.Load() {
			return nil // what a crashed gateway still decides never reaches the backend
		}
		return g.sink.ConsumeTraces(ctx, td)
	})
	require.NoError(t, err)
	proc, err := fac.CreateTraces(context.Background(), set, cfg, next)
	require.NoError(t, err)
	g.p = proc.(*handoffSampler)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	require.Equal(t, f.listenAddress(ep), g.p.eng.Addr().String())
	f.mu.Lock()
	f.gws[ep] = g
	f.mu.Unlock()
	return g
}

// stop shuts g down gracefully (Drain first).
func (f *fleet) stop(g *gateway) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(f.t, g.p.Shutdown(ctx))
}

// stopAll shuts every gateway down alone in its ring, so that nothing
// moves between them at the end of a test.
func (f *fleet) stopAll() {
	for _, g := range f.gws {
		g.res.Set(g.ep)
	}
	for _, g := range f.gws {
		f.stop(g)
	}
}

// send routes every span of td to its owner under the agent's view.
func (f *fleet) send(view []string, td ptrace.Traces) {
	r := hashring.New(view)
	parts := map[string]ptrace.Traces{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				id := sp.TraceID()
				appendSpan(parts, r.Get(id[:]), rs, ss, sp)
			}
		}
	}
	for ep, part := range parts {
		f.mu.Lock()
		g := f.gws[ep]
		f.mu.Unlock()
		require.NotNil(f.t, g, ep)
		require.NoError(f.t, g.p.ConsumeTraces(context.Background(), part))
	}
}

// workloadBatches is n traces of spans spans, one span of every trace per
// batch: a trace's spans arrive over all the batches.
func workloadBatches(seed uint64, n, spans int) (tracegen.Spec, []ptrace.Traces) {
	spec := tracegen.Spec{Traces: n, SpansPerTrace: spans, TracesPerBatch: n, Layout: tracegen.Interleaved, Seed: seed}
	return spec, tracegen.Batches(spec)
}

func kept(id pcommon.TraceID) bool { return id[15]%2 == 1 }

// outcome is what reached the sinks.
type outcome struct {
	spans   map[pcommon.SpanID]int              // times each span was forwarded
	where   map[pcommon.TraceID]map[string]bool // gateways a trace's spans left from
	perSpan map[pcommon.TraceID]int
}

func collect(gws ...*gateway) outcome {
	o := outcome{spans: map[pcommon.SpanID]int{}, where: map[pcommon.TraceID]map[string]bool{}, perSpan: map[pcommon.TraceID]int{}}
	for _, g := range gws {
		for _, td := range g.sink.AllTraces() {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						o.spans[sp.SpanID()]++
						id := sp.TraceID()
						if o.where[id] == nil {
							o.where[id] = map[string]bool{}
						}
						o.where[id][g.ep] = true
						o.perSpan[id]++
					}
				}
			}
		}
	}
	return o
}

// decided sums the traces decided (sampled or not) by the gateways.
func spanTotal(gws ...*gateway) int {
	n := 0
	for _, g := range gws {
		n += g.sink.SpanCount()
	}
	return n
}

func decided(gws ...*gateway) int64 {
	var n int64
	for _, g := range gws {
		n += g.p.decided.Load()
	}
	return n
}

func pendingOf(gws ...*gateway) int64 {
	var n int64
	for _, g := range gws {
		n += g.p.pendingTotal()
	}
	return n
}

func (g *gateway) counter(t *testing.T, name string) int64 {
	return total((&harness{reader: g.reader}).metrics(t), name)
}

// decidedOnTime asserts that n traces first seen at t0 were all decided
// by t0 + decision_wait + half a second, i.e. before decision_wait after
// the spans that came itGap later.
func decidedOnTime(t *testing.T, t0 time.Time, n int, gws ...*gateway) {
	t.Helper()
	by := t0.Add(itDecisionWait + (itGap / 2))
	for time.Now().Before(by) && decided(gws...) < int64(n) {
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, int64(n), decided(gws...), "decided on the original schedule (first seen %s ago)", time.Since(t0))
}

// checkExactlyOnce asserts that every trace of the workload was decided
// once, in one piece: a kept trace's spans all reached one sink, each
// once; a dropped trace reached none.
func checkExactlyOnce(t *testing.T, spec tracegen.Spec, gws ...*gateway) {
	t.Helper()
	wantSpans := 0
	for i := 0; i < spec.Traces; i++ {
		if kept(tracegen.TraceID(spec.Seed, i)) {
			wantSpans += spec.SpansPerTrace
		}
	}
	require.Eventually(t, func() bool {
		return decided(gws...) >= int64(spec.Traces) && pendingOf(gws...) == 0 &&
			spanTotal(gws...) >= wantSpans
	}, 15*time.Second, 10*time.Millisecond, "decided %d of %d, %d pending, %d of %d kept spans forwarded",
		decided(gws...), spec.Traces, pendingOf(gws...), spanTotal(gws...), wantSpans)
	assert.Equal(t, int64(spec.Traces), decided(gws...), "one decision per trace")
	o := collect(gws...)
	for i := 0; i < spec.Traces; i++ {
		id := tracegen.TraceID(spec.Seed, i)
		if !kept(id) {
			assert.Zero(t, o.perSpan[id], "dropped trace %d forwarded", i)
			continue
		}
		assert.Equal(t, spec.SpansPerTrace, o.perSpan[id], "trace %d: every span once", i)
		assert.Len(t, o.where[id], 1, "trace %d: forwarded from one gateway", i)
		for j := 0; j < spec.SpansPerTrace; j++ {
			assert.Equal(t, 1, o.spans[tracegen.SpanID(spec.Seed, i, j)], "trace %d span %d", i, j)
		}
	}
}

// (a) A third gateway joins while traces are in flight: the traces it now
// owns move to it whole, with their first-seen time, and the spans the
// agents send it before the handoff lands join them.
func TestHandoffScaleUpMidTrace(t *testing.T) {
	f := newFleet(t)
	two := []string{gwA, gwB}
	three := []string{gwA, gwB, gwC}
	a := f.start(gwA, two)
	b := f.start(gwB, two)
	spec, batches := workloadBatches(31, 300, 4)
	t0 := time.Now()
	f.send(two, batches[0])
	f.send(two, batches[1])
	time.Sleep(itGap)

	c := f.start(gwC, three)
	// The agents see C before A and B do: C buffers fresh spans of traces
	// whose first spans A and B hold, then the handoff joins them.
	f.send(three, batches[2])
	a.res.Set(three...)
	b.res.Set(three...)
	f.send(three, batches[3])

	decidedOnTime(t, t0, spec.Traces, a, b, c)
	checkExactlyOnce(t, spec, a, b, c)
	sent := a.counter(t, metricHandoff+"traces_sent") + b.counter(t, metricHandoff+"traces_sent")
	assert.Positive(t, sent)
	assert.Equal(t, sent, c.counter(t, metricHandoff+"traces_received"))
	assert.Zero(t, a.counter(t, metricHandoff+"failures")+b.counter(t, metricHandoff+"failures"))
	// Handed-off traces are decided by C alone: A and B counted only theirs.
	r3 := hashring.New(three)
	var ofC int64
	for i := 0; i < spec.Traces; i++ {
		id := tracegen.TraceID(spec.Seed, i)
		if r3.Get(id[:]) == gwC {
			ofC++
		}
	}
	assert.Equal(t, ofC, c.p.decided.Load())
	assert.Equal(t, ofC, c.counter(t, mGlobalSampled))
}

// (b) A gateway shuts down gracefully while the others already route
// around it: Drain hands its pending traces to them, where the spans that
// arrived meanwhile join them; it decides nothing itself.
func TestHandoffScaleDownDrainsOnShutdown(t *testing.T) {
	f := newFleet(t)
	three := []string{gwA, gwB, gwC}
	two := []string{gwA, gwB}
	a := f.start(gwA, three)
	b := f.start(gwB, three)
	c := f.start(gwC, three)
	spec, batches := workloadBatches(32, 300, 4)
	t0 := time.Now()
	f.send(three, batches[0])
	f.send(three, batches[1])
	heldByC := c.p.pendingTotal()
	require.Positive(t, heldByC)
	time.Sleep(itGap)

	a.res.Set(two...)
	b.res.Set(two...)
	f.send(two, batches[2])
	f.send(two, batches[3])
	f.stop(c) // c's own view still has itself: Drain computes the ring without it

	decidedOnTime(t, t0, spec.Traces, a, b, c)
	checkExactlyOnce(t, spec, a, b, c)
	assert.Zero(t, c.p.decided.Load(), "a drained trace is not decided by the gateway that left")
	assert.Zero(t, c.counter(t, mGlobalSampled))
	assert.Equal(t, heldByC, c.counter(t, metricHandoff+"traces_sent"))
	assert.Zero(t, c.p.dropCount.Load())
}

// (b') In Kubernetes a terminating pod leaves the endpoints before its
// preStop sleep ends: the gateway hands off as soon as it sees itself
// removed, long before Shutdown.
func TestHandoffRemovedFromSetHandsOffBeforeShutdown(t *testing.T) {
	f := newFleet(t)
	three := []string{gwA, gwB, gwC}
	two := []string{gwA, gwB}
	a := f.start(gwA, three)
	b := f.start(gwB, three)
	c := f.start(gwC, three)
	spec, batches := workloadBatches(33, 200, 4)
	f.send(three, batches[0])
	f.send(three, batches[1])
	for _, g := range []*gateway{a, b, c} {
		g.res.Set(two...)
	}
	require.Eventually(t, func() bool { return c.p.pendingTotal() == 0 }, 5*time.Second, 5*time.Millisecond)
	// An agent that has not seen the change yet still sends to C.
	f.send(three, batches[2])
	f.send(two, batches[3])
	checkExactlyOnce(t, spec, a, b, c)
	assert.Zero(t, c.p.decided.Load())
	assert.Positive(t, c.counter(t, metricHandoff+"spans_forwarded"))
}

// (c) Agents with a stale view (they do not know B yet) send everything
// to A: A forwards B's traces to B, which decides them in one piece.
func TestHandoffStaleRoutingEndsAtOwner(t *testing.T) {
	f := newFleet(t)
	two := []string{gwA, gwB}
	a := f.start(gwA, two)
	b := f.start(gwB, two)
	spec, batches := workloadBatches(34, 300, 4)
	for i, td := range batches {
		view := []string{gwA}
		if i%2 == 1 {
			view = two // some agents are up to date
		}
		f.send(view, td)
	}
	checkExactlyOnce(t, spec, a, b)
	r := hashring.New(two)
	var ofB int64
	for i := 0; i < spec.Traces; i++ {
		id := tracegen.TraceID(spec.Seed, i)
		if r.Get(id[:]) == gwB {
			ofB++
		}
	}
	assert.Equal(t, ofB, b.p.decided.Load(), "B decides exactly the traces it owns")
	assert.Positive(t, a.counter(t, metricHandoff+"spans_forwarded"))
}

// Without the block the factory builds the bare processor: nothing of
// handoff runs (the rest of the suite covers its behaviour).
func TestNoHandoffBlockIsTheBareProcessor(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Policies = []PolicyCfg{{Name: "all", Type: "always_sample"}}
	assert.False(t, cfg.Handoff.HasValue())
	p, err := NewFactory().CreateTraces(context.Background(), newNopSettings(), cfg, nopSink())
	require.NoError(t, err)
	s, ok := p.(*sampler)
	require.True(t, ok)
	for _, sh := range s.shards {
		assert.Nil(t, sh.recent)
	}
	require.NoError(t, p.Shutdown(context.Background()))
}

const metricHandoff = "otelcol_processor_tail_sampling_handoff_"

// Decisions taken within the window follow their traces to the new owner:
// late spans there follow them instead of starting a fragment.
func TestHandoffDecisionsFollowTheTrace(t *testing.T) {
	f := newFleet(t)
	two := []string{gwA, gwB}
	three := []string{gwA, gwB, gwC}
	a := f.start(gwA, two)
	b := f.start(gwB, two)
	spec, batches := workloadBatches(35, 300, 5)
	for _, td := range batches[:4] {
		f.send(two, td)
	}
	require.Eventually(t, func() bool { return decided(a, b) == int64(spec.Traces) }, 10*time.Second, 5*time.Millisecond)

	c := f.start(gwC, three)
	a.res.Set(three...)
	b.res.Set(three...)
	r3 := hashring.New(three)
	var ofC, keptOfC int64
	for i := 0; i < spec.Traces; i++ {
		id := tracegen.TraceID(spec.Seed, i)
		if r3.Get(id[:]) == gwC {
			ofC++
			if kept(id) {
				keptOfC++
			}
		}
	}
	require.Positive(t, ofC)
	require.Eventually(t, func() bool { return c.counter(t, metricHandoff+"decisions_received") >= ofC }, 10*time.Second, 5*time.Millisecond)
	f.send(three, batches[4]) // one late span per trace

	require.Eventually(t, func() bool { return spanTotal(c) == int(keptOfC) }, 5*time.Second, 5*time.Millisecond)
	assert.Zero(t, c.p.decided.Load(), "late spans follow the forwarded decisions")
	assert.Zero(t, c.p.pendingTotal())
	for _, td := range c.sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					assert.True(t, kept(sp.TraceID()))
				}
			}
		}
	}
}
