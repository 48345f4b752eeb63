package lbexporter

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/xexporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/all"
)

var (
	// Type is the component type, as upstream contrib spells it today.
	Type = component.MustNewType("load_balancing")
	// DeprecatedType is upstream's historical name, still accepted.
	DeprecatedType = component.MustNewType("loadbalancing")
)

// Option configures NewFactory. It is sealed: only this package makes them.
type Option interface{ apply(*factoryOptions) }

type factoryOptions struct {
	resolver resolver.Factory
}

type optionFunc func(*factoryOptions)

func (f optionFunc) apply(o *factoryOptions) { f(o) }

// WithResolver gives the exporters of this factory their endpoints from
// code instead of from a `resolver:` block: each exporter calls f once, at
// Start, with a Listener of its own, and shuts down what f built. Use it
// with manual.Source.Resolver to feed the agents' ring and the gateways'
// handoff from one set, or with a closure around a mechanism's New to pass
// it options YAML cannot (a custom lookup, a Kubernetes client). The
// factory's default configuration then carries resolver.FromCode(): a
// `resolver:` block set in YAML or code is refused by Validate. A nil f
// changes nothing.
func WithResolver(f resolver.Factory) Option {
	return optionFunc(func(o *factoryOptions) {
		if f != nil {
			o.resolver = f
		}
	})
}

// NewFactory returns the exporter factory for traces, metrics and logs.
func NewFactory(opts ...Option) exporter.Factory {
	var o factoryOptions
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if o.resolver == nil {
		return newFactoryWith(all.New, createDefaultConfig)
	}
	f := o.resolver
	return newFactoryWith(
		func(_ resolver.Config, set resolver.Settings, l resolver.Listener) (resolver.Resolver, error) {
			return f(set, l)
		},
		func() component.Config {
			c := createDefaultConfig().(*Config)
			c.Resolver = resolver.FromCode()
			return c
		})
}

type resolverFunc = func(resolver.Config, resolver.Settings, resolver.Listener) (resolver.Resolver, error)

// newFactory is NewFactory with the resolver built by newRes (tests).
func newFactory(newRes resolverFunc) exporter.Factory {
	return newFactoryWith(newRes, createDefaultConfig)
}

func newFactoryWith(newRes resolverFunc, defaults component.CreateDefaultConfigFunc) exporter.Factory {
	return xexporter.NewFactory(
		Type,
		defaults,
		xexporter.WithDeprecatedTypeAlias(DeprecatedType),
		xexporter.WithTraces(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
			return createTraces(ctx, set, cfg, newRes)
		}, component.StabilityLevelBeta),
		xexporter.WithMetrics(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
			return createMetrics(ctx, set, cfg, newRes)
		}, component.StabilityLevelDevelopment),
		xexporter.WithLogs(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
			return createLogs(ctx, set, cfg, newRes)
		}, component.StabilityLevelBeta),
	)
}

func createDefaultConfig() component.Config {
	otlp := otlpexporter.NewFactory().CreateDefaultConfig().(*otlpexporter.Config)
	otlp.ClientConfig.Endpoint = placeholderEndpoint
	if otlp.QueueConfig.HasValue() {
		// Batching inside a per-endpoint buffer is refused (Validate), so
		// it is off by default whatever core's feature gate says.
		otlp.QueueConfig.Get().Batch = configoptional.Default(exporterhelper.NewDefaultBatchConfig())
	}
	retry := configretry.NewDefaultBackOffConfig()
	retry.Enabled = false
	return &Config{
		TimeoutSettings: exporterhelper.TimeoutConfig{},
		QueueSettings:   configoptional.Default(exporterhelper.NewDefaultQueueConfig()),
		BackOffConfig:   retry,
		Protocol:        Protocol{OTLP: *otlp},
		Failover: FailoverConfig{
			MaxConsecutiveFailures: 3,
			ProbeInterval:          5 * time.Second,
		},
	}
}

// endpointConfig is the per-endpoint copy of protocol.otlp. Its exporter
// sends one attempt at a time: its sending_queue and retry_on_failure are
// implemented by the load balancer (the buffer and senders of each backend),
// whose buffer can be taken back and re-routed when the endpoint leaves the
// ring, where exporterhelper's queue would lose it (upstream #35378, #36717).
func endpointConfig(cfg *Config, endpoint string) *otlpexporter.Config {
	c := cfg.Protocol.OTLP
	c.ClientConfig.Endpoint = endpoint
	c.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	c.RetryConfig.Enabled = false
	return &c
}

func endpointSettings(set exporter.Settings, endpoint string) exporter.Settings {
	s := set
	s.ID = component.NewIDWithName(component.MustNewType("otlp_grpc"), endpoint)
	s.Logger = set.Logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return quietCore{c} }))
	return s
}

// quietCore drops the per-attempt failure line that exporterhelper writes
// for an exporter without retry or queue ("Exporting failed. Rejecting
// data. Try enabling retry_on_failure..."): the per-endpoint exporters run
// that way on purpose, the load balancer retries and buffers, and it logs
// what fails for good, rate-limited and per endpoint.
type quietCore struct{ zapcore.Core }

func (c quietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if strings.HasPrefix(e.Message, "Exporting failed. Rejecting data.") {
		return ce
	}
	return c.Core.Check(e, ce)
}

func (c quietCore) With(fields []zapcore.Field) zapcore.Core { return quietCore{c.Core.With(fields)} }

func helperOptions(cfg *Config, l interface {
	Start(context.Context, component.Host) error
	Shutdown(context.Context) error
}) []exporterhelper.Option {
	return []exporterhelper.Option{
		// Splitting moves spans out of the incoming batch instead of copying
		// them; the pipeline clones for us only when the batch is shared.
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		exporterhelper.WithTimeout(cfg.TimeoutSettings),
		exporterhelper.WithRetry(cfg.BackOffConfig),
		exporterhelper.WithQueue(cfg.QueueSettings),
		exporterhelper.WithStart(l.Start),
		exporterhelper.WithShutdown(l.Shutdown),
	}
}

// lifecycle adapts lb's lowercase methods to exporterhelper options.
type lifecycle[T any] struct{ l *lb[T] }

func (c lifecycle[T]) Start(ctx context.Context, h component.Host) error { return c.l.start(ctx, h) }
func (c lifecycle[T]) Shutdown(ctx context.Context) error                { return c.l.shutdown(ctx) }

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config, newRes resolverFunc) (exporter.Traces, error) {
	c := cfg.(*Config)
	key, err := c.routingKeyFor("traces")
	if err != nil {
		return nil, err
	}
	f := otlpexporter.NewFactory()
	ops := tracesOps(newTraceSplitter(key, c.RoutingAttributes))
	ops.newBackend = func(ctx context.Context, ep string) (component.Component, func(context.Context, ptrace.Traces) error, error) {
		e, err := f.CreateTraces(ctx, endpointSettings(set, ep), endpointConfig(c, ep))
		if err != nil {
			return nil, nil, err
		}
		return e, e.ConsumeTraces, nil
	}
	l, err := newLB(set.TelemetrySettings, c, ops, newRes)
	if err != nil {
		return nil, err
	}
	l.id = set.ID
	return exporterhelper.NewTraces(ctx, set, cfg, l.push, helperOptions(c, lifecycle[ptrace.Traces]{l})...)
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config, newRes resolverFunc) (exporter.Logs, error) {
	c := cfg.(*Config)
	key, err := c.routingKeyFor("logs")
	if err != nil {
		return nil, err
	}
	f := otlpexporter.NewFactory()
	ops := logsOps(newLogSplitter(key, c.RoutingAttributes))
	ops.newBackend = func(ctx context.Context, ep string) (component.Component, func(context.Context, plog.Logs) error, error) {
		e, err := f.CreateLogs(ctx, endpointSettings(set, ep), endpointConfig(c, ep))
		if err != nil {
			return nil, nil, err
		}
		return e, e.ConsumeLogs, nil
	}
	l, err := newLB(set.TelemetrySettings, c, ops, newRes)
	if err != nil {
		return nil, err
	}
	l.id = set.ID
	return exporterhelper.NewLogs(ctx, set, cfg, l.push, helperOptions(c, lifecycle[plog.Logs]{l})...)
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config, newRes resolverFunc) (exporter.Metrics, error) {
	c := cfg.(*Config)
	key, err := c.routingKeyFor("metrics")
	if err != nil {
		return nil, err
	}
	f := otlpexporter.NewFactory()
	ops := metricsOps(newMetricSplitter(key, c.RoutingAttributes))
	ops.newBackend = func(ctx context.Context, ep string) (component.Component, func(context.Context, pmetric.Metrics) error, error) {
		e, err := f.CreateMetrics(ctx, endpointSettings(set, ep), endpointConfig(c, ep))
		if err != nil {
			return nil, nil, err
		}
		return e, e.ConsumeMetrics, nil
	}
	l, err := newLB(set.TelemetrySettings, c, ops, newRes)
	if err != nil {
		return nil, err
	}
	l.id = set.ID
	return exporterhelper.NewMetrics(ctx, set, cfg, l.push, helperOptions(c, lifecycle[pmetric.Metrics]{l})...)
}
