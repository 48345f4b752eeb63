package spanmetrics

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/xconnector"
	"go.opentelemetry.io/collector/consumer"
)

var (
	// Type is the connector's configuration type, as upstream names it.
	Type = component.MustNewType("span_metrics")
	// DeprecatedType is upstream's former name, still accepted in YAML.
	DeprecatedType = component.MustNewType("spanmetrics")
)

const stability = component.StabilityLevelAlpha

// NewFactory returns the span_metrics connector factory (traces → metrics),
// registered also under the deprecated alias spanmetrics.
func NewFactory() connector.Factory {
	return newFactory()
}

func newFactory(opts ...Option) connector.Factory {
	return xconnector.NewFactory(
		Type,
		func() component.Config { return createDefaultConfig() },
		xconnector.WithDeprecatedTypeAlias(DeprecatedType),
		xconnector.WithTracesToMetrics(func(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
			return newConnector(set.TelemetrySettings, cfg.(*Config), next, opts...)
		}, stability),
	)
}
