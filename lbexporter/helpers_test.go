package lbexporter

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/metadata"

	"github.com/tailgate-otel/tailgate/internal/failovermark"
	"github.com/tailgate-otel/tailgate/resolver"
)

// fakeResolver hands endpoint sets to the listener when the test says so.
type fakeResolver struct {
	mu      sync.Mutex
	l       resolver.Listener
	initial []string
	cur     []string
}

func (f *fakeResolver) newRes(_ resolver.Config, _ resolver.Settings, l resolver.Listener) (resolver.Resolver, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.l = l
	return f, nil
}

func (f *fakeResolver) Start(context.Context) error { f.set(f.initial); return nil }
func (f *fakeResolver) Shutdown(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.l = nil
	return nil
}
func (f *fakeResolver) Endpoints() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cur...)
}

func (f *fakeResolver) set(eps []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur = eps
	if f.l != nil {
		f.l(resolver.SortDedupe(append([]string(nil), eps...)))
	}
}

// memSink is an in-memory backend for one endpoint; fail makes it fail,
// failTimes makes only the next n calls fail.
type memSink struct {
	mu        sync.Mutex
	traces    []ptrace.Traces
	logs      []plog.Logs
	metrics   []pmetric.Metrics
	marked    []bool // per accepted batch: sent with the failover mark
	fail      error
	failTimes int
	calls     int
}

func (s *memSink) setFailTimes(err error, n int) {
	s.mu.Lock()
	s.fail, s.failTimes = err, n
	s.mu.Unlock()
}

func (s *memSink) Start(context.Context, component.Host) error { return nil }
func (s *memSink) Shutdown(context.Context) error              { return nil }

func (s *memSink) setFail(err error) { s.mu.Lock(); s.fail = err; s.mu.Unlock() }

func consumeInto[T any](s *memSink, dst *[]T) func(context.Context, T) error {
	return func(ctx context.Context, d T) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		if s.fail != nil {
			err := s.fail
			if s.failTimes > 0 {
				if s.failTimes--; s.failTimes == 0 {
					s.fail = nil
				}
			}
			return err
		}
		*dst = append(*dst, d)
		md, _ := metadata.FromOutgoingContext(ctx)
		s.marked = append(s.marked, len(md.Get(failovermark.Header)) > 0)
		return nil
	}
}

type memSinks struct {
	mu sync.Mutex
	m  map[string]*memSink
}

func (ms *memSinks) get(ep string) *memSink {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.m == nil {
		ms.m = map[string]*memSink{}
	}
	s, ok := ms.m[ep]
	if !ok {
		s = &memSink{}
		ms.m[ep] = s
	}
	return s
}

func (ms *memSinks) spansByEndpoint() map[string][]ptrace.Traces {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := map[string][]ptrace.Traces{}
	for ep, s := range ms.m {
		s.mu.Lock()
		out[ep] = append([]ptrace.Traces(nil), s.traces...)
		s.mu.Unlock()
	}
	return out
}

func testConfig(mut ...func(*Config)) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Resolver.Static = &resolver.StaticConfig{Hostnames: []string{"unused"}}
	for _, m := range mut {
		m(cfg)
	}
	return cfg
}

type testEnv struct {
	res    *fakeResolver
	sinks  *memSinks
	reader *sdkmetric.ManualReader
	set    component.TelemetrySettings
}

func newTestEnv(eps ...string) *testEnv {
	reader := sdkmetric.NewManualReader()
	set := componenttest.NewNopTelemetrySettings()
	set.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	return &testEnv{res: &fakeResolver{initial: eps}, sinks: &memSinks{}, reader: reader, set: set}
}

func newMemTraces(t testing.TB, env *testEnv, cfg *Config) *lb[ptrace.Traces] {
	key, err := cfg.routingKeyFor("traces")
	require.NoError(t, err)
	ops := tracesOps(newTraceSplitter(key, cfg.RoutingAttributes))
	ops.newBackend = func(_ context.Context, ep string) (component.Component, func(context.Context, ptrace.Traces) error, error) {
		s := env.sinks.get(ep)
		return s, consumeInto(s, &s.traces), nil
	}
	l, err := newLB(env.set, cfg, ops, env.res.newRes)
	require.NoError(t, err)
	require.NoError(t, l.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, l.shutdown(context.Background())) })
	return l
}

func newMemLogs(t testing.TB, env *testEnv, cfg *Config) *lb[plog.Logs] {
	key, err := cfg.routingKeyFor("logs")
	require.NoError(t, err)
	ops := logsOps(newLogSplitter(key, cfg.RoutingAttributes))
	ops.newBackend = func(_ context.Context, ep string) (component.Component, func(context.Context, plog.Logs) error, error) {
		s := env.sinks.get(ep)
		return s, consumeInto(s, &s.logs), nil
	}
	l, err := newLB(env.set, cfg, ops, env.res.newRes)
	require.NoError(t, err)
	require.NoError(t, l.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, l.shutdown(context.Background())) })
	return l
}

func newMemMetrics(t testing.TB, env *testEnv, cfg *Config) *lb[pmetric.Metrics] {
	key, err := cfg.routingKeyFor("metrics")
	require.NoError(t, err)
	ops := metricsOps(newMetricSplitter(key, cfg.RoutingAttributes))
	ops.newBackend = func(_ context.Context, ep string) (component.Component, func(context.Context, pmetric.Metrics) error, error) {
		s := env.sinks.get(ep)
		return s, consumeInto(s, &s.metrics), nil
	}
	l, err := newLB(env.set, cfg, ops, env.res.newRes)
	require.NoError(t, err)
	require.NoError(t, l.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, l.shutdown(context.Background())) })
	return l
}

// counterValue sums an int64 sum metric's points whose attributes contain
// every key=value given.
func counterValue(t testing.TB, r *sdkmetric.ManualReader, name string, kv ...string) int64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
		points:
			for _, dp := range sum.DataPoints {
				for i := 0; i+1 < len(kv); i += 2 {
					v, ok := dp.Attributes.Value(attributeKey(kv[i]))
					if !ok || v.String() != kv[i+1] {
						continue points
					}
				}
				total += dp.Value
			}
		}
	}
	return total
}

var errSinkDown = errors.New("sink down")

func attributeKey(s string) attribute.Key { return attribute.Key(s) }

type componentT = component.Component

func startLB[T any](t testing.TB, env *testEnv, cfg *Config, ops signalOps[T]) *lb[T] {
	l, err := newLB(env.set, cfg, ops, env.res.newRes)
	require.NoError(t, err)
	require.NoError(t, l.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, l.shutdown(context.Background())) })
	return l
}

// flush waits until everything pushed so far has left the buffers.
func flush[T any](t testing.TB, l *lb[T]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, l.waitIdle(ctx))
}

// pushFlush pushes data and waits until it has left the buffers.
func pushFlush[T any](t testing.TB, l *lb[T], data T) {
	t.Helper()
	require.NoError(t, l.push(context.Background(), data))
	flush(t, l)
}

// synchronous turns the per-endpoint buffers off: every push waits for
// its sends, and per-endpoint failures come back as partial errors.
func synchronous(c *Config) {
	c.Protocol.OTLP.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
}

// noRetry makes a failed send fail at once.
func noRetry(c *Config) { c.Protocol.OTLP.RetryConfig.Enabled = false }

// host is a component.Host with the given extensions.
type host struct {
	exts map[component.ID]component.Component
}

func newHost(exts map[component.ID]component.Component) component.Host { return host{exts: exts} }

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

// waitIdle waits until every buffer of the current table is empty and no
// hand-off or retirement is running, or ctx ends (tests, benchmarks).
func (l *lb[T]) waitIdle(ctx context.Context) error {
	for {
		idle := l.transit.Load() == 0
		if t := l.table.Load(); t != nil && idle {
			for _, b := range t.backends {
				if b.buf == nil {
					continue
				}
				if used := b.buf.size(); used > 0 {
					idle = false
					break
				}
			}
		}
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Microsecond):
		}
	}
}

// gaugeSum sums an int64 gauge's points.
func gaugeSum(t testing.TB, r *sdkmetric.ManualReader, name string) (int64, bool) {
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == name {
				var total int64
				for _, dp := range g.DataPoints {
					total += dp.Value
				}
				return total, true
			}
		}
	}
	return 0, false
}

// settled waits until every endpoint buffer of the exporter reporting to
// env is empty, answers included: a sink may then stop without a send
// being left unanswered (which would be sent again, at-least-once).
func settled(t testing.TB, env *testEnv) {
	t.Helper()
	require.Eventually(t, func() bool {
		n, ok := gaugeSum(t, env.reader, "otelcol_loadbalancer_queue_size")
		return ok && n == 0
	}, 20*time.Second, 5*time.Millisecond)
}
