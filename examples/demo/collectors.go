package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/tailgate-otel/tailgate/lbexporter"
	"github.com/tailgate-otel/tailgate/spanmetrics"
	"github.com/tailgate-otel/tailgate/tailsampler"
)

// factories are the demo's components: the same factories the examples'
// collector distribution is built from (minus what the demo does not use).
func factories() (otelcol.Factories, error) {
	var err error
	f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](batchprocessor.NewFactory(), tailsampler.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](otlpexporter.NewFactory(), lbexporter.NewFactory()); err != nil {
		return f, err
	}
	if f.Connectors, err = otelcol.MakeFactoryMap[connector.Factory](spanmetrics.NewFactory()); err != nil {
		return f, err
	}
	if f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](); err != nil {
		return f, err
	}
	return f, nil
}

// collector is one in-process OpenTelemetry Collector running a YAML config.
type collector struct {
	name string
	col  *otelcol.Collector
	done chan error
}

// startCollector writes yaml to dir and runs a collector on it until stop.
// It returns once the collector runs (or failed to start).
func startCollector(ctx context.Context, dir, name, yaml string) (*collector, error) {
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo:               component.BuildInfo{Command: "tailgate-demo", Description: "tailgate demo", Version: "0.1.0"},
		Factories:               factories,
		DisableGracefulShutdown: true, // the demo owns signals
		SkipSettingGRPCLogger:   true, // several collectors share the process
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              []string{"file:" + path},
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &collector{name: name, col: col, done: make(chan error, 1)}
	go func() { c.done <- col.Run(context.WithoutCancel(ctx)) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-c.done:
			if err == nil {
				err = errors.New("stopped during start")
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		case <-ctx.Done():
			col.Shutdown()
			<-c.done
			return nil, ctx.Err()
		case <-tick.C:
			if col.GetState() == otelcol.StateRunning {
				return c, nil
			}
		}
	}
}

// stop shuts the collector down (its processors flush what they hold) and
// waits for it.
func (c *collector) stop() error {
	c.col.Shutdown()
	if err := <-c.done; err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	return nil
}
