package gateway

import (
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"

	"github.com/tailgate-otel/tailgate/resolver"
)

// Option configures New. Options are sealed: only this package makes them.
type Option interface{ apply(*settings) }

type optionFunc func(*settings)

func (f optionFunc) apply(s *settings) { f(s) }

type settings struct {
	listen          string
	backend         string
	backendInsecure bool
	decisionWait    time.Duration
	numTraces       uint64
	slowThreshold   time.Duration
	percentage      float64
	flushInterval   time.Duration
	metrics         consumer.Metrics
	telemetry       *component.TelemetrySettings

	handoffEndpoint string
	handoffGateways resolver.Factory
	handoffListen   string
	handoffPeer     func(string) string
}

func defaults() settings {
	return settings{
		listen:        "127.0.0.1:4317",
		decisionWait:  30 * time.Second,
		numTraces:     50_000,
		slowThreshold: time.Second,
		percentage:    10,
		flushInterval: 15 * time.Second,
	}
}

// WithListenAddress sets the OTLP/gRPC host:port the gateway receives on
// (default 127.0.0.1:4317).
func WithListenAddress(hostport string) Option {
	return optionFunc(func(s *settings) { s.listen = hostport })
}

// WithBackend sets the OTLP/gRPC backend that sampled traces (and, without
// WithMetricsConsumer, span metrics) are exported to. Required. insecure
// selects plain-text gRPC instead of TLS.
func WithBackend(hostport string, insecure bool) Option {
	return optionFunc(func(s *settings) { s.backend, s.backendInsecure = hostport, insecure })
}

// WithDecisionWait sets how long a trace is buffered before it is decided
// (tail_sampling's decision_wait, default 30s as in the reference configuration).
func WithDecisionWait(d time.Duration) Option {
	return optionFunc(func(s *settings) { s.decisionWait = d })
}

// WithNumTraces bounds the traces buffered at once (num_traces, default
// 50000).
func WithNumTraces(n uint64) Option {
	return optionFunc(func(s *settings) { s.numTraces = n })
}

// WithSlowThreshold keeps every trace lasting at least d (the latency
// policy's threshold_ms, default 1s).
func WithSlowThreshold(d time.Duration) Option {
	return optionFunc(func(s *settings) { s.slowThreshold = d })
}

// WithSamplingPercentage sets the share of other traces kept (the
// probabilistic policy's sampling_percentage, default 10).
func WithSamplingPercentage(p float64) Option {
	return optionFunc(func(s *settings) { s.percentage = p })
}

// WithMetricsFlushInterval sets how often span metrics are emitted
// (metrics_flush_interval, default 15s).
func WithMetricsFlushInterval(d time.Duration) Option {
	return optionFunc(func(s *settings) { s.flushInterval = d })
}

// WithMetricsConsumer hands span metrics (delta temporality) to next
// instead of exporting them to the backend.
func WithMetricsConsumer(next consumer.Metrics) Option {
	return optionFunc(func(s *settings) { s.metrics = next })
}

// WithTelemetry sets the logger, meter and tracer providers the parts
// report through (default: no-op).
func WithTelemetry(set component.TelemetrySettings) Option {
	return optionFunc(func(s *settings) { s.telemetry = &set })
}

// WithHandoff turns on the tail sampler's handoff, so that no trace is
// split when gateways join or leave: endpoint is this gateway's address
// exactly as the agents' ring names it, and gateways builds the resolver
// of the gateway set, the same set the agents route by. With a
// manual.Source, give its Resolver both here and to the agents'
// lbexporter.WithResolver. Without a listen address (WithHandoffListen),
// peers deliver to port 4319 on every interface.
func WithHandoff(endpoint string, gateways resolver.Factory) Option {
	return optionFunc(func(s *settings) { s.handoffEndpoint, s.handoffGateways = endpoint, gateways })
}

// WithHandoffListen sets the host:port peers deliver handed-off data to;
// peers find it at the host of this gateway's endpoint and this port,
// unless WithHandoffPeerAddress says otherwise.
func WithHandoffListen(hostport string) Option {
	return optionFunc(func(s *settings) { s.handoffListen = hostport })
}

// WithHandoffPeerAddress maps a peer's ring endpoint to its handoff
// listener, for gateways that do not share one handoff port (several in
// one process or on one host).
func WithHandoffPeerAddress(f func(ringEndpoint string) string) Option {
	return optionFunc(func(s *settings) { s.handoffPeer = f })
}
