// Command inprocess runs the reference gateway tier inside a Go program, with
// no YAML: OTLP/gRPC in, span metrics on every span, tail sampling with the
// reference policies, OTLP/gRPC out. See package gateway for the wiring.
//
//	cd examples && go run ./inprocess -listen 127.0.0.1:4317 -backend 127.0.0.1:14317
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/examples/inprocess/gateway"
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

	g, err := gateway.New(
		gateway.WithListenAddress(*listen),
		gateway.WithBackend(*backend, !*tlsOn),
		gateway.WithDecisionWait(*wait),
		gateway.WithSamplingPercentage(*pct),
		gateway.WithTelemetry(tel),
	)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := g.Start(ctx); err != nil {
		return err
	}
	logger.Info("gateway running", zap.String("listen", *listen), zap.String("backend", *backend))
	<-ctx.Done()
	// Enough time to decide what is buffered and export it.
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return g.Shutdown(shutCtx)
}
