package spanmetrics

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Temporality values accepted by aggregation_temporality (upstream's spelling).
const (
	TemporalityCumulative = "AGGREGATION_TEMPORALITY_CUMULATIVE"
	TemporalityDelta      = "AGGREGATION_TEMPORALITY_DELTA"
)

// Histogram units accepted by histogram.unit.
const (
	UnitMilliseconds = "ms"
	UnitSeconds      = "s"
)

// DefaultNamespace prefixes every emitted metric name, as upstream does.
const DefaultNamespace = "traces.span.metrics"

const (
	defaultFlushInterval     = 60 * time.Second
	defaultResourceCacheSize = 1000
	// metric_timestamp_cache_size, when unset: ten entries per resource
	// of resource_metrics_cache_size, at least 1000, as upstream.
	minTimestampCacheSize        = 1000
	timestampCachePerResource    = 10
	defaultExemplarsPerDataPoint = 5
	defaultExponentialMaxSize    = 160
	// defaultSeriesLimit bounds series per resource and metric when
	// aggregation_cardinality_limit is 0 (upstream: unbounded). Beyond it
	// spans go to the overflow series, so memory stays bounded.
	defaultSeriesLimit = 100_000
	minExponentialSize = 2
)

// defaultBucketsMs are upstream's default explicit bounds, in milliseconds.
var defaultBucketsMs = []float64{2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000}

// Names of the dimensions every series carries unless excluded.
const (
	serviceNameKey  = "service.name"
	spanNameKey     = "span.name"
	spanKindKey     = "span.kind"
	statusCodeKey   = "status.code"
	scopeNameKey    = "span.instrumentation.scope.name"
	scopeVersionKey = "span.instrumentation.scope.version"
	samplingKey     = "sampling.method"
	overflowKey     = "otel.metric.overflow"
	// instanceKey identifies the collector instance that aggregated a
	// point, so several gateways' cumulative series never collide.
	instanceKey = "collector.instance.id"
)

var reservedDimensions = []string{serviceNameKey, spanNameKey, spanKindKey, statusCodeKey, instanceKey}

// Dimension is one extra attribute copied from spans onto metrics. Either
// Name (looked up in span attributes, then resource attributes, then Default)
// or Glob (every span or resource attribute whose key matches) is set.
type Dimension struct {
	Name    string  `mapstructure:"name"`
	Default *string `mapstructure:"default"`
	Glob    string  `mapstructure:"glob"`
}

// Config mirrors upstream spanmetricsconnector's configuration key for key.
type Config struct {
	Dimensions        []Dimension `mapstructure:"dimensions"`
	CallsDimensions   []Dimension `mapstructure:"calls_dimensions"`
	ExcludeDimensions []string    `mapstructure:"exclude_dimensions"`

	// DimensionsCacheSize is deprecated upstream; accepted and ignored
	// with a warning.
	DimensionsCacheSize int `mapstructure:"dimensions_cache_size"`

	ResourceMetricsCacheSize     int      `mapstructure:"resource_metrics_cache_size"`
	ResourceMetricsKeyAttributes []string `mapstructure:"resource_metrics_key_attributes"`

	AggregationTemporality string          `mapstructure:"aggregation_temporality"`
	Histogram              HistogramConfig `mapstructure:"histogram"`

	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`
	MetricsExpiration    time.Duration `mapstructure:"metrics_expiration"`
	SeriesExpiration     time.Duration `mapstructure:"series_expiration"`
	TimestampCacheSize   *int          `mapstructure:"metric_timestamp_cache_size"`

	Namespace string `mapstructure:"namespace"`

	Exemplars ExemplarsConfig `mapstructure:"exemplars"`
	Events    EventsConfig    `mapstructure:"events"`

	IncludeInstrumentationScope []string `mapstructure:"include_instrumentation_scope"`
	AggregationCardinalityLimit int      `mapstructure:"aggregation_cardinality_limit"`
	AddResourceAttributes       bool     `mapstructure:"add_resource_attributes"`
	EnableMetricsSamplingMethod bool     `mapstructure:"enable_metrics_sampling_method"`

	// DimensionValueLengthLimit bounds, in bytes, what a span's attribute
	// contributes to a series (not in upstream: attribute values are
	// input, and every series keeps a copy of its values). Longer string
	// and bytes values are truncated to it (strings at a UTF-8 boundary),
	// as OpenTelemetry SDKs' attribute value length limit does; a slice or
	// map value whose encoding is longer sends the span to the overflow
	// series; glob dimensions ignore attribute keys longer than it. The
	// span name, service.name and scope name and version are dimension
	// values too. Zero: 2048.
	DimensionValueLengthLimit int `mapstructure:"dimension_value_length_limit"`
}

// HistogramConfig selects the duration histogram.
type HistogramConfig struct {
	Disable     bool                        `mapstructure:"disable"`
	Unit        string                      `mapstructure:"unit"`
	Exponential *ExponentialHistogramConfig `mapstructure:"exponential"`
	Explicit    *ExplicitHistogramConfig    `mapstructure:"explicit"`
	Dimensions  []Dimension                 `mapstructure:"dimensions"`
}

// ExponentialHistogramConfig configures a base-2 exponential histogram.
type ExponentialHistogramConfig struct {
	MaxSize int32 `mapstructure:"max_size"`
}

// ExplicitHistogramConfig configures fixed bucket bounds, written as
// durations (`100ms`, `1s`).
type ExplicitHistogramConfig struct {
	Buckets []time.Duration `mapstructure:"buckets"`
}

// ExemplarsConfig attaches trace and span IDs of recorded spans to points.
type ExemplarsConfig struct {
	Enabled         bool `mapstructure:"enabled"`
	MaxPerDataPoint int  `mapstructure:"max_per_data_point"`
}

// EventsConfig enables the events metric.
type EventsConfig struct {
	Enabled    bool        `mapstructure:"enabled"`
	Dimensions []Dimension `mapstructure:"dimensions"`
}

var _ confmap.Validator = (*Config)(nil)

func createDefaultConfig() *Config {
	return &Config{
		AggregationTemporality:   TemporalityCumulative,
		ResourceMetricsCacheSize: defaultResourceCacheSize,
		MetricsFlushInterval:     defaultFlushInterval,
		Namespace:                DefaultNamespace,
		Histogram:                HistogramConfig{Unit: UnitMilliseconds},
		Exemplars:                ExemplarsConfig{MaxPerDataPoint: defaultExemplarsPerDataPoint},
	}
}

// ErrInvalidConfig wraps every problem Validate reports.
var ErrInvalidConfig = errors.New("invalid span_metrics config")

// Validate reports every problem at once. Unlike upstream it rejects values
// that would panic or misbehave at run time (a zero flush interval, unsorted
// buckets, an unknown temporality).
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidConfig, key, fmt.Sprintf(format, args...)))
	}

	seen := map[string]bool{}
	for _, k := range reservedDimensions {
		seen[k] = true
	}
	checkDims := func(key string, dims []Dimension, names map[string]bool) {
		for i, d := range dims {
			k := fmt.Sprintf("%s[%d]", key, i)
			switch {
			case d.Name == "" && d.Glob == "":
				bad(k, "one of name or glob is required")
			case d.Name != "" && d.Glob != "":
				bad(k, "name and glob are mutually exclusive")
			case d.Glob != "":
				if d.Default != nil {
					bad(k+"::default", "not allowed with glob")
				}
				if _, err := path.Match(d.Glob, ""); err != nil {
					bad(k+"::glob", "invalid pattern %q: %v", d.Glob, err)
				}
			case names[d.Name]:
				bad(k+"::name", "duplicate dimension %q", d.Name)
			default:
				names[d.Name] = true
			}
		}
	}
	checkDims("dimensions", c.Dimensions, seen)
	checkDims("calls_dimensions", c.CallsDimensions, cloneSet(seen))
	checkDims("histogram::dimensions", c.Histogram.Dimensions, cloneSet(seen))
	if c.Events.Enabled {
		if len(c.Events.Dimensions) == 0 {
			bad("events::dimensions", "required when events::enabled is true")
		}
		checkDims("events::dimensions", c.Events.Dimensions, cloneSet(seen))
	}
	for i, d := range c.ExcludeDimensions {
		if !slices.Contains(reservedDimensions, d) {
			bad(fmt.Sprintf("exclude_dimensions[%d]", i), "%q is not a default dimension (one of %v)", d, reservedDimensions)
		}
	}

	switch c.AggregationTemporality {
	case "", TemporalityCumulative, TemporalityDelta:
	default:
		bad("aggregation_temporality", "must be %s or %s, got %q", TemporalityCumulative, TemporalityDelta, c.AggregationTemporality)
	}
	switch c.Histogram.Unit {
	case "", UnitMilliseconds, UnitSeconds:
	default:
		bad("histogram::unit", "must be ms or s, got %q", c.Histogram.Unit)
	}
	if c.Histogram.Explicit != nil && c.Histogram.Exponential != nil {
		bad("histogram", "use either explicit or exponential, not both")
	}
	if e := c.Histogram.Explicit; e != nil {
		for i, b := range e.Buckets {
			if b <= 0 {
				bad(fmt.Sprintf("histogram::explicit::buckets[%d]", i), "must be positive, got %v", b)
			} else if i > 0 && b <= e.Buckets[i-1] {
				bad(fmt.Sprintf("histogram::explicit::buckets[%d]", i), "must be greater than the previous bucket (%v <= %v)", b, e.Buckets[i-1])
			}
		}
	}
	if e := c.Histogram.Exponential; e != nil && e.MaxSize != 0 && e.MaxSize < minExponentialSize {
		bad("histogram::exponential::max_size", "must be at least %d, got %d", minExponentialSize, e.MaxSize)
	}

	if c.MetricsFlushInterval <= 0 {
		bad("metrics_flush_interval", "must be positive, got %v", c.MetricsFlushInterval)
	}
	if c.MetricsExpiration < 0 {
		bad("metrics_expiration", "must not be negative, got %v", c.MetricsExpiration)
	}
	if c.SeriesExpiration < 0 {
		bad("series_expiration", "must not be negative, got %v", c.SeriesExpiration)
	}
	if c.ResourceMetricsCacheSize <= 0 {
		bad("resource_metrics_cache_size", "must be positive, got %d", c.ResourceMetricsCacheSize)
	}
	if c.TimestampCacheSize != nil && *c.TimestampCacheSize <= 0 {
		bad("metric_timestamp_cache_size", "must be positive, got %d", *c.TimestampCacheSize)
	}
	if c.AggregationCardinalityLimit < 0 {
		bad("aggregation_cardinality_limit", "must not be negative, got %d", c.AggregationCardinalityLimit)
	}
	if c.Exemplars.MaxPerDataPoint < 0 {
		bad("exemplars::max_per_data_point", "must not be negative, got %d", c.Exemplars.MaxPerDataPoint)
	}
	if c.DimensionValueLengthLimit < 0 {
		bad("dimension_value_length_limit", "must not be negative, got %d", c.DimensionValueLengthLimit)
	}
	if c.DimensionsCacheSize < 0 {
		bad("dimensions_cache_size", "must not be negative, got %d", c.DimensionsCacheSize)
	}
	return errors.Join(errs...)
}

func cloneSet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (c *Config) temporality() pmetric.AggregationTemporality {
	if c.AggregationTemporality == TemporalityDelta {
		return pmetric.AggregationTemporalityDelta
	}
	return pmetric.AggregationTemporalityCumulative
}

func (c *Config) unit() string {
	if c.Histogram.Unit == UnitSeconds {
		return UnitSeconds
	}
	return UnitMilliseconds
}

// unitNanos is how many nanoseconds one histogram unit holds.
func (c *Config) unitNanos() float64 {
	if c.unit() == UnitSeconds {
		return float64(time.Second)
	}
	return float64(time.Millisecond)
}

// bounds returns the explicit bucket bounds in the histogram's unit.
func (c *Config) bounds() []float64 {
	if c.Histogram.Explicit != nil && len(c.Histogram.Explicit.Buckets) > 0 {
		out := make([]float64, len(c.Histogram.Explicit.Buckets))
		for i, b := range c.Histogram.Explicit.Buckets {
			out[i] = float64(b) / c.unitNanos()
		}
		return out
	}
	out := slices.Clone(defaultBucketsMs)
	if c.unit() == UnitSeconds {
		for i := range out {
			out[i] /= 1000
		}
	}
	return out
}

func (c *Config) timestampCacheSize() int {
	if c.TimestampCacheSize != nil {
		return *c.TimestampCacheSize
	}
	return max(minTimestampCacheSize, c.ResourceMetricsCacheSize*timestampCachePerResource)
}

// defaultValueLengthLimit is dimension_value_length_limit's default: the
// label value limit of common Prometheus-compatible backends.
const defaultValueLengthLimit = 2048

func (c *Config) valueLengthLimit() int {
	if c.DimensionValueLengthLimit > 0 {
		return c.DimensionValueLengthLimit
	}
	return defaultValueLengthLimit
}

func (c *Config) seriesLimit() int64 {
	if c.AggregationCardinalityLimit > 0 {
		return int64(c.AggregationCardinalityLimit)
	}
	return defaultSeriesLimit
}

func (c *Config) exemplarLimit() int {
	if !c.Exemplars.Enabled {
		return 0
	}
	if c.Exemplars.MaxPerDataPoint == 0 {
		return defaultExemplarsPerDataPoint
	}
	return c.Exemplars.MaxPerDataPoint
}

func (c *Config) expoMaxSize() int32 {
	if c.Histogram.Exponential != nil && c.Histogram.Exponential.MaxSize > 0 {
		return c.Histogram.Exponential.MaxSize
	}
	return defaultExponentialMaxSize
}

func metricName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "." + name
}
