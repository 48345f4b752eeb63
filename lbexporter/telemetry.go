package lbexporter

import (
	"context"
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
	// Every instrument is created and their errors joined, so that one
	// call reports every failure.
	var err, e error
	counter := func(name, desc, unit string) metric.Int64Counter {
		c, cerr := m.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		err = errors.Join(err, cerr)
		return c
	}
	gauge := func(name, desc, unit string) metric.Int64ObservableGauge {
		g, gerr := m.Int64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit))
		err = errors.Join(err, gerr)
		return g
	}
	t.backendLatency, e = m.Int64Histogram("otelcol_loadbalancer_backend_latency",
		metric.WithDescription("Response latency in ms for the backends."), metric.WithUnit("ms"),
		metric.WithExplicitBucketBoundaries(5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000))
	err = errors.Join(err, e)
	t.backendOutcome = counter("otelcol_loadbalancer_backend_outcome",
		"Number of successes and failures for each endpoint.", "{outcomes}")
	t.rerouted = counter("otelcol_loadbalancer_rerouted_items",
		"Spans, log records or data points re-routed through a newer ring because their endpoint left or became unhealthy.", "{items}")
	t.fallbackRouted = counter("otelcol_loadbalancer_fallback_routed_items",
		"Items whose routing key was absent (empty trace ID, no service.name) and were routed by the documented fallback key.", "{items}")
	t.noEndpoint = counter("otelcol_loadbalancer_no_endpoint_items",
		"Items refused with a retryable error because the resolver knew no endpoint.", "{items}")
	t.failovers = counter("otelcol_loadbalancer_failovers",
		"Times an endpoint was marked unhealthy and its keys failed over to their next ring choice.", "{failovers}")
	t.unhealthyBackend, e = m.Int64UpDownCounter("otelcol_loadbalancer_unhealthy_backends",
		metric.WithDescription("Endpoints currently marked unhealthy by failover."), metric.WithUnit("{backends}"))
	err = errors.Join(err, e)
	t.dropped = counter("otelcol_loadbalancer_dropped_items",
		"Items dropped for an endpoint: rejected permanently, retries exhausted, still buffered in memory at shutdown, or unreadable from storage.", "{items}")
	t.refused = counter("otelcol_loadbalancer_refused_items",
		"Items returned to the caller with a retryable error because their endpoint's buffer was full.", "{items}")
	t.queueSize = gauge("otelcol_loadbalancer_queue_size",
		"Size of each endpoint's buffer, queued and in flight, in units of protocol.otlp.sending_queue.sizer.", "{units}")
	t.queueCapacity = gauge("otelcol_loadbalancer_queue_capacity",
		"Capacity of each endpoint's buffer (protocol.otlp.sending_queue.queue_size).", "{units}")

	t.reroutedRemoved = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonEndpointRemoved)))
	t.reroutedUnhealthy = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonEndpointUnhealthy)))
	t.fallbackEmptyTrace = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonEmptyTraceID)))
	t.fallbackMissingSvc = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonMissingService)))
	return t, err
}

// drop counts items dropped for endpoint (one of the drop* reasons).
func (t *telemetry) drop(ctx context.Context, endpoint, reason string, items int) {
	t.dropped.Add(ctx, int64(items), metric.WithAttributes(
		attribute.String("endpoint", endpoint), attribute.String("reason", reason)))
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
