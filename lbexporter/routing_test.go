package lbexporter

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

func endpoints(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("gw-%02d:4317", i)
	}
	return out
}

// spanOwners maps span ID → the endpoint that received it, failing on
// duplicates.
func spanOwners(t *testing.T, got map[string][]ptrace.Traces) map[pcommon.SpanID]string {
	t.Helper()
	owners := map[pcommon.SpanID]string{}
	for ep, batches := range got {
		for _, td := range batches {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						prev, dup := owners[sp.SpanID()]
						require.Falsef(t, dup, "span %s delivered to %s and %s", sp.SpanID(), prev, ep)
						owners[sp.SpanID()] = ep
					}
				}
			}
		}
	}
	return owners
}

func TestTraceIDRoutingExactlyOnceAtRingOwner(t *testing.T) {
	for _, n := range []int{1, 3, 10} {
		for _, layout := range []tracegen.Layout{tracegen.Whole, tracegen.Interleaved} {
			t.Run(fmt.Sprintf("endpoints=%d/layout=%d", n, layout), func(t *testing.T) {
				eps := endpoints(n)
				env := newTestEnv(eps...)
				l := newMemTraces(t, env, testConfig())
				spec := tracegen.Spec{Traces: 300, SpansPerTrace: 7, TracesPerBatch: 50, Layout: layout}
				batches := tracegen.Batches(spec)
				// reference: trace of every span, from an untouched copy
				want := map[pcommon.SpanID]pcommon.TraceID{}
				for _, td := range tracegen.Batches(spec) {
					for _, rs := range td.ResourceSpans().All() {
						for _, ss := range rs.ScopeSpans().All() {
							for _, sp := range ss.Spans().All() {
								want[sp.SpanID()] = sp.TraceID()
							}
						}
					}
				}
				inputRS := 0
				for _, td := range batches {
					inputRS = max(inputRS, td.ResourceSpans().Len())
					pushFlush(t, l, td)
				}
				ring := hashring.New(eps)
				got := env.sinks.spansByEndpoint()
				owners := spanOwners(t, got)
				require.Len(t, owners, len(want))
				for sid, tid := range want {
					assert.Equal(t, ring.Get(tid[:]), owners[sid])
				}
				// resource copied at most once per endpoint per input resource
				for ep, tds := range got {
					for _, td := range tds {
						assert.LessOrEqualf(t, td.ResourceSpans().Len(), inputRS, "endpoint %s", ep)
					}
				}
			})
		}
	}
}

func TestSplitPreservesResourceScopeAndSpanContent(t *testing.T) {
	env := newTestEnv(endpoints(3)...)
	l := newMemTraces(t, env, testConfig())
	td := tracegen.Batches(tracegen.Spec{Traces: 40, SpansPerTrace: 3, TracesPerBatch: 40})[0]
	orig := ptrace.NewTraces()
	td.CopyTo(orig)
	pushFlush(t, l, td)
	// Rebuild: every received span must equal the original with its resource and scope.
	type key struct{ sid pcommon.SpanID }
	ref := map[key]string{}
	for _, rs := range orig.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				ref[key{sp.SpanID()}] = describe(rs, ss, sp)
			}
		}
	}
	n := 0
	for _, tds := range env.sinks.spansByEndpoint() {
		for _, td := range tds {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						assert.Equal(t, ref[key{sp.SpanID()}], describe(rs, ss, sp))
						n++
					}
				}
			}
		}
	}
	assert.Equal(t, len(ref), n)
}

func describe(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, sp ptrace.Span) string {
	return fmt.Sprint(rs.Resource().Attributes().AsRaw(), ss.Scope().Name(), ss.Scope().Version(),
		sp.Name(), sp.TraceID(), sp.Kind(), sp.StartTimestamp(), sp.EndTimestamp(), sp.Attributes().AsRaw(), sp.Status().Code())
}

func TestEmptyTraceIDRoutedDeterministicallyAndCounted(t *testing.T) {
	eps := endpoints(5)
	env := newTestEnv(eps...)
	l := newMemTraces(t, env, testConfig())
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range 20 {
		sp := spans.AppendEmpty()
		sp.SetSpanID(pcommon.SpanID{byte(i + 1), 2, 3})
	}
	spans.AppendEmpty() // zero trace and span ID
	pushFlush(t, l, td)
	owners := spanOwners(t, env.sinks.spansByEndpoint())
	require.Len(t, owners, 21)
	ring := hashring.New(eps)
	for sid, ep := range owners {
		assert.Equal(t, ring.Get(sid[:]), ep, "routed by span ID")
	}
	assert.EqualValues(t, 21, counterValue(t, env.reader, "otelcol_loadbalancer_fallback_routed_items", "reason", reasonEmptyTraceID))
}

func TestServiceRoutingMovesWholeResources(t *testing.T) {
	eps := endpoints(4)
	env := newTestEnv(eps...)
	l := newMemTraces(t, env, testConfig(func(c *Config) { c.RoutingKey = RoutingService }))
	for _, td := range tracegen.Batches(tracegen.Spec{Traces: 100, Services: 7}) {
		pushFlush(t, l, td)
	}
	ring := hashring.New(eps)
	total := 0
	for ep, tds := range env.sinks.spansByEndpoint() {
		for _, td := range tds {
			for _, rs := range td.ResourceSpans().All() {
				svc, _ := rs.Resource().Attributes().Get("service.name")
				assert.Equal(t, ring.Get([]byte(svc.Str())), ep)
				total += countSpans(rs)
			}
		}
	}
	assert.Equal(t, 1000, total)
}

func TestAttributeRouting(t *testing.T) {
	eps := endpoints(6)
	env := newTestEnv(eps...)
	attrs := []string{"service.name", "span.kind", "customer.tier", "absent"}
	l := newMemTraces(t, env, testConfig(func(c *Config) {
		c.RoutingKey = RoutingAttributes
		c.RoutingAttributes = attrs
	}))
	batches := tracegen.Batches(tracegen.Spec{Traces: 200, SpansPerTrace: 4})
	for _, td := range batches {
		pushFlush(t, l, td)
	}
	ring := hashring.New(eps)
	total := 0
	for ep, tds := range env.sinks.spansByEndpoint() {
		for _, td := range tds {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						svc, _ := rs.Resource().Attributes().Get("service.name")
						tier, _ := sp.Attributes().Get("customer.tier")
						var k []byte
						k = appendNamed(k, "service.name", svc, true)
						k = appendNamedStr(k, "span.kind", sp.Kind().String())
						k = appendNamed(k, "customer.tier", tier, true)
						k = appendNamed(k, "absent", pcommon.Value{}, false)
						assert.Equal(t, ring.Get(k), ep)
						total++
					}
				}
			}
		}
	}
	assert.Equal(t, 800, total)
}

func TestKeyEncodingIsUnambiguous(t *testing.T) {
	str := func(s string) pcommon.Value { return pcommon.NewValueStr(s) }
	keys := map[string]string{}
	add := func(name string, b []byte) {
		prev, dup := keys[string(b)]
		require.Falsef(t, dup, "%s collides with %s", name, prev)
		keys[string(b)] = name
	}
	add("a|b + c", appendNamed(appendNamed(nil, "x", str("a|b"), true), "y", str("c"), true))
	add("a + b|c", appendNamed(appendNamed(nil, "x", str("a"), true), "y", str("b|c"), true))
	add("int 200", appendNamed(nil, "x", pcommon.NewValueInt(200), true))
	add("str 200", appendNamed(nil, "x", str("200"), true))
	add("empty", appendNamed(nil, "x", str(""), true))
	add("missing", appendNamed(nil, "x", pcommon.Value{}, false))
	add("bool", appendNamed(nil, "x", pcommon.NewValueBool(true), true))
	add("double", appendNamed(nil, "x", pcommon.NewValueDouble(200), true))
}

// Without the per-endpoint buffers, a call waits for its sends and returns
// exactly the part that failed.
func TestSynchronousPartialFailureReturnsOnlyFailedPart(t *testing.T) {
	eps := endpoints(3)
	env := newTestEnv(eps...)
	l := newMemTraces(t, env, testConfig(synchronous, noRetry))
	bad := eps[1]
	env.sinks.get(bad).setFail(errSinkDown)
	td := tracegen.Batches(tracegen.Spec{Traces: 100})[0]
	ring := hashring.New(eps)
	wantFailed := spansOwnedBy(td, ring, bad)
	require.Positive(t, wantFailed)
	err := l.push(context.Background(), td)
	require.ErrorIs(t, err, errSinkDown)
	var te consumererror.Traces
	require.ErrorAs(t, err, &te)
	failed := te.Data()
	assert.Equal(t, wantFailed, failed.SpanCount())
	for _, rs := range failed.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				tid := sp.TraceID()
				assert.Equal(t, bad, ring.Get(tid[:]))
			}
		}
	}
	// the healthy endpoints got theirs exactly once
	owners := spanOwners(t, env.sinks.spansByEndpoint())
	assert.Equal(t, 1000-wantFailed, len(owners))
	// retrying the failed part after recovery delivers it, no duplicates
	env.sinks.get(bad).setFail(nil)
	pushFlush(t, l, failed)
	assert.Len(t, spanOwners(t, env.sinks.spansByEndpoint()), 1000)
	assert.EqualValues(t, 1, counterValue(t, env.reader, "otelcol_loadbalancer_backend_outcome", "endpoint", bad, "success", "false"))
}

func TestNoEndpointsIsRetryableAndCounted(t *testing.T) {
	env := newTestEnv()
	l := newMemTraces(t, env, testConfig())
	td := tracegen.Batches(tracegen.Spec{Traces: 10, SpansPerTrace: 2})[0]
	err := l.push(context.Background(), td)
	require.ErrorIs(t, err, ErrNoEndpoints)
	assert.False(t, consumererror.IsPermanent(err))
	var te consumererror.Traces
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 20, te.Data().SpanCount())
	assert.EqualValues(t, 20, counterValue(t, env.reader, "otelcol_loadbalancer_no_endpoint_items"))
	// endpoints appear: the same data goes through
	env.res.set(endpoints(2))
	pushFlush(t, l, te.Data())
	assert.Len(t, spanOwners(t, env.sinks.spansByEndpoint()), 20)
}

// A gateway vanishes while a send to it hangs (its sink never answers
// until its context ends): after the grace period the send is cancelled
// and its data re-routed, with and without the per-endpoint buffers.
func TestRemovedEndpointInFlightIsRerouted(t *testing.T) {
	for _, mode := range []string{"buffered", "synchronous"} {
		t.Run(mode, func(t *testing.T) { testRemovedEndpointInFlightIsRerouted(t, mode == "synchronous") })
	}
}

func testRemovedEndpointInFlightIsRerouted(t *testing.T, sync bool) {
	eps := endpoints(3)
	env := newTestEnv(eps...)
	cfg := testConfig(func(c *Config) {
		c.Protocol.OTLP.TimeoutConfig.Timeout = 50 * time.Millisecond
		if sync {
			synchronous(c)
		}
	})
	key, _ := cfg.routingKeyFor("traces")
	ops := tracesOps(newTraceSplitter(key, nil))
	doomed := eps[0]
	entered := make(chan struct{}, 16)
	ops.newBackend = func(_ context.Context, ep string) (componentT, func(context.Context, ptrace.Traces) error, error) {
		s := env.sinks.get(ep)
		if ep == doomed {
			return s, func(ctx context.Context, _ ptrace.Traces) error {
				entered <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}, nil
		}
		return s, consumeInto(s, &s.traces), nil
	}
	l := startLB(t, env, cfg, ops)
	td := tracegen.Batches(tracegen.Spec{Traces: 100})[0]
	done := make(chan error, 1)
	go func() { done <- l.push(context.Background(), td) }()
	<-entered
	env.res.set(eps[1:]) // the doomed gateway leaves while its send hangs
	require.NoError(t, <-done)
	flush(t, l)
	owners := spanOwners(t, env.sinks.spansByEndpoint())
	assert.Len(t, owners, 1000)
	ring := hashring.New(eps[1:])
	for _, tds := range env.sinks.spansByEndpoint() {
		for _, td := range tds {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, sp := range ss.Spans().All() {
						tid := sp.TraceID()
						assert.Equal(t, owners[sp.SpanID()], ring.Get(tid[:]))
					}
				}
			}
		}
	}
	assert.Positive(t, counterValue(t, env.reader, "otelcol_loadbalancer_rerouted_items", "reason", reasonEndpointRemoved))
}

func TestEndpointChurnUnderLoadLosesNothing(t *testing.T) {
	all := endpoints(8)
	env := newTestEnv(all[:3]...)
	l := newMemTraces(t, env, testConfig())
	var sent atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				td := tracegen.Batches(tracegen.Spec{Traces: 20, SpansPerTrace: 3, TracesPerBatch: 20, Seed: uint64(w)<<40 | uint64(i)<<8})[0]
				n := td.SpanCount()
				assert.NoError(t, l.push(context.Background(), td))
				sent.Add(int64(n))
			}
		}()
	}
	sets := [][]string{all[:5], all[2:6], all[5:8], all[:1], all, all[3:4], all[:3]}
	for _, s := range sets {
		time.Sleep(20 * time.Millisecond)
		env.res.set(s)
	}
	close(stop)
	wg.Wait()
	flush(t, l)
	got := int64(0)
	for _, tds := range env.sinks.spansByEndpoint() {
		for _, td := range tds {
			got += int64(td.SpanCount())
		}
	}
	assert.Equal(t, sent.Load(), got)
	assert.Positive(t, got)
}

// Synchronous failover: the part of an endpoint that just became unhealthy
// is re-routed inside the same call.
func TestSynchronousFailoverMarksUnhealthyAndProbesBack(t *testing.T) {
	eps := endpoints(3)
	env := newTestEnv(eps...)
	cfg := testConfig(synchronous, noRetry, func(c *Config) {
		c.Failover = FailoverConfig{Enabled: true, MaxConsecutiveFailures: 2, ProbeInterval: 700 * time.Millisecond}
	})
	l := newMemTraces(t, env, cfg)
	bad := eps[2]
	env.sinks.get(bad).setFail(errSinkDown)
	batch := func(seed uint64) ptrace.Traces {
		return tracegen.Batches(tracegen.Spec{Traces: 50, SpansPerTrace: 2, Seed: seed})[0]
	}
	// first failure: returned as partial error (not yet unhealthy)
	err := l.push(context.Background(), batch(1))
	require.ErrorIs(t, err, errSinkDown)
	// second failure crosses the threshold: the part fails over, no error
	pushFlush(t, l, batch(2))
	assert.EqualValues(t, 1, counterValue(t, env.reader, "otelcol_loadbalancer_failovers", "endpoint", bad))
	assert.EqualValues(t, 1, counterValue(t, env.reader, "otelcol_loadbalancer_unhealthy_backends"))
	// the failed-over part went with the failover mark
	for _, ep := range eps[:2] {
		s := env.sinks.get(ep)
		s.mu.Lock()
		for i, td := range s.traces {
			if spansOwnedBy(td, hashring.New(eps), bad) > 0 {
				assert.True(t, s.marked[i], "failed-over spans sent without the mark")
			}
		}
		s.mu.Unlock()
	}
	// while unhealthy, nothing is sent to it and nothing fails
	calls := func() int { s := env.sinks.get(bad); s.mu.Lock(); defer s.mu.Unlock(); return s.calls }
	before := calls()
	pushFlush(t, l, batch(3))
	assert.Equal(t, before, calls())
	// recovery: after the probe interval live traffic probes it
	env.sinks.get(bad).setFail(nil)
	time.Sleep(800 * time.Millisecond)
	pushFlush(t, l, batch(4))
	assert.Greater(t, calls(), before)
	assert.EqualValues(t, 0, counterValue(t, env.reader, "otelcol_loadbalancer_unhealthy_backends"))
	td := batch(5)
	want := spansOwnedBy(td, hashring.New(eps), bad)
	s := env.sinks.get(bad)
	s.mu.Lock()
	n0 := len(s.traces)
	s.mu.Unlock()
	pushFlush(t, l, td)
	s.mu.Lock()
	assert.Equal(t, want, s.traces[n0].SpanCount(), "affinity restored")
	s.mu.Unlock()
	assert.Positive(t, counterValue(t, env.reader, "otelcol_loadbalancer_rerouted_items", "reason", reasonEndpointUnhealthy))
}

func TestShutdownIdempotentAndBeforeStart(t *testing.T) {
	env := newTestEnv(endpoints(2)...)
	cfg := testConfig()
	key, _ := cfg.routingKeyFor("traces")
	l, err := newLB(env.set, cfg, tracesOps(newTraceSplitter(key, nil)), env.res.newRes)
	require.NoError(t, err)
	require.NoError(t, l.shutdown(context.Background()))
	require.NoError(t, l.shutdown(context.Background()))
	require.NoError(t, l.start(context.Background(), nil))
	err = l.push(context.Background(), tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 1})[0])
	require.ErrorIs(t, err, ErrShutdown)
}
