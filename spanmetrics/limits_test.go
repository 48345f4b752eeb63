package spanmetrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// limited reads otelcol_connector_span_metrics_dimension_values_limited
// by reason.
func limited(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != metricValuesLimited {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value(attribute.Key("reason"))
				out[v.AsString()] += dp.Value
			}
		}
	}
	return out
}

func newLimitHarness(t *testing.T, cfg *Config) (*harness, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	set := componenttest.NewNopTelemetrySettings()
	set.MeterProvider = mp
	return startHarness(t, set, cfg), reader
}

func callsByAttrs(md []point) map[string]int64 {
	out := map[string]int64{}
	for _, p := range md {
		if p.Metric == "traces.span.metrics.calls" {
			out[fmt.Sprint(p.Attrs)] += p.Value
		}
	}
	return out
}

// Span attributes are input: what they contribute to a series is bounded
// by dimension_value_length_limit. Long strings and bytes are truncated
// (so values that differ only past the limit share a series), slices and
// maps over it go to the overflow series, and glob dimensions ignore keys
// over it; each is counted.
func TestDimensionValuesAreBounded(t *testing.T) {
	const limit = 16
	cfg := seedConfig()
	cfg.DimensionValueLengthLimit = limit
	cfg.Dimensions = append(cfg.Dimensions, Dimension{Name: "blob"}, Dimension{Name: "list"}, Dimension{Glob: "x.*"})
	h, reader := newLimitHarness(t, cfg)

	long := strings.Repeat("a", 15) + "é" + "tail-1" // é straddles the limit
	longName := strings.Repeat("n", 40)
	h.consume(t, t0, traces(map[string]any{"service.name": "checkout"},
		spanSpec{name: longName, attrs: map[string]any{"http.method": long}},
		spanSpec{name: longName + "-other", attrs: map[string]any{"http.method": long + "-other"}},
		spanSpec{name: "bytes", attrs: map[string]any{"blob": []byte(strings.Repeat("b", 100))}},
		spanSpec{name: "list", attrs: map[string]any{"list": []any{strings.Repeat("l", 10), strings.Repeat("m", 10)}}},
		spanSpec{name: "glob", attrs: map[string]any{"x.short": "v", "x." + strings.Repeat("k", 40): "v"}},
	))
	calls := callsByAttrs(flatten(h.flush(t, t0.Add(time.Minute))))

	var sawLong, sawBlob, sawOverflow, sawGlob bool
	for _, p := range flatten(h.flush(t, t0.Add(2*time.Minute))) {
		if p.Metric != "traces.span.metrics.calls" {
			continue
		}
		switch {
		case p.Attrs["span.name"] == strings.Repeat("n", limit):
			sawLong = true
			assert.Equal(t, strings.Repeat("a", 15), p.Attrs["http.method"], "truncated at a UTF-8 boundary")
			assert.Equal(t, int64(2), p.Value, "values that differ past the limit share a series")
		case p.Attrs["span.name"] == "bytes":
			sawBlob = true
			assert.Equal(t, []byte(strings.Repeat("b", limit)), p.Attrs["blob"])
		case p.Attrs[overflowKey] == true:
			sawOverflow = true
			assert.Equal(t, int64(1), p.Value, "the span with the long list")
		case p.Attrs["span.name"] == "glob":
			sawGlob = true
			assert.Equal(t, "v", p.Attrs["x.short"])
			assert.NotContains(t, p.Attrs, "x."+strings.Repeat("k", 40))
		}
	}
	assert.True(t, sawLong && sawBlob && sawOverflow && sawGlob, "%v", calls)
	assert.Equal(t, map[string]int64{"truncated": 5, "too_large": 1, "key_too_long": 1}, limited(t, reader),
		"two span names, two strings, one bytes value; one list; one key")

	cfg.DimensionValueLengthLimit = -1
	assert.ErrorContains(t, cfg.Validate(), "dimension_value_length_limit: must not be negative")
	assert.Equal(t, defaultValueLengthLimit, createDefaultConfig().valueLengthLimit())
}

// Glob dimensions gather keys from the span, its event and its resource,
// de-duplicated by sorting: thousands of matching attributes cost
// O(k log k), not k².
func TestGlobDimensionsWithManyKeys(t *testing.T) {
	cfg := seedConfig()
	cfg.Dimensions = []Dimension{{Glob: "k.*"}}
	h, _ := newLimitHarness(t, cfg)
	attrs := map[string]any{}
	res := map[string]any{"service.name": "svc"}
	for i := range 5000 {
		attrs[fmt.Sprintf("k.%05d", i)] = int64(i)
		if i%2 == 0 {
			res[fmt.Sprintf("k.%05d", i)] = "from the resource"
		}
	}
	h.consume(t, t0, traces(res, spanSpec{name: "wide", attrs: attrs}))
	for _, p := range flatten(h.flush(t, t0.Add(time.Minute))) {
		if p.Metric == "traces.span.metrics.calls" {
			globbed := 0
			for k := range p.Attrs {
				if strings.HasPrefix(k, "k.") {
					globbed++
				}
			}
			assert.Equal(t, 5000, globbed, "every key once")
			assert.Equal(t, int64(42), p.Attrs["k.00042"], "the span's value wins over the resource's")
		}
	}
}
