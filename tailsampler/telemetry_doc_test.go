package tailsampler

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/tailgate-otel/tailgate/internal/telemetrytest"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// TestTelemetryDocumented builds the processor from its factory with the
// handoff on (testdata/telemetry.yaml: a two-gateway ring whose peer
// refuses connections, a tiny num_traces), sends traces, lets them be
// decided, early and on time, and shuts down; then it checks every
// instrument created and every attribute recorded against metadata.yaml
// and the resolver's.
func TestTelemetryDocumented(t *testing.T) {
	ctx := context.Background()
	rec := telemetrytest.NewForTest(t)

	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "telemetry.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("tail_sampling")
	require.NoError(t, err)
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))

	set := newNopSettings()
	set.MeterProvider = rec
	sink := &consumertest.TracesSink{}
	p, err := f.CreateTraces(ctx, set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx, componenttest.NewNopHost()))
	for _, td := range tracegen.Batches(tracegen.Spec{Traces: 60, SpansPerTrace: 3, TracesPerBatch: 20, ErrorEvery: 5}) {
		require.NoError(t, p.ConsumeTraces(ctx, td))
	}
	// Past decision_wait and the handoff window: what the peer could not
	// take is decided here.
	require.Eventually(t, func() bool { return sink.SpanCount() > 0 }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(cfg.Handoff.Get().Window + cfg.DecisionWait)
	require.NoError(t, p.Shutdown(ctx))

	telemetrytest.Check(t, rec, "metadata.yaml", "../resolver/metadata.yaml")
}
