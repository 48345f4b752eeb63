package lbexporter

import (
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const scopeName = "github.com/tailgate-otel/tailgate/lbexporter"

// Reasons carried by the additive metrics.
const (
	reasonEndpointRemoved   = "endpoint_removed"
	reasonEndpointUnhealthy = "endpoint_unhealthy"
	reasonEmptyTraceID      = "empty_trace_id"
	reasonMissingService    = "missing_service_name"

	// Why data was dropped (otelcol_loadbalancer_dropped_items).
	dropRejected         = "rejected"          // the endpoint answered with a permanent error
	dropRetriesExhausted = "retries_exhausted" // retry_on_failure gave up (disabled, or max_elapsed_time)
	dropShutdown         = "shutdown"          // still buffered in memory when Shutdown's deadline passed
	dropCorrupt          = "corrupt"           // a stored entry could not be read back
)

// telemetry holds the instruments. Names of the first two are upstream's;
// the rest are tailgate additions (see README "Metrics").
type telemetry struct {
	backendLatency   metric.Int64Histogram
	backendOutcome   metric.Int64Counter
	rerouted         metric.Int64Counter
	fallbackRouted   metric.Int64Counter
	noEndpoint       metric.Int64Counter
	failovers        metric.Int64Counter
	unhealthyBackend metric.Int64UpDownCounter
	dropped          metric.Int64Counter
	refused          metric.Int64Counter
	queueSize        metric.Int64ObservableGauge
	queueCapacity    metric.Int64ObservableGauge

	reroutedRemoved, reroutedUnhealthy     metric.MeasurementOption
	fallbackEmptyTrace, fallbackMissingSvc metric.MeasurementOption
}

func newTelemetry(mp metric.MeterProvider) (*telemetry, error) {
	m := mp.Meter(scopeName)
	t := &telemetry{}
	var err, e error
	t.backendLatency, e = m.Int64Histogram("otelcol_loadbalancer_backend_latency",
		metric.WithDescription("Response latency in ms for the backends."), metric.WithUnit("ms"),
		metric.WithExplicitBucketBoundaries(5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000))
	err = errors.Join(err, e)
	t.backendOutcome, e = m.Int64Counter("otelcol_loadbalancer_backend_outcome",
		metric.WithDescription("Number of successes and failures for each endpoint."), metric.WithUnit("{outcomes}"))
	err = errors.Join(err, e)
	t.rerouted, e = m.Int64Counter("otelcol_loadbalancer_rerouted_items",
		metric.WithDescription("Spans, log records or data points re-routed through a newer ring because their endpoint left or became unhealthy."),
		metric.WithUnit("{items}"))
	err = errors.Join(err, e)
	t.fallbackRouted, e = m.Int64Counter("otelcol_loadbalancer_fallback_routed_items",
		metric.WithDescription("Items whose routing key was absent (empty trace ID, no service.name) and were routed by the documented fallback key."),
		metric.WithUnit("{items}"))
	err = errors.Join(err, e)
	t.noEndpoint, e = m.Int64Counter("otelcol_loadbalancer_no_endpoint_items",
		metric.WithDescription("Items refused with a retryable error because the resolver knew no endpoint."),
		metric.WithUnit("{items}"))
	err = errors.Join(err, e)
	t.failovers, e = m.Int64Counter("otelcol_loadbalancer_failovers",
		metric.WithDescription("Times an endpoint was marked unhealthy and its keys failed over to their next ring choice."),
		metric.WithUnit("{failovers}"))
	err = errors.Join(err, e)
	t.unhealthyBackend, e = m.Int64UpDownCounter("otelcol_loadbalancer_unhealthy_backends",
		metric.WithDescription("Endpoints currently marked unhealthy by failover."), metric.WithUnit("{backends}"))
	err = errors.Join(err, e)
	t.dropped, e = m.Int64Counter("otelcol_loadbalancer_dropped_items",
		metric.WithDescription("Items dropped for an endpoint: rejected permanently, retries exhausted, still buffered in memory at shutdown, or unreadable from storage."),
		metric.WithUnit("{items}"))
	err = errors.Join(err, e)
	t.refused, e = m.Int64Counter("otelcol_loadbalancer_refused_items",
		metric.WithDescription("Items returned to the caller with a retryable error because their endpoint's buffer was full."),
		metric.WithUnit("{items}"))
	err = errors.Join(err, e)
	t.queueSize, e = m.Int64ObservableGauge("otelcol_loadbalancer_queue_size",
		metric.WithDescription("Size of each endpoint's buffer, queued and in flight, in units of protocol.otlp.sending_queue.sizer."),
		metric.WithUnit("{units}"))
	err = errors.Join(err, e)
	t.queueCapacity, e = m.Int64ObservableGauge("otelcol_loadbalancer_queue_capacity",
		metric.WithDescription("Capacity of each endpoint's buffer (protocol.otlp.sending_queue.queue_size)."),
		metric.WithUnit("{units}"))
	err = errors.Join(err, e)

	t.reroutedRemoved = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonEndpointRemoved)))
	t.reroutedUnhealthy = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonEndpointUnhealthy)))
	t.fallbackEmptyTrace = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonEmptyTraceID)))
	t.fallbackMissingSvc = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonMissingService)))
	return t, err
}

// endpointAttrs are computed once per backend so that recording is
// allocation-free.
type endpointAttrs struct {
	endpoint, success, failure metric.MeasurementOption
}

func newEndpointAttrs(ep string) endpointAttrs {
	e := attribute.String("endpoint", ep)
	return endpointAttrs{
		endpoint: metric.WithAttributeSet(attribute.NewSet(e)),
		success:  metric.WithAttributeSet(attribute.NewSet(e, attribute.Bool("success", true))),
		failure:  metric.WithAttributeSet(attribute.NewSet(e, attribute.Bool("success", false))),
	}
}
