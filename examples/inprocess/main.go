// Command inprocess runs the reference gateway tier inside a Go program, with
// no YAML: OTLP/gRPC in, span metrics on every span, tail sampling with the
// reference policies, OTLP/gRPC out. See package gateway for the wiring.
//
//	cd examples && go run ./inprocess -listen 127.0.0.1:4317 -backend 127.0.0.1:14317
//
// With -gateways-file, the gateway hands its undecided traces to their new
// owner when the gateway set changes. The set is the program's own: the
// file lists the gateways' endpoints (as the agents' ring names them, one
// per line or separated by spaces), is read at start and again on SIGHUP,
// and feeds the handoff through a manual.Source, which the program's
// agents (lbexporter.WithResolver) would share:
//
//	go run ./inprocess -listen 10.0.0.7:4317 -backend backend:4317 \
//	    -gateways-file /etc/gateways -handoff-listen 10.0.0.7:4319
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/examples/inprocess/gateway"
	"github.com/tailgate-otel/tailgate/resolver/manual"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "inprocess:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("inprocess", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:4317", "OTLP/gRPC address to receive on")
	backend := fs.String("backend", "", "OTLP/gRPC backend host:port (required)")
	tlsOn := fs.Bool("backend-tls", false, "use TLS to the backend")
	wait := fs.Duration("decision-wait", 30*time.Second, "tail_sampling decision_wait")
	pct := fs.Float64("percentage", 10, "probabilistic share of other traces kept")
	gatewaysFile := fs.String("gateways-file", "", "file listing the gateway set; turns the handoff on (re-read on SIGHUP)")
	handoffListen := fs.String("handoff-listen", "", "where peers deliver handed-off traces (default: port 4319 on every interface)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *backend == "" {
		return errors.New("-backend is required")
	}
	logger, err := zap.NewProduction()
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	tel := componenttest.NewNopTelemetrySettings()
	tel.Logger = logger

	opts := []gateway.Option{
		gateway.WithListenAddress(*listen),
		gateway.WithBackend(*backend, !*tlsOn),
		gateway.WithDecisionWait(*wait),
		gateway.WithSamplingPercentage(*pct),
		gateway.WithTelemetry(tel),
	}
	var gateways *manual.Source
	if *gatewaysFile != "" {
		set, err := readGateways(*gatewaysFile)
		if err != nil {
			return err
		}
		gateways = manual.NewSource(set...)
		opts = append(opts, gateway.WithHandoff(*listen, gateways.Resolver), gateway.WithHandoffListen(*handoffListen))
	}
	g, err := gateway.New(opts...)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := g.Start(ctx); err != nil {
		return err
	}
	logger.Info("gateway running", zap.String("listen", *listen), zap.String("backend", *backend))
	if gateways == nil {
		<-ctx.Done()
	} else {
		followGateways(ctx, *gatewaysFile, gateways, logger)
	}
	// Enough time to decide what is buffered and export it.
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return g.Shutdown(shutCtx)
}

// followGateways re-reads the gateway set on every SIGHUP until ctx ends.
// A file that cannot be read keeps the last set (stale over partial, as
// every resolver does).
func followGateways(ctx context.Context, path string, gateways *manual.Source, logger *zap.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			set, err := readGateways(path)
			if err != nil {
				logger.Warn("gateway set not re-read; keeping the last one", zap.Error(err))
				continue
			}
			gateways.Set(set...)
			logger.Info("gateway set", zap.Strings("endpoints", set))
		}
	}
}

// readGateways reads endpoints separated by white space.
func readGateways(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateways file: %w", err)
	}
	set := strings.Fields(string(b))
	if len(set) == 0 {
		return nil, fmt.Errorf("gateways file %s: lists no endpoint", path)
	}
	return set, nil
}
