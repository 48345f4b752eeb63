package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/tailgate-otel/tailgate/examples/internal/wire"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
	"github.com/tailgate-otel/tailgate/lbexporter"
	"github.com/tailgate-otel/tailgate/resolver"
)

type extHost struct {
	exts map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// agentRun is one run of an agent's load_balancing exporter with its
// buffers in the distribution's file_storage extension.
type agentRun struct {
	ext extension.Extension
	exp exporter.Traces
}

func startAgentRun(t *testing.T, f otelcol.Factories, dir, gateway string) agentRun {
	t.Helper()
	ctx := context.Background()
	fsID := component.MustNewIDWithName("file_storage", "lb")
	fsf := f.Extensions[fsID.Type()]
	fsCfg := fsf.CreateDefaultConfig().(*filestorage.Config)
	fsCfg.Directory = dir
	ext, err := fsf.Create(ctx, extensiontest.NewNopSettings(fsID.Type()), fsCfg)
	require.NoError(t, err)
	host := extHost{exts: map[component.ID]component.Component{fsID: ext}}
	require.NoError(t, ext.Start(ctx, host))

	lbf := f.Exporters[lbexporter.Type]
	cfg := lbf.CreateDefaultConfig().(*lbexporter.Config)
	cfg.Resolver.Static = &resolver.StaticConfig{Hostnames: []string{gateway}}
	cfg.Protocol.OTLP.ClientConfig.TLS.Insecure = true
	cfg.Protocol.OTLP.RetryConfig.InitialInterval = 20 * time.Millisecond
	cfg.Protocol.OTLP.QueueConfig.Get().StorageID = &fsID
	set := exportertest.NewNopSettings(lbexporter.Type)
	set.ID = component.MustNewID("loadbalancing") // as in the agent's config, run after run
	exp, err := lbf.CreateTraces(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, host))
	return agentRun{ext: ext, exp: exp}
}

func (r agentRun) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.exp.Shutdown(context.Background()))
	require.NoError(t, r.ext.Shutdown(context.Background()))
}

// An agent stops while its gateway is down; the next run of the agent,
// with the same file_storage directory, delivers what the first one held.
func TestPersistentBuffersSurviveAgentRestart(t *testing.T) {
	f := factories(t)
	dir := t.TempDir()
	// An address nobody serves yet: the gateway is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gateway := ln.Addr().String()
	require.NoError(t, ln.Close())

	first := startAgentRun(t, f, dir, gateway)
	spec := tracegen.Spec{Traces: 50, SpansPerTrace: 4, TracesPerBatch: 10, Seed: 5}
	for _, td := range tracegen.Batches(spec) {
		require.NoError(t, first.exp.ConsumeTraces(context.Background(), td))
	}
	first.stop(t)

	sink, err := wire.StartSink(gateway)
	require.NoError(t, err)
	defer sink.Stop()
	second := startAgentRun(t, f, dir, gateway)
	defer second.stop(t)
	require.Eventually(t, func() bool {
		distinct, _ := sink.Spans()
		return distinct == 200
	}, 20*time.Second, 10*time.Millisecond, "what the first run buffered reaches the gateway")
	for i := range spec.Traces {
		require.Equal(t, 4, sink.SpansOf(tracegen.TraceID(spec.Seed, i)))
	}
}
