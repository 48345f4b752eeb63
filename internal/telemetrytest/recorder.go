package telemetrytest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ScopePrefix is what the instrumentation scope of every tailgate
// instrument starts with; instruments of other scopes (the collector's
// exporterhelper, gRPC, ...) are documented by their own projects.
const ScopePrefix = "github.com/tailgate-otel/tailgate"

// Kind is the API method an instrument was created with.
type Kind string

// The instrument kinds of the metric API.
const (
	Int64Counter                   Kind = "Int64Counter"
	Int64UpDownCounter             Kind = "Int64UpDownCounter"
	Int64Histogram                 Kind = "Int64Histogram"
	Int64Gauge                     Kind = "Int64Gauge"
	Int64ObservableCounter         Kind = "Int64ObservableCounter"
	Int64ObservableUpDownCounter   Kind = "Int64ObservableUpDownCounter"
	Int64ObservableGauge           Kind = "Int64ObservableGauge"
	Float64Counter                 Kind = "Float64Counter"
	Float64UpDownCounter           Kind = "Float64UpDownCounter"
	Float64Histogram               Kind = "Float64Histogram"
	Float64Gauge                   Kind = "Float64Gauge"
	Float64ObservableCounter       Kind = "Float64ObservableCounter"
	Float64ObservableUpDownCounter Kind = "Float64ObservableUpDownCounter"
	Float64ObservableGauge         Kind = "Float64ObservableGauge"
)

// Shape is how mdatagen's metadata.yaml describes a kind: the data section
// (sum, gauge, histogram), its value_type, monotonic (sums only) and async.
type Shape struct {
	Data      string // "sum", "gauge" or "histogram"
	ValueType string // "int" or "double"
	Monotonic bool
	Async     bool
}

// Shape returns the metadata.yaml description of k.
func (k Kind) Shape() Shape {
	s := string(k)
	var sh Shape
	sh.ValueType = "int"
	if strings.HasPrefix(s, "Float64") {
		sh.ValueType = "double"
	}
	sh.Async = strings.Contains(s, "Observable")
	switch {
	case strings.HasSuffix(s, "UpDownCounter"):
		sh.Data = "sum"
	case strings.HasSuffix(s, "Counter"):
		sh.Data, sh.Monotonic = "sum", true
	case strings.HasSuffix(s, "Histogram"):
		sh.Data = "histogram"
	default:
		sh.Data = "gauge"
	}
	return sh
}

// Instrument is one instrument as the component created it.
type Instrument struct {
	Scope       string
	Name        string
	Kind        Kind
	Unit        string
	Description string
	Buckets     []float64 // explicit histogram bucket boundaries, if given
}

// Recorder is a metric.MeterProvider for tests. It records every
// instrument created through it and hands the creation on to an SDK
// MeterProvider with a manual reader, so that measurements and their
// attributes can be read back with Collect.
type Recorder struct {
	embedded.MeterProvider

	sdk    *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader

	mu          sync.Mutex
	instruments []Instrument
}

var _ metric.MeterProvider = (*Recorder)(nil)

// NewRecorder returns an empty Recorder. Call Shutdown when done.
func NewRecorder() *Recorder {
	r := sdkmetric.NewManualReader()
	return &Recorder{reader: r, sdk: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))}
}

// NewForTest returns a Recorder that is shut down when t ends.
func NewForTest(t testing.TB) *Recorder {
	t.Helper()
	r := NewRecorder()
	t.Cleanup(func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("shutting down the recorder: %v", err)
		}
	})
	return r
}

// Meter returns a meter of scope name whose instruments are recorded.
func (r *Recorder) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return &meter{Meter: r.sdk.Meter(name, opts...), scope: name, rec: r}
}

// Instruments returns every instrument created so far, in creation order.
func (r *Recorder) Instruments() []Instrument {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.instruments)
}

// Collect reads the current measurements of every instrument.
func (r *Recorder) Collect(ctx context.Context) (metricdata.ResourceMetrics, error) {
	var rm metricdata.ResourceMetrics
	err := r.reader.Collect(ctx, &rm)
	return rm, err
}

// Shutdown stops the SDK provider.
func (r *Recorder) Shutdown(ctx context.Context) error { return r.sdk.Shutdown(ctx) }

func (r *Recorder) record(scope, name string, kind Kind, unit, desc string, buckets []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.instruments = append(r.instruments, Instrument{
		Scope: scope, Name: name, Kind: kind, Unit: unit, Description: desc, Buckets: slices.Clone(buckets),
	})
}

// meter records each instrument's creation and delegates it to the SDK.
type meter struct {
	metric.Meter // the SDK's; also provides embedded.Meter
	scope        string
	rec          *Recorder
}

func (m *meter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	c := metric.NewInt64CounterConfig(opts...)
	m.rec.record(m.scope, name, Int64Counter, c.Unit(), c.Description(), nil)
	return m.Meter.Int64Counter(name, opts...)
}

func (m *meter) Int64UpDownCounter(name string, opts ...metric.Int64UpDownCounterOption) (metric.Int64UpDownCounter, error) {
	c := metric.NewInt64UpDownCounterConfig(opts...)
	m.rec.record(m.scope, name, Int64UpDownCounter, c.Unit(), c.Description(), nil)
	return m.Meter.Int64UpDownCounter(name, opts...)
}

func (m *meter) Int64Histogram(name string, opts ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	c := metric.NewInt64HistogramConfig(opts...)
	m.rec.record(m.scope, name, Int64Histogram, c.Unit(), c.Description(), c.ExplicitBucketBoundaries())
	return m.Meter.Int64Histogram(name, opts...)
}

func (m *meter) Int64Gauge(name string, opts ...metric.Int64GaugeOption) (metric.Int64Gauge, error) {
	c := metric.NewInt64GaugeConfig(opts...)
	m.rec.record(m.scope, name, Int64Gauge, c.Unit(), c.Description(), nil)
	return m.Meter.Int64Gauge(name, opts...)
}

func (m *meter) Int64ObservableCounter(name string, opts ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	c := metric.NewInt64ObservableCounterConfig(opts...)
	m.rec.record(m.scope, name, Int64ObservableCounter, c.Unit(), c.Description(), nil)
	return m.Meter.Int64ObservableCounter(name, opts...)
}

func (m *meter) Int64ObservableUpDownCounter(name string, opts ...metric.Int64ObservableUpDownCounterOption) (metric.Int64ObservableUpDownCounter, error) {
	c := metric.NewInt64ObservableUpDownCounterConfig(opts...)
	m.rec.record(m.scope, name, Int64ObservableUpDownCounter, c.Unit(), c.Description(), nil)
	return m.Meter.Int64ObservableUpDownCounter(name, opts...)
}

func (m *meter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	c := metric.NewInt64ObservableGaugeConfig(opts...)
	m.rec.record(m.scope, name, Int64ObservableGauge, c.Unit(), c.Description(), nil)
	return m.Meter.Int64ObservableGauge(name, opts...)
}

func (m *meter) Float64Counter(name string, opts ...metric.Float64CounterOption) (metric.Float64Counter, error) {
	c := metric.NewFloat64CounterConfig(opts...)
	m.rec.record(m.scope, name, Float64Counter, c.Unit(), c.Description(), nil)
	return m.Meter.Float64Counter(name, opts...)
}

func (m *meter) Float64UpDownCounter(name string, opts ...metric.Float64UpDownCounterOption) (metric.Float64UpDownCounter, error) {
	c := metric.NewFloat64UpDownCounterConfig(opts...)
	m.rec.record(m.scope, name, Float64UpDownCounter, c.Unit(), c.Description(), nil)
	return m.Meter.Float64UpDownCounter(name, opts...)
}

func (m *meter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	c := metric.NewFloat64HistogramConfig(opts...)
	m.rec.record(m.scope, name, Float64Histogram, c.Unit(), c.Description(), c.ExplicitBucketBoundaries())
	return m.Meter.Float64Histogram(name, opts...)
}

func (m *meter) Float64Gauge(name string, opts ...metric.Float64GaugeOption) (metric.Float64Gauge, error) {
	c := metric.NewFloat64GaugeConfig(opts...)
	m.rec.record(m.scope, name, Float64Gauge, c.Unit(), c.Description(), nil)
	return m.Meter.Float64Gauge(name, opts...)
}

func (m *meter) Float64ObservableCounter(name string, opts ...metric.Float64ObservableCounterOption) (metric.Float64ObservableCounter, error) {
	c := metric.NewFloat64ObservableCounterConfig(opts...)
	m.rec.record(m.scope, name, Float64ObservableCounter, c.Unit(), c.Description(), nil)
	return m.Meter.Float64ObservableCounter(name, opts...)
}

func (m *meter) Float64ObservableUpDownCounter(name string, opts ...metric.Float64ObservableUpDownCounterOption) (metric.Float64ObservableUpDownCounter, error) {
	c := metric.NewFloat64ObservableUpDownCounterConfig(opts...)
	m.rec.record(m.scope, name, Float64ObservableUpDownCounter, c.Unit(), c.Description(), nil)
	return m.Meter.Float64ObservableUpDownCounter(name, opts...)
}

func (m *meter) Float64ObservableGauge(name string, opts ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	c := metric.NewFloat64ObservableGaugeConfig(opts...)
	m.rec.record(m.scope, name, Float64ObservableGauge, c.Unit(), c.Description(), nil)
	return m.Meter.Float64ObservableGauge(name, opts...)
}

// Observed is what the measurements of one metric carried: per attribute
// key, the value type and the distinct values seen.
type Observed map[string]ObservedAttr

// ObservedAttr is one attribute key of a metric's measurements.
type ObservedAttr struct {
	Type   string   // metadata.yaml type: string, bool, int, double
	Values []string // distinct values, sorted
}

// ObservedAttributes collects the current measurements of every tailgate
// instrument and returns, per metric name, the attributes they carried.
func (r *Recorder) ObservedAttributes(ctx context.Context) (map[string]Observed, error) {
	rm, err := r.Collect(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]Observed{}
	for _, sm := range rm.ScopeMetrics {
		if !strings.HasPrefix(sm.Scope.Name, ScopePrefix) {
			continue
		}
		for _, m := range sm.Metrics {
			obs := out[m.Name]
			if obs == nil {
				obs = Observed{}
				out[m.Name] = obs
			}
			for _, set := range attributeSets(m.Data) {
				for _, kv := range set.ToSlice() {
					obs.add(kv)
				}
			}
		}
	}
	return out, nil
}

func (o Observed) add(kv attribute.KeyValue) {
	key := string(kv.Key)
	a := o[key]
	a.Type = attrType(kv.Value.Type())
	v := kv.Value.String()
	if i, found := slices.BinarySearch(a.Values, v); !found {
		a.Values = slices.Insert(a.Values, i, v)
	}
	o[key] = a
}

func attrType(t attribute.Type) string {
	switch t {
	case attribute.BOOL:
		return "bool"
	case attribute.INT64:
		return "int"
	case attribute.FLOAT64:
		return "double"
	case attribute.STRING:
		return "string"
	default:
		return "slice"
	}
}

func attributeSets(data metricdata.Aggregation) []attribute.Set {
	if sets, ok := numberSets[int64](data); ok {
		return sets
	}
	sets, _ := numberSets[float64](data)
	return sets
}

// numberSets returns the attribute sets of the data points of a sum, gauge
// or histogram of N, and false for any other aggregation.
func numberSets[N int64 | float64](data metricdata.Aggregation) ([]attribute.Set, bool) {
	var sets []attribute.Set
	switch d := data.(type) {
	case metricdata.Sum[N]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	case metricdata.Gauge[N]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	case metricdata.Histogram[N]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	default:
		return nil, false
	}
	return sets, true
}
