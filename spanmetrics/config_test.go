package spanmetrics

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func loadConfig(t *testing.T, id string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(id)
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadSeedBlock(t *testing.T) {
	cfg, err := loadConfig(t, "spanmetrics")
	require.NoError(t, err)
	want := createDefaultConfig()
	want.Histogram.Explicit = &ExplicitHistogramConfig{Buckets: []time.Duration{
		100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second}}
	want.Dimensions = []Dimension{{Name: "http.method"}, {Name: "http.status_code"}}
	assert.Equal(t, want, cfg)
	assert.Equal(t, []float64{100, 250, 500, 1000, 5000}, cfg.bounds())
}

func TestLoadEveryKey(t *testing.T) {
	cfg, err := loadConfig(t, "span_metrics/full")
	require.NoError(t, err)
	get := "GET"
	three := 300
	assert.Equal(t, &Config{
		Dimensions:                   []Dimension{{Name: "http.method", Default: &get}, {Glob: "db.*"}},
		CallsDimensions:              []Dimension{{Name: "rpc.system"}},
		ExcludeDimensions:            []string{"span.kind"},
		DimensionsCacheSize:          500,
		ResourceMetricsCacheSize:     200,
		ResourceMetricsKeyAttributes: []string{"service.name", "telemetry.sdk.language"},
		AggregationTemporality:       TemporalityDelta,
		Histogram: HistogramConfig{Unit: UnitSeconds, Exponential: &ExponentialHistogramConfig{MaxSize: 80},
			Dimensions: []Dimension{{Name: "http.route"}}},
		MetricsFlushInterval:        15 * time.Second,
		MetricsExpiration:           5 * time.Minute,
		SeriesExpiration:            2 * time.Minute,
		TimestampCacheSize:          &three,
		Namespace:                   "red",
		Exemplars:                   ExemplarsConfig{Enabled: true, MaxPerDataPoint: 3},
		Events:                      EventsConfig{Enabled: true, Dimensions: []Dimension{{Name: "exception.type"}}},
		IncludeInstrumentationScope: []string{"io.opentelemetry.http"},
		AggregationCardinalityLimit: 1500,
		AddResourceAttributes:       true,
		EnableMetricsSamplingMethod: true,
	}, cfg)
}

func TestDefaults(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, cfg.Validate())
	assert.Equal(t, 60*time.Second, cfg.MetricsFlushInterval)
	assert.Equal(t, 1000, cfg.ResourceMetricsCacheSize)
	assert.Equal(t, 10000, cfg.timestampCacheSize(), "10 per resource of resource_metrics_cache_size, at least 1000")
	cfg.ResourceMetricsCacheSize = 50
	assert.Equal(t, 1000, cfg.timestampCacheSize())
	cfg.ResourceMetricsCacheSize = defaultResourceCacheSize
	assert.Equal(t, "traces.span.metrics", cfg.Namespace)
	assert.Equal(t, TemporalityCumulative, cfg.AggregationTemporality)
	assert.Equal(t, defaultBucketsMs, cfg.bounds())
	assert.Equal(t, 5, cfg.Exemplars.MaxPerDataPoint)
	assert.Equal(t, int32(160), cfg.expoMaxSize())
}

func TestValidateRejectsImpossibleValues(t *testing.T) {
	_, err := loadConfig(t, "span_metrics/zero_flush")
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "metrics_flush_interval: must be positive")

	_, err = loadConfig(t, "span_metrics/bad")
	require.Error(t, err)
	for _, msg := range []string{
		"metrics_flush_interval: must be positive",
		"aggregation_temporality: must be",
		"histogram::unit: must be ms or s",
		"histogram: use either explicit or exponential",
		"histogram::explicit::buckets[1]: must be greater than the previous bucket",
		"histogram::exponential::max_size: must be at least 2",
		`dimensions[0]::name: duplicate dimension "service.name"`,
		"dimensions[1]: one of name or glob is required",
		"events::dimensions: required when events::enabled is true",
		"resource_metrics_cache_size: must be positive",
		`exclude_dimensions[0]: "http.method" is not a default dimension`,
	} {
		assert.Contains(t, err.Error(), msg)
	}

	_, err = loadConfig(t, "span_metrics/unknown_key")
	require.ErrorContains(t, err, "no_such_key")
}

func TestValidateTable(t *testing.T) {
	neg := -1
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"negative expiration", func(c *Config) { c.MetricsExpiration = -time.Second }, "metrics_expiration"},
		{"negative series expiration", func(c *Config) { c.SeriesExpiration = -time.Second }, "series_expiration"},
		{"timestamp cache", func(c *Config) { c.TimestampCacheSize = &neg }, "metric_timestamp_cache_size"},
		{"cardinality", func(c *Config) { c.AggregationCardinalityLimit = -1 }, "aggregation_cardinality_limit"},
		{"exemplars", func(c *Config) { c.Exemplars.MaxPerDataPoint = -1 }, "exemplars::max_per_data_point"},
		{"bad glob", func(c *Config) { c.Dimensions = []Dimension{{Glob: "["}} }, "dimensions[0]::glob"},
		{"glob with default", func(c *Config) { d := "x"; c.Dimensions = []Dimension{{Glob: "a*", Default: &d}} }, "dimensions[0]::default"},
		{"zero bucket", func(c *Config) { c.Histogram.Explicit = &ExplicitHistogramConfig{Buckets: []time.Duration{0}} }, "buckets[0]: must be positive"},
		{"calls dup", func(c *Config) { c.CallsDimensions = []Dimension{{Name: "a"}, {Name: "a"}} }, "calls_dimensions[1]::name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			tt.mod(cfg)
			require.ErrorContains(t, cfg.Validate(), tt.want)
		})
	}
}

func TestFactoryTypeAndAlias(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, component.MustNewType("span_metrics"), f.Type())
	assert.Equal(t, component.StabilityLevelAlpha, f.TracesToMetricsStability())
	holder, ok := f.(interface{ DeprecatedAlias() component.Type })
	require.True(t, ok)
	assert.Equal(t, component.MustNewType("spanmetrics"), holder.DeprecatedAlias())
}
