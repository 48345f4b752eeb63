package lbexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tailgate-otel/tailgate/internal/telemetrytest"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/resolver"
)

// TestTelemetryDocumented builds the exporter from its factory with
// failover on, routes traces over real gRPC to one live and one refusing
// endpoint (plus a span without trace ID), and checks every instrument it
// created and every attribute it recorded against metadata.yaml and the
// resolver's.
func TestTelemetryDocumented(t *testing.T) {
	ctx := context.Background()
	rec := telemetrytest.NewForTest(t)
	live := newGRPCSink(t, "127.0.0.1:0")

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	fastOTLP(cfg)
	cfg.Protocol.OTLP.RetryConfig.Enabled = false
	cfg.BackOffConfig.Enabled = false
	cfg.QueueSettings = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.Resolver.Static = &resolver.StaticConfig{Hostnames: []string{live.addr, "127.0.0.1:1"}}
	cfg.Failover = FailoverConfig{Enabled: true, MaxConsecutiveFailures: 1, ProbeInterval: time.Hour}

	set := exportertest.NewNopSettings(f.Type())
	set.MeterProvider = rec
	exp, err := f.CreateTraces(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
	for _, td := range tracegen.Batches(tracegen.Spec{Traces: 40, SpansPerTrace: 1, TracesPerBatch: 10}) {
		_ = exp.ConsumeTraces(ctx, td) // the refusing endpoint's share fails until failover
	}
	noID := tracegen.Batches(tracegen.Spec{Traces: 1, SpansPerTrace: 1})[0]
	noID.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetTraceID(pcommon.NewTraceIDEmpty())
	require.NoError(t, exp.ConsumeTraces(ctx, noID))
	require.NoError(t, exp.Shutdown(ctx))

	telemetrytest.Check(t, rec, "metadata.yaml", "../resolver/metadata.yaml")
}
