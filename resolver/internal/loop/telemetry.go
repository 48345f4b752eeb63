package loop

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// ScopeName is the instrumentation scope of the resolver metrics.
const ScopeName = "github.com/tailgate-otel/tailgate/resolver"

// Metric names, identical to upstream's loadbalancing exporter so that its
// dashboards keep working.
const (
	MetricNumResolutions    = "otelcol_loadbalancer_num_resolutions"
	MetricNumBackends       = "otelcol_loadbalancer_num_backends"
	MetricNumBackendUpdates = "otelcol_loadbalancer_num_backend_updates"
	// MetricEndpointsRefused is tailgate's own (additive): endpoints a
	// resolution returned that were not published, by reason: invalid (not
	// a host:port) or too_many (the set was over resolver.MaxEndpoints).
	MetricEndpointsRefused = "otelcol_loadbalancer_endpoints_refused"
)

// Telemetry records the three resolver metrics for one mechanism.
type Telemetry struct {
	resolutions metric.Int64Counter
	backends    metric.Int64Gauge
	updates     metric.Int64Counter
	refusedEps  metric.Int64Counter

	ok, fail, kind   metric.MeasurementOption
	invalid, tooMany metric.MeasurementOption
}

// NewTelemetry creates the instruments; a nil provider records nothing.
func NewTelemetry(mp metric.MeterProvider, kind string) (*Telemetry, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter(ScopeName)
	t := &Telemetry{}
	var err error
	if t.resolutions, err = m.Int64Counter(MetricNumResolutions,
		metric.WithDescription("Number of times the resolver has triggered new resolutions."),
		metric.WithUnit("{resolutions}")); err != nil {
		return nil, fmt.Errorf("creating %s: %w", MetricNumResolutions, err)
	}
	if t.backends, err = m.Int64Gauge(MetricNumBackends,
		metric.WithDescription("Current number of backends in use."),
		metric.WithUnit("{backends}")); err != nil {
		return nil, fmt.Errorf("creating %s: %w", MetricNumBackends, err)
	}
	if t.updates, err = m.Int64Counter(MetricNumBackendUpdates,
		metric.WithDescription("Number of times the list of backends was updated."),
		metric.WithUnit("{updates}")); err != nil {
		return nil, fmt.Errorf("creating %s: %w", MetricNumBackendUpdates, err)
	}
	if t.refusedEps, err = m.Int64Counter(MetricEndpointsRefused,
		metric.WithDescription("Endpoints a resolution returned that were not published (invalid, or a set over the limit)."),
		metric.WithUnit("{endpoints}")); err != nil {
		return nil, fmt.Errorf("creating %s: %w", MetricEndpointsRefused, err)
	}
	r := attribute.String("resolver", kind)
	t.invalid = metric.WithAttributeSet(attribute.NewSet(r, attribute.String("reason", "invalid")))
	t.tooMany = metric.WithAttributeSet(attribute.NewSet(r, attribute.String("reason", "too_many")))
	// Attribute sets are built once: recording then allocates nothing.
	t.ok = metric.WithAttributeSet(attribute.NewSet(r, attribute.Bool("success", true)))
	t.fail = metric.WithAttributeSet(attribute.NewSet(r, attribute.Bool("success", false)))
	t.kind = metric.WithAttributeSet(attribute.NewSet(r))
	return t, nil
}

func (t *Telemetry) resolution(ctx context.Context, ok bool) {
	if ok {
		t.resolutions.Add(ctx, 1, t.ok)
	} else {
		t.resolutions.Add(ctx, 1, t.fail)
	}
}

func (t *Telemetry) backendCount(ctx context.Context, n int) {
	t.backends.Record(ctx, int64(n), t.kind)
}
func (t *Telemetry) backendUpdate(ctx context.Context) { t.updates.Add(ctx, 1, t.kind) }

func (t *Telemetry) refused(ctx context.Context, n int, tooMany bool) {
	if tooMany {
		t.refusedEps.Add(ctx, int64(n), t.tooMany)
	} else {
		t.refusedEps.Add(ctx, int64(n), t.invalid)
	}
}
