// Package metrictest reads the resolver metrics back from an sdk/metric
// ManualReader in tests.
package metrictest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tailgate-otel/tailgate/resolver"
)

// Reader is a ManualReader with the provider that feeds it.
type Reader struct {
	*sdkmetric.ManualReader
	Provider *sdkmetric.MeterProvider
}

// New returns a reader and resolver.Settings that report to it.
func New(t testing.TB) (*Reader, resolver.Settings) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return &Reader{ManualReader: r, Provider: mp}, resolver.Settings{MeterProvider: mp}
}

// Value returns the value of the int64 counter or gauge called name whose
// attributes are exactly attrs, and whether such a point exists.
func (r *Reader) Value(t testing.TB, name string, attrs ...attribute.KeyValue) (int64, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	want := attribute.NewSet(attrs...)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			default:
				t.Fatalf("%s: unexpected data type %T", name, m.Data)
			}
			for _, p := range points {
				if p.Attributes.Equals(&want) {
					return p.Value, true
				}
			}
		}
	}
	return 0, false
}

// Get is Value that treats a missing point as zero.
func (r *Reader) Get(t testing.TB, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	v, _ := r.Value(t, name, attrs...)
	return v
}

// Resolutions returns num_resolutions{resolver=kind,success=ok}.
func (r *Reader) Resolutions(t testing.TB, kind string, ok bool) int64 {
	t.Helper()
	return r.Get(t, "otelcol_loadbalancer_num_resolutions", attribute.String("resolver", kind), attribute.Bool("success", ok))
}

// Backends returns num_backends{resolver=kind}.
func (r *Reader) Backends(t testing.TB, kind string) int64 {
	t.Helper()
	return r.Get(t, "otelcol_loadbalancer_num_backends", attribute.String("resolver", kind))
}

// Updates returns num_backend_updates{resolver=kind}.
func (r *Reader) Updates(t testing.TB, kind string) int64 {
	t.Helper()
	return r.Get(t, "otelcol_loadbalancer_num_backend_updates", attribute.String("resolver", kind))
}

// Refused returns endpoints_refused{resolver=kind,reason=reason}.
func (r *Reader) Refused(t testing.TB, kind, reason string) int64 {
	t.Helper()
	return r.Get(t, "otelcol_loadbalancer_endpoints_refused", attribute.String("resolver", kind), attribute.String("reason", reason))
}
