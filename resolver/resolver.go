package resolver

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// Listener is told the full endpoint set ("host:port", sorted,
// de-duplicated) each time it changes. A resolver never calls its Listener
// concurrently with itself, and never after Shutdown has returned. The
// Listener may call Endpoints but must not call Shutdown (Shutdown waits for
// the goroutine that is running the Listener).
type Listener func(endpoints []string)

// Resolver discovers endpoints until it is shut down.
type Resolver interface {
	// Start makes a first, bounded resolution attempt and starts watching.
	// It returns quickly and never fails because discovery fails; it fails
	// only when called twice or after Shutdown.
	Start(ctx context.Context) error
	// Shutdown stops every goroutine the resolver started. It is
	// idempotent, safe before Start and returns ctx.Err() if ctx ends first.
	Shutdown(ctx context.Context) error
	// Endpoints returns a copy of the last good endpoint set.
	Endpoints() []string
}

// Factory builds a resolver that reports to l. It is how code gives a
// component its endpoints instead of a `resolver:` block
// (lbexporter.WithResolver, tailsampler.WithHandoffResolver): the
// component calls it once per instance, at Start, and shuts down what it
// built. manual.Source.Resolver is one; a closure around any mechanism's
// New (static, dns, k8s with options of its own) is another.
type Factory func(Settings, Listener) (Resolver, error)

// Settings carries the telemetry a resolver reports through. Nil fields
// mean "no-op".
type Settings struct {
	Logger        *zap.Logger
	MeterProvider metric.MeterProvider
}

// Names of the mechanisms, as used in the `resolver` attribute of the
// otelcol_loadbalancer_* metrics.
const (
	KindStatic = "static"
	KindDNS    = "dns"
	KindK8s    = "k8s"
)

var (
	// ErrAlreadyStarted is returned by Start when it is called twice.
	ErrAlreadyStarted = errors.New("resolver: already started")
	// ErrShutdown is returned by Start after Shutdown.
	ErrShutdown = errors.New("resolver: shut down")
	// ErrInvalidConfig wraps every configuration problem.
	ErrInvalidConfig = errors.New("invalid resolver config")
)
