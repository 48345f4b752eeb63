package telemetrytest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

func TestRecorderRecordsEveryKind(t *testing.T) {
	rec := NewForTest(t)
	m := rec.Meter("github.com/tailgate-otel/tailgate/x")
	u, d := metric.WithUnit("{u}"), metric.WithDescription("d")
	create := []struct {
		kind  Kind
		make  func() error
		shape Shape
	}{
		{Int64Counter, func() error { _, err := m.Int64Counter("a", u, d); return err }, Shape{"sum", "int", true, false}},
		{Int64UpDownCounter, func() error { _, err := m.Int64UpDownCounter("a", u, d); return err }, Shape{"sum", "int", false, false}},
		{Int64Histogram, func() error {
			_, err := m.Int64Histogram("a", u, d, metric.WithExplicitBucketBoundaries(1, 2))
			return err
		}, Shape{"histogram", "int", false, false}},
		{Int64Gauge, func() error { _, err := m.Int64Gauge("a", u, d); return err }, Shape{"gauge", "int", false, false}},
		{Int64ObservableCounter, func() error { _, err := m.Int64ObservableCounter("a", u, d); return err }, Shape{"sum", "int", true, true}},
		{Int64ObservableUpDownCounter, func() error { _, err := m.Int64ObservableUpDownCounter("a", u, d); return err }, Shape{"sum", "int", false, true}},
		{Int64ObservableGauge, func() error { _, err := m.Int64ObservableGauge("a", u, d); return err }, Shape{"gauge", "int", false, true}},
		{Float64Counter, func() error { _, err := m.Float64Counter("a", u, d); return err }, Shape{"sum", "double", true, false}},
		{Float64UpDownCounter, func() error { _, err := m.Float64UpDownCounter("a", u, d); return err }, Shape{"sum", "double", false, false}},
		{Float64Histogram, func() error {
			_, err := m.Float64Histogram("a", u, d, metric.WithExplicitBucketBoundaries(1, 2))
			return err
		}, Shape{"histogram", "double", false, false}},
		{Float64Gauge, func() error { _, err := m.Float64Gauge("a", u, d); return err }, Shape{"gauge", "double", false, false}},
		{Float64ObservableCounter, func() error { _, err := m.Float64ObservableCounter("a", u, d); return err }, Shape{"sum", "double", true, true}},
		{Float64ObservableUpDownCounter, func() error { _, err := m.Float64ObservableUpDownCounter("a", u, d); return err }, Shape{"sum", "double", false, true}},
		{Float64ObservableGauge, func() error { _, err := m.Float64ObservableGauge("a", u, d); return err }, Shape{"gauge", "double", false, true}},
	}
	for _, c := range create {
		// The SDK warns about re-using a name with another kind, but creates it.
		require.NoError(t, c.make(), c.kind)
	}
	got := rec.Instruments()
	require.Len(t, got, len(create))
	for i, c := range create {
		t.Run(string(c.kind), func(t *testing.T) {
			in := got[i]
			assert.Equal(t, c.kind, in.Kind)
			assert.Equal(t, "github.com/tailgate-otel/tailgate/x", in.Scope)
			assert.Equal(t, "a", in.Name)
			assert.Equal(t, "{u}", in.Unit)
			assert.Equal(t, "d", in.Description)
			assert.Equal(t, c.shape, in.Kind.Shape())
			if c.shape.Data == "histogram" {
				assert.Equal(t, []float64{1, 2}, in.Buckets)
			} else {
				assert.Nil(t, in.Buckets)
			}
		})
	}
}

func TestObservedAttributes(t *testing.T) {
	ctx := context.Background()
	rec := NewForTest(t)
	ours := rec.Meter(ScopePrefix + "/sample")
	c, err := ours.Int64Counter("otelcol_sample_items")
	require.NoError(t, err)
	c.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "late")))
	c.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "full")))
	c.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "late")))
	h, err := ours.Float64Histogram("otelcol_sample_latency")
	require.NoError(t, err)
	h.Record(ctx, 1, metric.WithAttributes(attribute.Bool("success", true), attribute.Int("n", 3), attribute.Float64("f", 1.5)))
	theirs, err := rec.Meter("go.opentelemetry.io/collector/exporter").Int64Counter("otelcol_exporter_sent_spans")
	require.NoError(t, err)
	theirs.Add(ctx, 1, metric.WithAttributes(attribute.String("exporter", "otlp")))

	obs, err := rec.ObservedAttributes(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]Observed{
		"otelcol_sample_items": {"reason": {Type: "string", Values: []string{"full", "late"}}},
		"otelcol_sample_latency": {
			"success": {Type: "bool", Values: []string{"true"}},
			"n":       {Type: "int", Values: []string{"3"}},
			"f":       {Type: "double", Values: []string{"1.5"}},
		},
	}, obs, "only tailgate scopes, distinct values sorted")
}
