package spanmetrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestShutdownFlushesPending(t *testing.T) {
	h := newHarness(t, seedConfig())
	h.consume(t, t0, traces(checkout, serverGET(time.Millisecond, 200)))
	require.NoError(t, h.c.Shutdown(context.Background()))
	require.Len(t, h.sink.AllMetrics(), 1)
	assert.Equal(t, 2, h.sink.AllMetrics()[0].DataPointCount())
	require.NoError(t, h.c.Shutdown(context.Background()), "idempotent")
	require.Len(t, h.sink.AllMetrics(), 1)
	assert.ErrorIs(t, h.c.ConsumeTraces(context.Background(), traces(checkout)), ErrShutdown)
}

func TestShutdownBeforeStart(t *testing.T) {
	c, err := newConnector(componenttest.NewNopTelemetrySettings(), seedConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, c.Shutdown(context.Background()))
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()), "start after shutdown is a no-op")
}

type blockingConsumer struct {
	consumertest.MetricsSink
}

func (b *blockingConsumer) ConsumeMetrics(ctx context.Context, _ pmetric.Metrics) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestShutdownHonoursDeadline(t *testing.T) {
	c, err := newConnector(componenttest.NewNopTelemetrySettings(), seedConfig(), &blockingConsumer{})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(checkout, dbError(time.Millisecond))))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestTickerDrivesFlush(t *testing.T) {
	tick := make(chan time.Time)
	sink := new(consumertest.MetricsSink)
	c, err := newConnector(componenttest.NewNopTelemetrySettings(), seedConfig(), sink,
		withTicker(func(d time.Duration) (<-chan time.Time, func()) {
			assert.Equal(t, time.Minute, d)
			return tick, func() {}
		}))
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(checkout, dbError(time.Millisecond))))
	tick <- time.Now()
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, c.Shutdown(context.Background()))
}

func TestInputIsNotRetained(t *testing.T) {
	h := newHarness(t, seedConfig())
	td := traces(map[string]any{"service.name": "checkout", "pod": "a"}, serverGET(120*time.Millisecond, 200))
	h.consume(t, t0, td)
	want := flatten(h.flush(t, t0.Add(time.Minute)))

	// Mutate everything the connector read.
	rs := td.ResourceSpans().At(0)
	rs.Resource().Attributes().PutStr("service.name", "mutated")
	rs.Resource().Attributes().PutStr("pod", "mutated")
	sp := rs.ScopeSpans().At(0).Spans().At(0)
	sp.SetName("mutated")
	sp.Attributes().PutStr("http.method", "mutated")
	sp.Attributes().Clear()

	got := flatten(h.flush(t, t0.Add(time.Minute)))
	require.Equal(t, want, got)
}

func TestConcurrentConsumeIsExact(t *testing.T) {
	cfg := seedConfig()
	cfg.Exemplars.Enabled = true
	h := newHarness(t, cfg)
	const workers, rounds = 4, 50
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				td := traces(checkout, serverGET(time.Millisecond, 200), serverGET(time.Millisecond, 200+r%3))
				addResource(td, map[string]any{"service.name": fmt.Sprintf("svc-%d", r%5)}, dbError(time.Second))
				_ = h.c.ConsumeTraces(context.Background(), td)
				if r%10 == 0 {
					_ = h.c.flush(context.Background())
				}
			}
		}()
	}
	wg.Wait()
	var calls int64
	for _, p := range flatten(h.flush(t, t0.Add(time.Hour))) {
		if p.Metric == "traces.span.metrics.calls" {
			calls += p.Value
		}
	}
	assert.Equal(t, int64(workers*rounds*3), calls)
}

type failingConsumer struct{ consumer.Metrics }

func (*failingConsumer) ConsumeMetrics(context.Context, pmetric.Metrics) error {
	return errors.New("down")
}

var _ consumer.Metrics = (*failingConsumer)(nil)

func TestSelfTelemetry(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	set := componenttest.NewNopTelemetrySettings()
	set.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	cfg := seedConfig()
	cfg.AggregationCardinalityLimit = 1
	c, err := newConnector(set, cfg, &failingConsumer{Metrics: consumertest.NewNop()})
	require.NoError(t, err)
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(map[string]any{"x": 1}, dbError(0), dbError(0))))
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(checkout, dbError(0), serverGET(0, 200))))
	require.Error(t, c.flush(context.Background()))
	require.Error(t, c.flush(context.Background()))
	defer func() { require.Error(t, c.Shutdown(context.Background())) }()

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					got[m.Name] += dp.Value
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					got[m.Name] += dp.Value
				}
			}
		}
	}
	assert.Equal(t, int64(2), got[metricSpansDropped])
	assert.Equal(t, int64(1), got[metricSpansOverflowed])
	assert.Equal(t, int64(2), got[metricFlushFailures])
	assert.Equal(t, int64(2), got[metricActiveSeries], "one series + one overflow series")
}
