package spanmetrics

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Self-telemetry. Upstream's connector emits none, so every name here is
// additive; they follow the collector's otelcol_ prefix convention.
const (
	metricSpansDropped     = "otelcol_connector_span_metrics_spans_dropped"
	metricSpansOverflowed  = "otelcol_connector_span_metrics_spans_overflowed"
	metricSeriesRemoved    = "otelcol_connector_span_metrics_series_removed"
	metricResourcesRemoved = "otelcol_connector_span_metrics_resources_removed"
	metricFlushFailures    = "otelcol_connector_span_metrics_flush_failures"
	metricActiveSeries     = "otelcol_connector_span_metrics_active_series"
	metricValuesLimited    = "otelcol_connector_span_metrics_dimension_values_limited"
)

type telemetry struct {
	spansDropped     metric.Int64Counter
	spansOverflowed  metric.Int64Counter
	seriesRemoved    metric.Int64Counter
	resourcesRemoved metric.Int64Counter
	flushFailures    metric.Int64Counter
	valuesLimited    metric.Int64Counter
	activeSeries     metric.Int64ObservableGauge
	reg              metric.Registration

	dropNoService metric.MeasurementOption
	// reasons of valuesLimited
	limTruncated, limTooLarge, limKeyTooLong metric.AddOption
}

func newTelemetry(set component.TelemetrySettings, active func() int64) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/tailgate-otel/tailgate/spanmetrics")
	t := &telemetry{dropNoService: metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "missing_service_name")))}
	var err error
	if t.spansDropped, err = m.Int64Counter(metricSpansDropped, metric.WithUnit("{span}"),
		metric.WithDescription("Spans not aggregated, by reason (upstream skips them silently).")); err != nil {
		return nil, err
	}
	if t.spansOverflowed, err = m.Int64Counter(metricSpansOverflowed, metric.WithUnit("{span}"),
		metric.WithDescription("Spans (and events) aggregated into the otel.metric.overflow series.")); err != nil {
		return nil, err
	}
	if t.seriesRemoved, err = m.Int64Counter(metricSeriesRemoved, metric.WithUnit("{series}"),
		metric.WithDescription("Series removed, by reason (expired, idle_delta, resource_removed).")); err != nil {
		return nil, err
	}
	if t.resourcesRemoved, err = m.Int64Counter(metricResourcesRemoved, metric.WithUnit("{resource}"),
		metric.WithDescription("Resources removed, by reason (expired, evicted).")); err != nil {
		return nil, err
	}
	if t.flushFailures, err = m.Int64Counter(metricFlushFailures, metric.WithUnit("{flush}"),
		metric.WithDescription("Flushes the next consumer refused.")); err != nil {
		return nil, err
	}
	if t.valuesLimited, err = m.Int64Counter(metricValuesLimited, metric.WithUnit("{value}"),
		metric.WithDescription("Dimension values over dimension_value_length_limit, by reason: truncated (strings, bytes), too_large (slices, maps: the span went to the overflow series), key_too_long (attribute keys glob dimensions ignored).")); err != nil {
		return nil, err
	}
	t.limTruncated, t.limTooLarge, t.limKeyTooLong = reason("truncated"), reason("too_large"), reason("key_too_long")
	if t.activeSeries, err = m.Int64ObservableGauge(metricActiveSeries, metric.WithUnit("{series}"),
		metric.WithDescription("Series currently held.")); err != nil {
		return nil, err
	}
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(t.activeSeries, active())
		return nil
	}, t.activeSeries)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func reason(r string) metric.AddOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
}
