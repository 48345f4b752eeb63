package lbexporter

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

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

// memSink is an in-memory backend for one endpoint; fail makes it fail.
type memSink struct {
	mu      sync.Mutex
	traces  []ptrace.Traces
	logs    []plog.Logs
	metrics []pmetric.Metrics
	fail    error
	calls   int
}

func (s *memSink) Start(context.Context, component.Host) error { return nil }
func (s *memSink) Shutdown(context.Context) error              { return nil }

func (s *memSink) setFail(err error) { s.mu.Lock(); s.fail = err; s.mu.Unlock() }

func consumeInto[T any](s *memSink, dst *[]T) func(context.Context, T) error {
	return func(_ context.Context, d T) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		if s.fail != nil {
			return s.fail
		}
		*dst = append(*dst, d)
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
