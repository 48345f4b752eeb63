package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
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

// collectorSettings runs a collector of the demo's factories on the YAML
// file at config.
func collectorSettings(description, config string) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "tailgate-demo", Description: description, Version: "0.1.0"},
		Factories: factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              []string{"file:" + config},
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
		}},
	}
}

// writeConfig writes a collector's YAML as <name>.yaml in dir and returns
// its path.
func writeConfig(dir, name, yaml string) (string, error) {
	path := filepath.Join(dir, name+".yaml")
	return path, os.WriteFile(path, []byte(yaml), 0o600)
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
	path, err := writeConfig(dir, name, yaml)
	if err != nil {
		return nil, err
	}
	set := collectorSettings("tailgate demo", path)
	set.DisableGracefulShutdown = true // the demo owns signals
	set.SkipSettingGRPCLogger = true   // several collectors share the process
	col, err := otelcol.NewCollector(set)
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

// childEnv, when set in the environment, makes this program (or the
// demo's test binary) run one collector on the YAML file it names instead
// of the demo: a gateway that can be killed.
const childEnv = "TAILGATE_DEMO_COLLECTOR"

// runChild runs a collector on config until SIGTERM (graceful shutdown)
// and returns the exit status.
func runChild(config string) int {
	col, err := otelcol.NewCollector(collectorSettings("tailgate demo gateway", config))
	if err == nil {
		err = col.Run(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo gateway:", err)
		return 1
	}
	return 0
}

// child is a collector running as a child process of this program.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startChild writes yaml to dir and runs a collector on it in a child
// process (its log in dir), returning once it accepts connections on
// listen.
func startChild(ctx context.Context, dir, name, yaml, listen string) (*child, error) {
	path, err := writeConfig(dir, name, yaml)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		_ = logFile.Close()
		close(c.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			return c, nil
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("%s exited before listening on %s: %v", name, listen, c.err)
		case <-ctx.Done():
			_ = c.kill()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.kill()
			return nil, fmt.Errorf("%s is not listening on %s after 30s", name, listen)
		}
	}
}

// stop shuts the child down gracefully (SIGTERM) and waits for it.
func (c *child) stop() error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	select {
	case <-c.done:
		if c.err != nil {
			return fmt.Errorf("%s: %w", c.name, c.err)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = c.kill()
		return fmt.Errorf("%s did not exit within 30s of SIGTERM", c.name)
	}
}

// kill ends the child without warning (SIGKILL) and waits for it.
func (c *child) kill() error {
	if err := c.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	<-c.done
	return nil
}
