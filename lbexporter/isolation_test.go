package lbexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// These tests put one misbehaving gateway among healthy ones, each a real
// OTLP/gRPC server on 127.0.0.1, behind the exporter as the collector
// builds it (exporterhelper around the load balancer, default buffers).

// fleetOf starts n sinks and an exporter over them. The per-attempt
// timeout is long (10 s) unless mut says otherwise: a send to a healthy
// sink that timed out (a loaded machine, -race) would be retried and
// arrive twice, which is at-least-once delivery, not what these tests
// are about.
func fleetOf(t *testing.T, n int, mut ...func(*Config)) ([]*grpcSink, *testEnv, exporter.Traces) {
	t.Helper()
	sinks := make([]*grpcSink, n)
	eps := make([]string, n)
	for i := range sinks {
		sinks[i] = newGRPCSink(t, "127.0.0.1:0")
		eps[i] = sinks[i].addr
	}
	env := newTestEnv(eps...)
	f := newFactory(env.res.newRes)
	set := exportertest.NewNopSettings(f.Type())
	set.TelemetrySettings = env.set
	long := func(c *Config) { c.Protocol.OTLP.TimeoutConfig.Timeout = 10 * time.Second }
	exp, err := f.CreateTraces(context.Background(), set, testConfig(append([]func(*Config){fastOTLP, long}, mut...)...))
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), newHost(nil)))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return sinks, env, exp
}

// ledger remembers every span sent and its trace.
type ledger map[pcommon.SpanID]pcommon.TraceID

// send pushes batches of 25 traces × 4 spans and returns the slowest call.
func (lg ledger) send(t *testing.T, exp exporter.Traces, batches int, seed uint64) time.Duration {
	t.Helper()
	var slowest time.Duration
	for i := range batches {
		td := tracegen.Batches(tracegen.Spec{Traces: 25, SpansPerTrace: 4, TracesPerBatch: 25, Seed: seed<<20 | uint64(i)})[0]
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					lg[sp.SpanID()] = sp.TraceID()
				}
			}
		}
		start := time.Now()
		require.NoError(t, exp.ConsumeTraces(context.Background(), td))
		slowest = max(slowest, time.Since(start))
	}
	return slowest
}

// owned counts the spans whose trace ring (over eps) gives to ep.
func (lg ledger) owned(eps []string, ep string) int64 {
	ring := hashring.New(eps)
	n := int64(0)
	for _, tid := range lg {
		if ring.Get(tid[:]) == ep {
			n++
		}
	}
	return n
}

func addrs(sinks []*grpcSink) []string {
	out := make([]string, len(sinks))
	for i, s := range sinks {
		out[i] = s.addr
	}
	return out
}

// exactlyOnce checks that every span of lg reached exactly one sink, once,
// and that sink is its trace's owner on ring.
func (lg ledger) exactlyOnce(t *testing.T, sinks []*grpcSink, ring *hashring.Ring) {
	t.Helper()
	require.Eventually(t, func() bool {
		n := int64(0)
		for _, s := range sinks {
			n += s.got.Load()
		}
		return n >= int64(len(lg))
	}, 30*time.Second, 10*time.Millisecond, "every span delivered")
	at := map[pcommon.SpanID]string{}
	for _, s := range sinks {
		for id, c := range s.spanIDs() {
			require.Equal(t, 1, c, "span delivered %d times to %s", c, s.addr)
			prev, dup := at[id]
			require.False(t, dup, "span delivered to %s and %s", prev, s.addr)
			at[id] = s.addr
		}
	}
	require.Len(t, at, len(lg))
	for id, tid := range lg {
		assert.Equal(t, ring.Get(tid[:]), at[id], "span %s at its ring owner", id)
	}
}

func waitGot(t *testing.T, want int64, sinks ...*grpcSink) {
	t.Helper()
	require.Eventually(t, func() bool {
		n := int64(0)
		for _, s := range sinks {
			n += s.got.Load()
		}
		return n == want
	}, 20*time.Second, 5*time.Millisecond)
}

// A gateway that accepts requests and never answers (frozen, or stuck under
// memory pressure) holds up only its own part: every call returns at once,
// the healthy gateways get all of theirs while it hangs, and when it
// answers again its part arrives, once.
func TestHungEndpointIsIsolatedThenCatchesUp(t *testing.T) {
	sinks, _, exp := fleetOf(t, 3)
	eps := addrs(sinks)
	hung := sinks[1]
	release := hung.hang()
	lg := ledger{}
	slowest := lg.send(t, exp, 40, 1)
	waitGot(t, lg.owned(eps, eps[0])+lg.owned(eps, eps[2]), sinks[0], sinks[2])
	assert.Zero(t, hung.got.Load())
	assert.Positive(t, hung.held.Load(), "the hung gateway holds requests in flight")
	t.Logf("40 calls while a gateway hangs: slowest %v", slowest)
	release()
	lg.exactlyOnce(t, sinks, hashring.New(eps))
}

// A gateway down long enough that every sender of its endpoint failed and
// waits for a retry, with a backoff far longer than the test. When it
// answers again, the sender that probes it (at least once a second)
// succeeds and wakes the others, so the backlog arrives without waiting
// for the configured backoff.
func TestDownEndpointBacklogDrainsWhenItAnswers(t *testing.T) {
	sinks, _, exp := fleetOf(t, 1, func(c *Config) {
		c.Protocol.OTLP.RetryConfig.InitialInterval = time.Minute
		c.Protocol.OTLP.RetryConfig.MaxInterval = time.Minute
		c.Protocol.OTLP.RetryConfig.MaxElapsedTime = 0
	})
	down := sinks[0]
	down.setRefuse(status.Error(codes.Unavailable, "down"))
	lg := ledger{}
	lg.send(t, exp, 30, 3)
	require.Eventually(t, func() bool { return down.calls.Load() >= 10 }, 10*time.Second, time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	down.setRefuse(nil)
	lg.exactlyOnce(t, sinks, hashring.New(addrs(sinks)))
}

// A hung gateway that leaves the ring: what it held (buffered and in
// flight) goes to the new owners, once, and nothing reaches it.
func TestHungEndpointLeavesTheRingItsDataMoves(t *testing.T) {
	// The timeout is also the grace period of a removed endpoint's sends.
	sinks, env, exp := fleetOf(t, 3, func(c *Config) { c.Protocol.OTLP.TimeoutConfig.Timeout = 3 * time.Second })
	eps := addrs(sinks)
	hung := sinks[1]
	release := hung.hang()
	defer release()
	lg := ledger{}
	lg.send(t, exp, 40, 2)
	waitGot(t, lg.owned(eps, eps[0])+lg.owned(eps, eps[2]), sinks[0], sinks[2])
	require.Positive(t, hung.held.Load())
	remaining := []string{eps[0], eps[2]}
	env.res.set(remaining)
	lg.exactlyOnce(t, []*grpcSink{sinks[0], sinks[2]}, hashring.New(remaining))
	assert.Zero(t, hung.got.Load())
	assert.Positive(t, counterValue(t, env.reader, "otelcol_loadbalancer_rerouted_items", "reason", reasonEndpointRemoved))
}

func retryInfo(t *testing.T, code codes.Code, delay time.Duration) error {
	st, err := status.New(code, "try later").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
	require.NoError(t, err)
	return st.Err()
}

// A gateway refusing with a retryable status (its memory_limiter, a
// RESOURCE_EXHAUSTED with RetryInfo) is retried per endpoint while the
// others deliver; when it accepts again its part arrives, once.
func TestRefusingEndpointIsRetriedAlone(t *testing.T) {
	tests := []struct {
		name   string
		refuse func(t *testing.T) error
	}{
		{"unavailable", func(*testing.T) error { return status.Error(codes.Unavailable, "memory limit") }},
		{"resource exhausted with retry info", func(t *testing.T) error { return retryInfo(t, codes.ResourceExhausted, 30*time.Millisecond) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sinks, env, exp := fleetOf(t, 3)
			eps := addrs(sinks)
			bad := sinks[2]
			bad.setRefuse(tt.refuse(t))
			lg := ledger{}
			lg.send(t, exp, 30, uint64(10+i))
			waitGot(t, lg.owned(eps, eps[0])+lg.owned(eps, eps[1]), sinks[0], sinks[1])
			require.Eventually(t, func() bool { return bad.calls.Load() > 10 }, 10*time.Second, 5*time.Millisecond, "retried")
			bad.setRefuse(nil)
			lg.exactlyOnce(t, sinks, hashring.New(eps))
			assert.Positive(t, counterValue(t, env.reader, "otelcol_loadbalancer_backend_outcome", "endpoint", bad.addr, "success", "false"))
			assert.Zero(t, counterValue(t, env.reader, "otelcol_loadbalancer_dropped_items"))
		})
	}
}

// RESOURCE_EXHAUSTED without RetryInfo is permanent for the OTLP exporter
// (as upstream): that endpoint's part is dropped, counted and logged, and
// the other endpoints are not affected.
func TestPermanentRefusalIsDroppedAndCounted(t *testing.T) {
	sinks, env, exp := fleetOf(t, 3)
	eps := addrs(sinks)
	bad := sinks[0]
	bad.setRefuse(status.Error(codes.ResourceExhausted, "no"))
	lg := ledger{}
	lg.send(t, exp, 10, 20)
	waitGot(t, lg.owned(eps, eps[1])+lg.owned(eps, eps[2]), sinks[1], sinks[2])
	want := lg.owned(eps, bad.addr)
	require.Eventually(t, func() bool {
		return counterValue(t, env.reader, "otelcol_loadbalancer_dropped_items", "endpoint", bad.addr, "reason", dropRejected) == want
	}, 10*time.Second, 5*time.Millisecond)
	assert.Zero(t, bad.got.Load())
}

// A gateway killed and restarted on the same address: its part waits in
// its buffer, the others keep flowing, and it all arrives once it is back.
func TestKilledEndpointRestartsAndCatchesUp(t *testing.T) {
	sinks, env, exp := fleetOf(t, 3)
	eps := addrs(sinks)
	lg := ledger{}
	lg.send(t, exp, 5, 30)
	waitGot(t, int64(len(lg)), sinks...)
	settled(t, env)
	dead := sinks[1]
	dead.stop()
	lg.send(t, exp, 30, 31)
	waitGot(t, lg.owned(eps, eps[0])+lg.owned(eps, eps[2]), sinks[0], sinks[2])
	reborn := &grpcSink{ids: dead.spanIDs()}
	reborn.got.Store(dead.got.Load())
	reborn.listen(t, dead.addr)
	lg.exactlyOnce(t, []*grpcSink{sinks[0], reborn, sinks[2]}, hashring.New(eps))
	assert.Zero(t, counterValue(t, env.reader, "otelcol_loadbalancer_dropped_items"))
}
