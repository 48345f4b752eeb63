package spanmetrics

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/receiver"
)

// anyConfig accepts whatever keys the seed gives a stand-in component.
type anyConfig struct {
	Rest map[string]any `mapstructure:",remain"`
}

type lifecycle struct{}

func (lifecycle) Start(context.Context, component.Host) error { return nil }
func (lifecycle) Shutdown(context.Context) error              { return nil }

type fakeReceiver struct {
	lifecycle
	next consumer.Traces
	got  chan consumer.Traces
}

func (r *fakeReceiver) Start(context.Context, component.Host) error { r.got <- r.next; return nil }

type passProcessor struct {
	lifecycle
	consumer.Traces
}

// gatewayFactories stands in for the components this module does not own
// (otlp receiver, memory_limiter, tail_sampling, batch, prometheus) with the
// seed's type names; span_metrics and the otlp exporter are the real ones.
func gatewayFactories(t *testing.T, recv chan consumer.Traces, prom *consumertest.MetricsSink) otelcol.Factories {
	f, err := otelcoltest.NopFactories()
	require.NoError(t, err)
	newCfg := func() component.Config { return &anyConfig{} }
	f.Receivers, err = otelcol.MakeFactoryMap(receiver.NewFactory(component.MustNewType("otlp"), newCfg,
		receiver.WithTraces(func(_ context.Context, _ receiver.Settings, _ component.Config, next consumer.Traces) (receiver.Traces, error) {
			return &fakeReceiver{next: next, got: recv}, nil
		}, component.StabilityLevelStable)))
	require.NoError(t, err)
	proc := func(name string, drop bool) processor.Factory {
		return processor.NewFactory(component.MustNewType(name), newCfg,
			processor.WithTraces(func(_ context.Context, _ processor.Settings, _ component.Config, next consumer.Traces) (processor.Traces, error) {
				if drop { // tail sampling stand-in: samples nothing
					next = consumertest.NewNop()
				}
				return &passProcessor{Traces: next}, nil
			}, component.StabilityLevelStable))
	}
	f.Processors, err = otelcol.MakeFactoryMap(proc("memory_limiter", false), proc("tail_sampling", true), proc("batch", false))
	require.NoError(t, err)
	f.Exporters, err = otelcol.MakeFactoryMap(otlpexporter.NewFactory(), exporter.NewFactory(component.MustNewType("prometheus"), newCfg,
		exporter.WithMetrics(func(context.Context, exporter.Settings, component.Config) (exporter.Metrics, error) {
			return struct {
				lifecycle
				consumer.Metrics
			}{Metrics: prom}, nil
		}, component.StabilityLevelStable)))
	require.NoError(t, err)
	f.Connectors, err = otelcol.MakeFactoryMap(NewFactory())
	require.NoError(t, err)
	return f
}

func TestReferenceGatewayConfigLoads(t *testing.T) {
	f := gatewayFactories(t, make(chan consumer.Traces, 1), new(consumertest.MetricsSink))
	cfg, err := otelcoltest.LoadConfigAndValidate("testdata/gateway.yaml", f)
	require.NoError(t, err)
	c, ok := cfg.Connectors[component.MustNewID("spanmetrics")].(*Config)
	require.True(t, ok)
	assert.Len(t, c.Histogram.Explicit.Buckets, 5)
}

// TestReferenceGatewayRuns runs the reference gateway's three pipelines in a real collector:
// spans enter the shared receiver, the metrics pipeline receives RED
// metrics from the connector, flushed at shutdown.
func TestReferenceGatewayRuns(t *testing.T) {
	recv := make(chan consumer.Traces, 1)
	prom := new(consumertest.MetricsSink)
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		Factories:               func() (otelcol.Factories, error) { return gatewayFactories(t, recv, prom), nil },
		BuildInfo:               component.NewDefaultBuildInfo(),
		DisableGracefulShutdown: true,
		SkipSettingGRPCLogger:   true,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              []string{"file:testdata/gateway.yaml"},
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
		}},
	})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	var runErr error
	go func() { defer wg.Done(); runErr = col.Run(context.Background()) }()

	var next consumer.Traces
	select {
	case next = <-recv:
	case <-time.After(30 * time.Second):
		t.Fatal("collector did not start")
	}
	require.Eventually(t, func() bool { return col.GetState() == otelcol.StateRunning }, 30*time.Second, 10*time.Millisecond)
	td := traces(checkout, serverGET(120*time.Millisecond, 200), serverGET(300*time.Millisecond, 200), dbError(2*time.Second))
	require.NoError(t, next.ConsumeTraces(context.Background(), td))
	col.Shutdown()
	wg.Wait()
	require.NoError(t, runErr)

	require.Len(t, prom.AllMetrics(), 1, "the connector flushes at shutdown")
	pts := flatten(prom.AllMetrics()[0])
	require.Len(t, pts, 4)
	assert.Equal(t, int64(2), pts[0].Value)
	assert.Equal(t, []uint64{0, 1, 1, 0, 0, 0}, pts[2].Buckets)
}
