package spanmetrics

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/internal/gatestate"
	"github.com/tailgate-otel/tailgate/internal/ratelog"
)

const numShards = 64

// ErrShutdown is returned by ConsumeTraces after Shutdown.
var ErrShutdown = errors.New("span_metrics connector is shut down")

// dim is a resolved dimension definition.
type dim struct {
	name string
	def  pcommon.Value // default; Empty type when none
	has  bool          // a default exists
}

type spanConnector struct {
	cfg    Config
	logger *zap.Logger
	next   consumer.Metrics
	tel    *telemetry
	warn   *ratelog.Logger

	now     func() time.Time
	newTick func(time.Duration) (<-chan time.Time, func())

	// resolved configuration
	temporality  pmetric.AggregationTemporality
	delta        bool
	unitNanos    float64
	bounds       []float64
	expo         bool
	expoMax      int32
	histOff      bool
	exemplars    int
	seriesLimit  int64
	valueLimit   int
	dims         []dim
	callsDims    []dim
	histDims     []dim
	eventDims    []dim
	globs        []string
	dimNames     map[string]bool
	splitKinds   bool // calls and duration need separate series
	keyAttrs     []string
	scopes       []string
	exclService  bool
	exclName     bool
	exclKind     bool
	exclStatus   bool
	callsName    string
	durationName string
	eventsName   string
	resCacheSize int
	tsCacheSize  int
	// instanceID is the collector.instance.id value every series
	// carries ("" when excluded or switched off).
	instanceID string
	// resAttrsOut: resource attributes are copied to the output.
	resAttrsOut bool

	shards  [numShards]shard
	seq     atomic.Uint64
	scratch sync.Pool

	resMu     sync.RWMutex
	resources map[uint64]*resource
	nRes      int

	flushMu  sync.Mutex
	flushBuf flushBuffers

	lifeMu   sync.Mutex
	cancel   context.CancelFunc
	done     chan struct{}
	shutdown atomic.Bool
}

// Option changes how a connector is built from code (tests, embedding).
type Option interface{ apply(*spanConnector) }

type optionFunc func(*spanConnector)

func (f optionFunc) apply(c *spanConnector) { f(c) }

// withClock makes flush timing and timestamps deterministic in tests.
func withClock(now func() time.Time) Option {
	return optionFunc(func(c *spanConnector) { c.now = now })
}

// withTicker replaces the flush ticker; tests pass a channel they drive.
func withTicker(f func(time.Duration) (<-chan time.Time, func())) Option {
	return optionFunc(func(c *spanConnector) { c.newTick = f })
}

func newConnector(set component.TelemetrySettings, cfg *Config, next consumer.Metrics, opts ...Option) (*spanConnector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &spanConnector{
		cfg:       *cfg,
		logger:    set.Logger,
		next:      next,
		now:       time.Now,
		resources: make(map[uint64]*resource),
		newTick: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
	}
	for _, o := range opts {
		o.apply(c)
	}
	c.warn = ratelog.New(set.Logger, cfg.MetricsFlushInterval)
	if cfg.DimensionsCacheSize != 0 {
		set.Logger.Warn("dimensions_cache_size is deprecated and ignored; use aggregation_cardinality_limit")
	}
	c.temporality = cfg.temporality()
	c.delta = c.temporality == pmetric.AggregationTemporalityDelta
	c.unitNanos = cfg.unitNanos()
	c.histOff = cfg.Histogram.Disable
	c.expo = cfg.Histogram.Exponential != nil
	c.expoMax = cfg.expoMaxSize()
	if !c.expo {
		c.bounds = cfg.bounds()
	}
	c.exemplars = cfg.exemplarLimit()
	c.seriesLimit = cfg.seriesLimit()
	c.valueLimit = cfg.valueLengthLimit()
	c.dimNames = map[string]bool{}
	for _, k := range reservedDimensions {
		c.dimNames[k] = true
	}
	c.dims = c.resolveDims(cfg.Dimensions)
	c.callsDims = c.resolveDims(cfg.CallsDimensions)
	c.histDims = c.resolveDims(cfg.Histogram.Dimensions)
	if cfg.Events.Enabled {
		c.eventDims = c.resolveDims(cfg.Events.Dimensions)
	}
	c.splitKinds = !c.histOff && (len(c.callsDims) > 0 || len(c.histDims) > 0)
	c.keyAttrs = slices.Sorted(slices.Values(cfg.ResourceMetricsKeyAttributes))
	c.keyAttrs = slices.Compact(c.keyAttrs)
	c.scopes = slices.Clone(cfg.IncludeInstrumentationScope)
	for _, e := range cfg.ExcludeDimensions {
		switch e {
		case serviceNameKey:
			c.exclService = true
		case spanNameKey:
			c.exclName = true
		case spanKindKey:
			c.exclKind = true
		case statusCodeKey:
			c.exclStatus = true
		}
	}
	c.callsName = metricName(cfg.Namespace, "calls")
	c.durationName = metricName(cfg.Namespace, "duration")
	c.eventsName = metricName(cfg.Namespace, "events")
	if gatestate.Enabled(gateInstanceID, true) && !slices.Contains(cfg.ExcludeDimensions, instanceKey) {
		c.instanceID = instanceIDOf(set.Resource)
	}
	c.resAttrsOut = !gatestate.Enabled(gateExcludeResource, false) || cfg.AddResourceAttributes
	c.resCacheSize = cfg.ResourceMetricsCacheSize
	c.tsCacheSize = cfg.timestampCacheSize()
	for i := range c.shards {
		c.shards[i].series = make(map[uint64]*series)
	}
	var seeds atomic.Uint64
	c.scratch.New = func() any {
		s := &scratch{rng: rng(mix64(seeds.Add(1)) | 1)}
		s.key = make([]byte, 0, 256)
		return s
	}
	tel, err := newTelemetry(set, c.activeSeries)
	if err != nil {
		return nil, err
	}
	c.tel = tel
	return c, nil
}

func (c *spanConnector) resolveDims(in []Dimension) []dim {
	var out []dim
	for _, d := range in {
		if d.Glob != "" {
			if !slices.Contains(c.globs, d.Glob) {
				c.globs = append(c.globs, d.Glob)
			}
			continue
		}
		r := dim{name: d.Name, def: pcommon.NewValueEmpty()}
		if d.Default != nil {
			r.def = pcommon.NewValueStr(*d.Default)
			r.has = true
		}
		c.dimNames[d.Name] = true
		out = append(out, r)
	}
	return out
}

// matchesGlob reports whether k matches a glob dimension. Its caller has
// already set aside keys over the value length limit (and counted them).
func (c *spanConnector) matchesGlob(k string) bool {
	for _, g := range c.globs {
		if ok, _ := path.Match(g, k); ok {
			return true
		}
	}
	return false
}

func (c *spanConnector) activeSeries() int64 {
	var n int64
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += int64(sh.n)
		sh.mu.Unlock()
	}
	return n
}

// Capabilities reports that input is only read.
func (c *spanConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start launches the flush loop under its own context and returns at once.
func (c *spanConnector) Start(context.Context, component.Host) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.cancel != nil || c.shutdown.Load() {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	tick, stop := c.newTick(c.cfg.MetricsFlushInterval)
	go func() {
		defer close(c.done)
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick:
				if err := c.flush(ctx); err != nil && ctx.Err() == nil {
					c.warn.WarnAt(c.now(), "span metrics flush failed", zap.Error(err))
				}
			}
		}
	}()
	return nil
}

// Shutdown stops the flush loop and hands what was aggregated since the last
// flush to the next consumer, within ctx. It is idempotent and safe before
// Start.
func (c *spanConnector) Shutdown(ctx context.Context) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.shutdown.Swap(true) {
		return nil
	}
	if c.cancel != nil {
		c.cancel()
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := c.flush(ctx)
	if c.tel.reg != nil {
		err = errors.Join(err, c.tel.reg.Unregister())
	}
	return err
}

func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Upstream's feature gates this connector follows, when upstream's
// connector is linked into the same binary (see internal/gatestate); when
// it is not, their upstream defaults apply.
const (
	// gateInstanceID (beta, on): every series carries collector.instance.id.
	gateInstanceID = "connector.spanmetrics.includeCollectorInstanceID"
	// gateExcludeResource (alpha, off): resource attributes are left out
	// of the output unless add_resource_attributes is set.
	gateExcludeResource = "connector.spanmetrics.excludeResourceMetrics"
)

// instanceIDOf is the collector.instance.id value: the collector's own
// resource attribute collector.instance.id when the service's telemetry
// resource sets it, as upstream reads it; else the collector's
// service.instance.id (a UUID per process unless configured); else a
// random UUID, which is what upstream ends up with when the attribute is
// not set.
func instanceIDOf(res pcommon.Resource) string {
	attrs := res.Attributes()
	for _, k := range []string{instanceKey, "service.instance.id"} {
		if v, ok := attrs.Get(k); ok && v.AsString() != "" {
			return v.AsString()
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
