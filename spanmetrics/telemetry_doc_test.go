package spanmetrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/tailgate-otel/tailgate/internal/telemetrytest"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// TestTelemetryDocumented builds the connector from its factory with small
// limits (2 series per metric, 2 resources), feeds it spans of ten
// services and one without service.name, flushes into a consumer that
// refuses, and checks every instrument created and every attribute
// recorded against metadata.yaml.
func TestTelemetryDocumented(t *testing.T) {
	ctx := context.Background()
	rec := telemetrytest.NewForTest(t)

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.AggregationCardinalityLimit = 2
	cfg.ResourceMetricsCacheSize = 2
	cfg.MetricsFlushInterval = 20 * time.Millisecond
	set := connectortest.NewNopSettings(f.Type())
	set.MeterProvider = rec
	c, err := f.CreateTracesToMetrics(ctx, set, cfg, consumertest.NewErr(errors.New("refused")))
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	batches := tracegen.Batches(tracegen.Spec{Traces: 50, SpansPerTrace: 4, Services: 10})
	batches[0].ResourceSpans().At(0).Resource().Attributes().Remove("service.name")
	for _, td := range batches {
		require.NoError(t, c.ConsumeTraces(ctx, td))
	}
	time.Sleep(3 * cfg.MetricsFlushInterval)
	require.Error(t, c.Shutdown(ctx), "the final flush is refused too")

	telemetrytest.Check(t, rec, "metadata.yaml")
}
