package lbexporter

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// gate is a backend that holds every send until opened, counting how many
// are held at once.
type gate struct {
	open    chan struct{}
	held    atomic.Int32
	maxHeld atomic.Int32
	spans   atomic.Int64
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) release() { close(g.open) }

func (g *gate) consume(ctx context.Context, td ptrace.Traces) error {
	n := g.held.Add(1)
	for {
		m := g.maxHeld.Load()
		if n <= m || g.maxHeld.CompareAndSwap(m, n) {
			break
		}
	}
	defer g.held.Add(-1)
	select {
	case <-g.open:
		g.spans.Add(int64(td.SpanCount()))
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gated starts a load balancer over one endpoint whose sends wait on g.
func gated(t *testing.T, g *gate, mut ...func(*Config)) *lb[ptrace.Traces] {
	env := newTestEnv("gw:4317")
	ops := tracesOps(newTraceSplitter(RoutingTraceID, nil))
	ops.newBackend = func(context.Context, string) (componentT, func(context.Context, ptrace.Traces) error, error) {
		return &memSink{}, g.consume, nil
	}
	l, err := newLB(env.set, testConfig(mut...), ops, env.res.newRes)
	require.NoError(t, err)
	require.NoError(t, l.start(context.Background(), newHost(nil)))
	t.Cleanup(func() {
		select {
		case <-g.open:
		default:
			g.release()
		}
		require.NoError(t, l.shutdown(context.Background()))
	})
	return l
}

func queue(mut func(q *queueCfg)) func(*Config) {
	return func(c *Config) { mut(c.Protocol.OTLP.QueueConfig.Get()) }
}

func spans(n int, seed uint64) ptrace.Traces {
	return tracegen.Batches(tracegen.Spec{Traces: n, SpansPerTrace: 1, TracesPerBatch: n, Seed: seed})[0]
}

// Every key of protocol.otlp.sending_queue, as core v0.165 defines it, is
// read from YAML and means what it means upstream, per endpoint.
func TestSendingQueueKeysFromYAML(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"resolver": map[string]any{"static": map[string]any{"hostnames": []any{"a"}}},
		"protocol": map[string]any{"otlp": map[string]any{"sending_queue": map[string]any{
			"enabled": true, "sizer": "items", "queue_size": 5000, "num_consumers": 3,
			"block_on_overflow": true, "wait_for_result": true,
		}}},
	}).Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, queueSettings{enabled: true, sizer: sizeItems, limit: 5000, consumers: 3, block: true, wait: true}, queueSettingsOf(cfg))

	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"protocol": map[string]any{"otlp": map[string]any{"sending_queue": map[string]any{
			"sizer": "bytes", "storage": "file_storage/agent", "wait_for_result": false,
		}}},
	}).Unmarshal(cfg))
	q := queueSettingsOf(cfg)
	assert.Equal(t, sizeBytes, q.sizer)
	require.NotNil(t, q.storage)
	assert.Equal(t, "file_storage/agent", q.storage.String())

	off := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"protocol": map[string]any{"otlp": map[string]any{"sending_queue": map[string]any{"enabled": false}}},
	}).Unmarshal(off))
	assert.False(t, queueSettingsOf(off).enabled)
}

// Keys that cannot be honoured per endpoint are refused, naming the key.
func TestSendingQueueKeysRefused(t *testing.T) {
	tests := []struct {
		name  string
		queue map[string]any
		want  string
	}{
		{"batching inside the endpoint buffer", map[string]any{"batch": map[string]any{"flush_timeout": "1s"}}, "protocol::otlp::sending_queue::batch"},
		{"unknown key (blocking)", map[string]any{"blocking": true}, "blocking"},
		{"core's own checks", map[string]any{"queue_size": 0}, "queue_size"},
		{"wait_for_result with storage", map[string]any{"wait_for_result": true, "storage": "file_storage"}, "wait_for_result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			err := confmap.NewFromStringMap(map[string]any{
				"resolver": map[string]any{"static": map[string]any{"hostnames": []any{"a"}}},
				"protocol": map[string]any{"otlp": map[string]any{"sending_queue": tt.queue}},
			}).Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// queue_size with sizer items bounds what one endpoint holds, queued and in
// flight; beyond it only that endpoint's part comes back, retryable.
func TestQueueSizeBoundsTheEndpoint(t *testing.T) {
	g := newGate()
	l := gated(t, g, queue(func(q *queueCfg) {
		q.Sizer = sizerItems
		q.QueueSize = 100
		q.NumConsumers = 2
	}))
	accepted := 0
	var refused error
	for i := range 10 {
		err := l.push(context.Background(), spans(30, uint64(i)))
		if err != nil {
			refused = err
			break
		}
		accepted += 30
	}
	require.ErrorIs(t, refused, ErrBufferFull)
	assert.False(t, consumererror.IsPermanent(refused))
	assert.Equal(t, 90, accepted, "three parts of 30 fit in 100, a fourth does not")
	used := l.table.Load().backends[0].buf.size()
	assert.EqualValues(t, 90, used)
	g.release()
	flush(t, l)
	assert.EqualValues(t, 90, g.spans.Load())
}

// num_consumers is how many sends run at once per endpoint.
func TestNumConsumersPerEndpoint(t *testing.T) {
	g := newGate()
	l := gated(t, g, queue(func(q *queueCfg) { q.NumConsumers = 3 }))
	for i := range 10 {
		require.NoError(t, l.push(context.Background(), spans(5, uint64(i))))
	}
	require.Eventually(t, func() bool { return g.held.Load() == 3 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	assert.EqualValues(t, 3, g.maxHeld.Load())
	g.release()
	flush(t, l)
	assert.EqualValues(t, 50, g.spans.Load())
}

// block_on_overflow waits for room (or the caller's deadline) instead of
// refusing.
func TestBlockOnOverflowWaitsForRoom(t *testing.T) {
	g := newGate()
	l := gated(t, g, queue(func(q *queueCfg) {
		q.QueueSize = 2
		q.NumConsumers = 1
		q.BlockOnOverflow = true
	}))
	require.NoError(t, l.push(context.Background(), spans(1, 1)))
	require.NoError(t, l.push(context.Background(), spans(1, 2)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := l.push(ctx, spans(1, 3))
	require.ErrorIs(t, err, context.DeadlineExceeded, "still full when the caller gave up")
	done := make(chan error, 1)
	go func() { done <- l.push(context.Background(), spans(1, 4)) }()
	select {
	case err := <-done:
		t.Fatalf("push returned %v while the buffer was full", err)
	case <-time.After(20 * time.Millisecond):
	}
	g.release()
	require.NoError(t, <-done)
	flush(t, l)
	assert.EqualValues(t, 3, g.spans.Load())
}

// wait_for_result makes the call wait until its parts are delivered.
func TestWaitForResultWaitsForDelivery(t *testing.T) {
	g := newGate()
	l := gated(t, g, queue(func(q *queueCfg) { q.WaitForResult = true }))
	done := make(chan error, 1)
	go func() { done <- l.push(context.Background(), spans(10, 1)) }()
	select {
	case err := <-done:
		t.Fatalf("push returned %v before delivery", err)
	case <-time.After(20 * time.Millisecond):
	}
	g.release()
	require.NoError(t, <-done)
	assert.EqualValues(t, 10, g.spans.Load())
}

type queueCfg = exporterhelper.QueueBatchConfig

var sizerItems = exporterhelper.RequestSizerTypeItems

// Shutdown with memory buffers: what a failing endpoint still holds is
// counted as dropped (reason shutdown) after one failed attempt, instead
// of costing a timeout per buffered part; nothing is left uncounted.
func TestShutdownCountsWhatAFailingEndpointHolds(t *testing.T) {
	eps := endpoints(2)
	env := newTestEnv(eps...)
	cfg := testConfig(func(c *Config) {
		c.Protocol.OTLP.RetryConfig.InitialInterval = time.Minute
		c.Protocol.OTLP.RetryConfig.MaxInterval = time.Minute
		c.Protocol.OTLP.QueueConfig.Get().NumConsumers = 2
	})
	key, _ := cfg.routingKeyFor("traces")
	ops := tracesOps(newTraceSplitter(key, nil))
	bad := eps[1]
	var badCalls atomic.Int64
	ops.newBackend = func(_ context.Context, ep string) (componentT, func(context.Context, ptrace.Traces) error, error) {
		s := env.sinks.get(ep)
		if ep == bad {
			return s, func(context.Context, ptrace.Traces) error { badCalls.Add(1); return errSinkDown }, nil
		}
		return s, consumeInto(s, &s.traces), nil
	}
	l, err := newLB(env.set, cfg, ops, env.res.newRes)
	require.NoError(t, err)
	require.NoError(t, l.start(context.Background(), newHost(nil)))
	want := 0
	for i := range 20 {
		td := spans(20, uint64(i))
		want += spansOwnedBy(td, hashring.New(eps), bad)
		require.NoError(t, l.push(context.Background(), td))
	}
	require.Eventually(t, func() bool { return badCalls.Load() >= 2 }, 5*time.Second, time.Millisecond)
	before := badCalls.Load()
	require.NoError(t, l.shutdown(context.Background()))
	assert.LessOrEqual(t, badCalls.Load()-before, int64(2), "at most one more attempt per sender")
	assert.EqualValues(t, want, counterValue(t, env.reader, "otelcol_loadbalancer_dropped_items", "endpoint", bad, "reason", dropShutdown))
	assert.Equal(t, 400-want, deliveredSpans(env, eps[0]), "the healthy endpoint got all of its part")
}
