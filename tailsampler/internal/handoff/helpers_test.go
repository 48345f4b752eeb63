package handoff

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/manual"
)

// fakeBuffer is an in-memory ReplicaBuffer keyed by trace ID.
type fakeBuffer struct {
	mu         sync.Mutex
	pending    map[pcommon.TraceID]*fakeTrace
	decided    []fakeDecision
	imported   map[pcommon.TraceID]bool // decisions received
	remembered map[pcommon.TraceID]bool // decisions remembered (replication)
	exported   ptrace.Traces            // ExportKept and KeepDecidedElsewhere
	importErr  error
	markers    int // ResourceSpans imported with a marker still on
}

type fakeTrace struct {
	spans     ptrace.Traces
	firstSeen time.Time
}

type fakeDecision struct {
	id      pcommon.TraceID
	sampled bool
	at      time.Time
}

func newFakeBuffer() *fakeBuffer {
	return &fakeBuffer{pending: map[pcommon.TraceID]*fakeTrace{}, imported: map[pcommon.TraceID]bool{},
		remembered: map[pcommon.TraceID]bool{}, exported: ptrace.NewTraces()}
}

var _ ReplicaBuffer = (*fakeBuffer)(nil)

func (b *fakeBuffer) SnapshotPending(match func(pcommon.TraceID) bool) []Pending {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Pending
	for id, t := range b.pending {
		if match(id) {
			cp := ptrace.NewTraces()
			t.spans.CopyTo(cp)
			out = append(out, Pending{ID: id, Spans: cp, FirstSeen: t.firstSeen})
		}
	}
	return out
}

func (b *fakeBuffer) RememberDecision(id pcommon.TraceID, sampled bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remembered[id] = sampled
}

func (b *fakeBuffer) TraceState(id pcommon.TraceID) TraceState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.pending[id]; ok {
		return TracePending
	}
	for _, d := range b.decided {
		if d.id == id {
			return keptOrDropped(d.sampled)
		}
	}
	if s, ok := b.imported[id]; ok {
		return keptOrDropped(s)
	}
	if s, ok := b.remembered[id]; ok {
		return keptOrDropped(s)
	}
	return TraceUnknown
}

func keptOrDropped(sampled bool) TraceState {
	if sampled {
		return TraceKept
	}
	return TraceDropped
}

func (b *fakeBuffer) ExportKept(_ context.Context, td ptrace.Traces) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	td.ResourceSpans().MoveAndAppendTo(b.exported.ResourceSpans())
	return nil
}

func (b *fakeBuffer) KeepDecidedElsewhere(id pcommon.TraceID, had func(pcommon.SpanID) bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remembered[id] = true
	t, ok := b.pending[id]
	if !ok {
		return false
	}
	delete(b.pending, id)
	for _, rs := range t.spans.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			ss.Spans().RemoveIf(func(sp ptrace.Span) bool { return had(sp.SpanID()) })
		}
	}
	t.spans.ResourceSpans().MoveAndAppendTo(b.exported.ResourceSpans())
	return true
}

func (b *fakeBuffer) ImportTraceDedup(ctx context.Context, td ptrace.Traces, firstSeen time.Time) (int, error) {
	b.mu.Lock()
	have := map[pcommon.SpanID]bool{}
	for _, t := range b.pending {
		for _, rs := range t.spans.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					have[sp.SpanID()] = true
				}
			}
		}
	}
	b.mu.Unlock()
	dup := 0
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
				if have[sp.SpanID()] {
					dup++
					return true
				}
				have[sp.SpanID()] = true
				return false
			})
		}
	}
	return dup, b.ImportTrace(ctx, td, firstSeen)
}

func (b *fakeBuffer) TakeNotOwned(owns func(pcommon.TraceID) bool) []Pending {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Pending
	for id, t := range b.pending {
		if !owns(id) {
			out = append(out, Pending{ID: id, Spans: t.spans, FirstSeen: t.firstSeen})
			delete(b.pending, id)
		}
	}
	return out
}

func (b *fakeBuffer) RecentDecisions(since time.Time, fn func(pcommon.TraceID, bool)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.decided {
		if !d.at.Before(since) {
			fn(d.id, d.sampled)
		}
	}
}

func (b *fakeBuffer) ImportTrace(_ context.Context, td ptrace.Traces, firstSeen time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.importErr != nil {
		return b.importErr
	}
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		attrs := td.ResourceSpans().At(i).Resource().Attributes()
		for _, k := range []string{AttrHop, AttrFirstSeen, AttrDecision} {
			if _, ok := attrs.Get(k); ok {
				b.markers++
			}
		}
	}
	for id, part := range byTrace(td) {
		b.addLocked(id, part, firstSeen)
	}
	return nil
}

func (b *fakeBuffer) ImportDecision(id pcommon.TraceID, sampled bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.imported[id] = sampled
}

func (b *fakeBuffer) add(td ptrace.Traces, firstSeen time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, part := range byTrace(td) {
		b.addLocked(id, part, firstSeen)
	}
}

func (b *fakeBuffer) addLocked(id pcommon.TraceID, part ptrace.Traces, firstSeen time.Time) {
	t, ok := b.pending[id]
	if !ok {
		b.pending[id] = &fakeTrace{spans: part, firstSeen: firstSeen}
		return
	}
	part.ResourceSpans().MoveAndAppendTo(t.spans.ResourceSpans())
	if firstSeen.Before(t.firstSeen) {
		t.firstSeen = firstSeen
	}
}

func (b *fakeBuffer) decide(id pcommon.TraceID, sampled bool, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.decided = append(b.decided, fakeDecision{id: id, sampled: sampled, at: at})
}

// snapshot returns trace ID → (span count, first seen).
func (b *fakeBuffer) snapshot() map[pcommon.TraceID]traceInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[pcommon.TraceID]traceInfo, len(b.pending))
	for id, t := range b.pending {
		out[id] = traceInfo{spans: t.spans.SpanCount(), firstSeen: t.firstSeen.UnixNano()}
	}
	return out
}

func (b *fakeBuffer) decisions() map[pcommon.TraceID]bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[pcommon.TraceID]bool, len(b.imported))
	for k, v := range b.imported {
		out[k] = v
	}
	return out
}

type traceInfo struct {
	spans     int
	firstSeen int64
}

// byTrace copies td's spans into one ptrace.Traces per trace.
func byTrace(td ptrace.Traces) map[pcommon.TraceID]ptrace.Traces {
	out := map[pcommon.TraceID]ptrace.Traces{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				t, ok := out[span.TraceID()]
				if !ok {
					t = ptrace.NewTraces()
					out[span.TraceID()] = t
				}
				drs := t.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(drs.Resource())
				dss := drs.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(dss.Scope())
				span.CopyTo(dss.Spans().AppendEmpty())
			}
		}
	}
	return out
}

// workload returns n whole traces of spans spans each, by trace ID.
func workload(seed uint64, n, spans int) map[pcommon.TraceID]ptrace.Traces {
	out := map[pcommon.TraceID]ptrace.Traces{}
	for _, b := range tracegen.Batches(tracegen.Spec{Traces: n, SpansPerTrace: spans, TracesPerBatch: 50, Seed: seed}) {
		for id, t := range byTrace(b) {
			if prev, ok := out[id]; ok {
				t.ResourceSpans().MoveAndAppendTo(prev.ResourceSpans())
			} else {
				out[id] = t
			}
		}
	}
	return out
}

// cluster maps ring endpoints to the listeners of the engines of a test.
type cluster struct {
	t     testing.TB
	mu    sync.Mutex
	addrs map[string]string
	// reserved: each endpoint's listener address, the same for every engine
	// that runs as it (a restarted pod keeps its address): a peer may dial
	// it before it listens, and a connection keeps its address.
	reserved  map[string]string
	replicate bool // some node replicates: every endpoint gets an address
}

func newCluster(t testing.TB) *cluster {
	return &cluster{t: t, addrs: map[string]string{}, reserved: map[string]string{}}
}

func (c *cluster) peerAddress(ep string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.addrs[ep]; ok {
		return a
	}
	if a, ok := c.reserved[ep]; ok {
		return a
	}
	if c.replicate {
		// Replication dials peers as soon as they are in the view.
		return c.reserveLocked(ep)
	}
	return deadAddress(c.t)
}

// reserve gives ep a listener address of its own.
func (c *cluster) reserve(ep string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replicate = true
	return c.reserveLocked(ep)
}

func (c *cluster) reserveLocked(ep string) string {
	if a, ok := c.reserved[ep]; ok {
		return a
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(c.t, err)
	a := ln.Addr().String()
	require.NoError(c.t, ln.Close())
	c.reserved[ep] = a
	return a
}

var (
	deadOnce sync.Once
	deadAddr string
)

// deadAddress is a loopback port nobody listens on.
func deadAddress(t testing.TB) string {
	deadOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		deadAddr = ln.Addr().String()
		require.NoError(t, ln.Close())
	})
	return deadAddr
}

type node struct {
	host   component.Host
	ep     string
	e      *Engine
	buf    *fakeBuffer
	res    *manual.Resolver
	reader *sdkmetric.ManualReader
}

type nodeOpt struct {
	hopLimit   int
	window     time.Duration
	noStart    bool
	host       component.Host
	acceptFrom string
	logger     *zap.Logger
	modify     func(*Config)
	options    []Option
	// replicate turns replication on; the node listens on an address
	// reserved for its endpoint (see cluster.reserve).
	replicate    bool
	grace        time.Duration
	decisionWait time.Duration
}

// add builds and starts an engine for ring endpoint ep whose resolver
// first publishes initial.
func (c *cluster) add(ep string, initial []string, o nodeOpt) *node {
	t := c.t
	cfg := NewDefaultConfig()
	cfg.Endpoint = ep
	cfg.Resolver = resolver.Config{Static: &resolver.StaticConfig{Hostnames: initial}}
	cfg.Listen.NetAddr.Endpoint = "127.0.0.1:0"
	if o.replicate {
		cfg.Listen.NetAddr.Endpoint = c.reserve(ep)
		cfg.Replicate = true
		cfg.ReplicaGrace = o.grace
	}
	cfg.HopLimit = o.hopLimit
	cfg.Window = o.window
	cfg.Client.Timeout = 2 * time.Second
	cfg.AcceptFrom = o.acceptFrom
	if o.modify != nil {
		o.modify(&cfg)
	}
	n := &node{ep: ep, host: o.host, buf: newFakeBuffer(), reader: sdkmetric.NewManualReader()}
	set := componenttest.NewNopTelemetrySettings()
	set.Logger = zaptest.NewLogger(t)
	if o.logger != nil {
		set.Logger = o.logger
	}
	set.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(n.reader))
	opts := append([]Option{
		WithResolverFactory(func(_ resolver.Config, set resolver.Settings, l resolver.Listener) (resolver.Resolver, error) {
			r, err := manual.New(set, l, initial...)
			n.res = r
			return r, err
		}),
		WithPeerAddress(c.peerAddress),
		WithInitialBackoff(20 * time.Millisecond),
		WithSettleDelay(-1),
		WithDecisionWait(o.decisionWait),
	}, o.options...)
	e, err := New(cfg, set, n.buf, opts...)
	require.NoError(t, err)
	n.e = e
	if o.noStart {
		return n
	}
	// Register the listener before the resolver publishes: peers may send
	// as soon as they know this endpoint.
	n.start(c)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, e.Shutdown(ctx))
	})
	return n
}

func (n *node) start(c *cluster) {
	host := n.host
	if host == nil {
		host = componenttest.NewNopHost()
	}
	require.NoError(c.t, n.e.Start(context.Background(), host))
	c.mu.Lock()
	c.addrs[n.ep] = n.e.Addr().String()
	c.mu.Unlock()
}

// counter sums an Int64 counter, optionally restricted to one attribute.
func (n *node) counter(t testing.TB, name string, attrs ...attribute.KeyValue) int64 {
	return n.instrument(t, metricPrefix+name, attrs...)
}

// replica sums a replication counter (or reads its gauge).
func (n *node) replica(t testing.TB, name string, attrs ...attribute.KeyValue) int64 {
	return n.instrument(t, replicaPrefix+name, attrs...)
}

func (n *node) instrument(t testing.TB, full string, attrs ...attribute.KeyValue) int64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, n.reader.Collect(context.Background(), &rm))
	want := attribute.NewSet(attrs...)
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != full {
				continue
			}
			var dps []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				dps = d.DataPoints
			case metricdata.Gauge[int64]:
				dps = d.DataPoints
			default:
				t.Fatalf("%s: %T", full, m.Data)
			}
			for _, dp := range dps {
				if len(attrs) == 0 || dp.Attributes.Equals(&want) {
					total += dp.Value
				}
			}
		}
	}
	return total
}

var _ component.Host = componenttest.NewNopHost()

var resolverStatic = resolver.StaticConfig{Hostnames: []string{epA}}

// sumEventually waits until the counters named, summed over nodes, reach
// want: a sender counts after the peer's answer, which may come after the
// peer has buffered the data.
func sumEventually(t testing.TB, want int64, name string, nodes ...*node) {
	t.Helper()
	var got int64
	ok := assert.Eventually(t, func() bool {
		got = 0
		for _, n := range nodes {
			got += n.counter(t, name)
		}
		return got == want
	}, 10*time.Second, 5*time.Millisecond)
	if !ok {
		t.Errorf("%s: got %d, want %d", name, got, want)
	}
}
