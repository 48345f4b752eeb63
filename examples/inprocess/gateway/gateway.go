package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"

	"github.com/tailgate-otel/tailgate/spanmetrics"
	"github.com/tailgate-otel/tailgate/tailsampler"
)

// Sentinel errors.
var (
	// ErrNoBackend is returned by New without WithBackend.
	ErrNoBackend = errors.New("gateway: a backend address is required (WithBackend)")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("gateway: already started")
	// ErrHandoffIncomplete is returned by New when WithHandoff lacks its
	// endpoint or its gateway set.
	ErrHandoffIncomplete = errors.New("gateway: the handoff needs this gateway's endpoint and a resolver of the gateway set (WithHandoff)")
)

// Gateway is an in-process gateway collector. Build it with New.
type Gateway struct {
	receiver    receiver.Traces
	sampler     processor.Traces
	spanMetrics connector.Traces
	traceExp    exporter.Traces
	metricExp   exporter.Metrics // nil with WithMetricsConsumer
	listen      string

	mu      sync.Mutex
	started bool
	stopped bool
	shutErr error
	running []component.Component // in start order
}

// New builds every part of the gateway; nothing runs until Start.
func New(opts ...Option) (*Gateway, error) {
	s := defaults()
	for _, o := range opts {
		o.apply(&s)
	}
	if s.backend == "" {
		return nil, ErrNoBackend
	}
	tel := componenttest.NewNopTelemetrySettings()
	if s.telemetry != nil {
		tel = *s.telemetry
	}
	ctx := context.Background()
	g := &Gateway{listen: s.listen}

	// Exporters: the reference otlp/backend.
	expF := otlpexporter.NewFactory()
	expCfg := expF.CreateDefaultConfig().(*otlpexporter.Config)
	expCfg.ClientConfig.Endpoint = s.backend
	expCfg.ClientConfig.TLS.Insecure = s.backendInsecure
	if err := confmap.Validate(expCfg); err != nil {
		return nil, fmt.Errorf("gateway: backend exporter: %w", err)
	}
	var err error
	if g.traceExp, err = expF.CreateTraces(ctx, exporterSettings(expF.Type(), "backend", tel), expCfg); err != nil {
		return nil, fmt.Errorf("gateway: backend exporter: %w", err)
	}
	metricsNext := s.metrics
	if metricsNext == nil {
		if g.metricExp, err = expF.CreateMetrics(ctx, exporterSettings(expF.Type(), "backend", tel), expCfg); err != nil {
			return nil, fmt.Errorf("gateway: backend metrics exporter: %w", err)
		}
		metricsNext = g.metricExp
	}

	// tail_sampling: the reference policies, decided after decision_wait.
	tsF := tailsampler.NewFactory(
		tailsampler.WithHandoffResolver(s.handoffGateways),
		tailsampler.WithHandoffPeerAddress(s.handoffPeer),
	)
	tsCfg := tsF.CreateDefaultConfig().(*tailsampler.Config)
	tsCfg.DecisionWait = s.decisionWait
	tsCfg.NumTraces = s.numTraces
	tsCfg.Policies = []tailsampler.PolicyCfg{
		{Name: "errors-policy", Type: "status_code", StatusCode: tailsampler.StatusCodeCfg{StatusCodes: []string{"ERROR"}}},
		{Name: "slow-traces-policy", Type: "latency", Latency: tailsampler.LatencyCfg{ThresholdMs: s.slowThreshold.Milliseconds()}},
		{Name: "probabilistic-policy", Type: "probabilistic", Probabilistic: tailsampler.ProbabilisticCfg{SamplingPercentage: s.percentage}},
	}
	if s.handoffEndpoint != "" || s.handoffGateways != nil {
		if s.handoffEndpoint == "" || s.handoffGateways == nil {
			return nil, ErrHandoffIncomplete
		}
		// The `handoff:` block, on; its resolver comes from the option.
		h := tsCfg.Handoff.GetOrInsertDefault()
		h.Endpoint = s.handoffEndpoint
		h.Listen.NetAddr.Endpoint = s.handoffListen
	}
	if err := confmap.Validate(tsCfg); err != nil {
		return nil, fmt.Errorf("gateway: tail_sampling: %w", err)
	}
	procSet := processor.Settings{ID: component.NewID(tsF.Type()), TelemetrySettings: tel, BuildInfo: buildInfo}
	if g.sampler, err = tsF.CreateTraces(ctx, procSet, tsCfg, g.traceExp); err != nil {
		return nil, fmt.Errorf("gateway: tail_sampling: %w", err)
	}

	// span_metrics: the reference dimensions and buckets, delta temporality
	// so that a consumer can add up what each flush reports.
	smF := spanmetrics.NewFactory()
	smCfg := smF.CreateDefaultConfig().(*spanmetrics.Config)
	smCfg.AggregationTemporality = spanmetrics.TemporalityDelta
	smCfg.MetricsFlushInterval = s.flushInterval
	smCfg.Dimensions = []spanmetrics.Dimension{{Name: "http.method"}, {Name: "http.status_code"}}
	smCfg.Histogram.Explicit = &spanmetrics.ExplicitHistogramConfig{Buckets: []time.Duration{
		100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second,
	}}
	if err := confmap.Validate(smCfg); err != nil {
		return nil, fmt.Errorf("gateway: span_metrics: %w", err)
	}
	connSet := connector.Settings{ID: component.NewID(smF.Type()), TelemetrySettings: tel, BuildInfo: buildInfo}
	if g.spanMetrics, err = smF.CreateTracesToMetrics(ctx, connSet, smCfg, metricsNext); err != nil {
		return nil, fmt.Errorf("gateway: span_metrics: %w", err)
	}

	// The receiver feeds both branches, as the reference traces/metrics and
	// traces/sampling pipelines share one otlp receiver.
	rcvF := otlpreceiver.NewFactory()
	rcvCfg := rcvF.CreateDefaultConfig().(*otlpreceiver.Config)
	// Protocols are optional blocks: in YAML, naming `grpc:` enables it; in
	// code, GetOrInsertDefault does.
	rcvCfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = s.listen
	if err := confmap.Validate(rcvCfg); err != nil {
		return nil, fmt.Errorf("gateway: receiver: %w", err)
	}
	rcvSet := receiver.Settings{ID: component.NewID(rcvF.Type()), TelemetrySettings: tel, BuildInfo: buildInfo}
	if g.receiver, err = rcvF.CreateTraces(ctx, rcvSet, rcvCfg, fanout{g.spanMetrics, g.sampler}); err != nil {
		return nil, fmt.Errorf("gateway: receiver: %w", err)
	}
	return g, nil
}

var buildInfo = component.BuildInfo{Command: "tailgate-inprocess", Description: "in-process tailgate gateway", Version: "0.1.0"}

func exporterSettings(t component.Type, name string, tel component.TelemetrySettings) exporter.Settings {
	return exporter.Settings{ID: component.NewIDWithName(t, name), TelemetrySettings: tel, BuildInfo: buildInfo}
}

// Addr is the OTLP/gRPC host:port the gateway receives on.
func (g *Gateway) Addr() string { return g.listen }

// Start starts the parts from the backend up to the receiver.
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started || g.stopped {
		return ErrStarted
	}
	g.started = true
	parts := []component.Component{g.traceExp}
	if g.metricExp != nil {
		parts = append(parts, g.metricExp)
	}
	parts = append(parts, g.spanMetrics, g.sampler, g.receiver)
	h := host{}
	for _, p := range parts {
		if err := p.Start(ctx, h); err != nil {
			shutErr := g.shutdownLocked(ctx)
			return errors.Join(fmt.Errorf("gateway: start: %w", err), shutErr)
		}
		g.running = append(g.running, p)
	}
	return nil
}

// Shutdown stops the receiver, lets the sampler and connector flush, then
// drains the exporters. Later calls return the first call's result.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.shutdownLocked(ctx)
}

func (g *Gateway) shutdownLocked(ctx context.Context) error {
	if g.stopped {
		return g.shutErr
	}
	g.stopped = true
	var errs []error
	for i := len(g.running) - 1; i >= 0; i-- {
		if err := g.running[i].Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	g.running = nil
	g.shutErr = errors.Join(errs...)
	return g.shutErr
}

// host is the component.Host of an in-process gateway: it has no extensions.
type host struct{}

func (host) GetExtensions() map[component.ID]component.Component { return nil }

// fanout hands every batch to span_metrics, then to the sampler, as the
// collector's fan-out does for two pipelines sharing a receiver. The sampler
// gets the receiver's batch itself (it may keep it until the decision);
// span_metrics runs first and gets a copy only if it declares that it
// mutates data, so the sampler always sees what was received.
type fanout struct {
	metrics consumer.Traces
	sampler consumer.Traces
}

func (f fanout) Capabilities() consumer.Capabilities { return f.sampler.Capabilities() }

func (f fanout) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	forMetrics := td
	if f.metrics.Capabilities().MutatesData {
		forMetrics = ptrace.NewTraces()
		td.CopyTo(forMetrics)
	}
	// Both run even if one fails: metrics must count every span, and a
	// metrics failure must not cost a sampling decision.
	errM := f.metrics.ConsumeTraces(ctx, forMetrics)
	errS := f.sampler.ConsumeTraces(ctx, td)
	return errors.Join(errM, errS)
}
