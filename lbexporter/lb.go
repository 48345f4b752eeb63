package lbexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/tailgate-otel/tailgate/hashring"
	"github.com/tailgate-otel/tailgate/internal/ratelog"
	"github.com/tailgate-otel/tailgate/resolver"
)

// Errors returned by the exporter.
var (
	// ErrNoEndpoints is returned (retryable) when the resolver knows no
	// endpoint; with retry_on_failure or sending_queue the data waits.
	ErrNoEndpoints = errors.New("load_balancing: no endpoint known to the resolver")
	// ErrShutdown is returned for data pushed after Shutdown.
	ErrShutdown = errors.New("load_balancing: exporter is shut down")
)

// maxReroutes bounds how often one piece of data is re-routed inside one
// call; what is still failing after that is returned as a partial error.
const maxReroutes = 3

// signalOps adapts the generic load balancer to one pdata signal.
type signalOps[T any] struct {
	newData func() T
	count   func(T) int
	// moveAll appends src's content to dst, leaving src empty.
	moveAll func(dst, src T)
	// partial wraps err with the data that failed, so that exporterhelper's
	// retry re-sends only that part.
	partial func(err error, data T) error
	// split routes data into out; it may move content out of data.
	split func(r *router, data T, out *outputs[T], st *splitStats)
	// newBackend creates (not starts) the exporter of one endpoint.
	newBackend func(ctx context.Context, endpoint string) (component.Component, func(context.Context, T) error, error)
}

// splitStats counts items routed by a fallback key.
type splitStats struct {
	emptyTraceID   int64
	missingService int64
}

// outputs holds one outgoing batch per backend index, created lazily.
type outputs[T any] struct {
	data    []T
	has     []bool
	newData func() T
}

func (o *outputs[T]) reset(n int) {
	if cap(o.data) < n {
		o.data = make([]T, n)
		o.has = make([]bool, n)
	}
	o.data = o.data[:n]
	o.has = o.has[:n]
	var zero T
	for i := range o.data {
		o.data[i] = zero
		o.has[i] = false
	}
}

func (o *outputs[T]) at(i int) T {
	if !o.has[i] {
		o.data[i] = o.newData()
		o.has[i] = true
	}
	return o.data[i]
}

// call is the per-call scratch, pooled.
type call[T any] struct {
	r       router
	out     outputs[T]
	removed []bool
	errs    []error
}

type lb[T any] struct {
	set     component.TelemetrySettings
	cfg     *Config
	ops     signalOps[T]
	tel     *telemetry
	newRes  func(resolver.Config, resolver.Settings, resolver.Listener) (resolver.Resolver, error)
	grace   time.Duration
	calls   sync.Pool
	limiter *ratelog.Logger

	table atomic.Pointer[table[T]]

	mu      sync.Mutex // serialises endpoint changes, Start and Shutdown
	host    component.Host
	res     resolver.Resolver
	started bool
	stopped atomic.Bool
	runCtx  context.Context
	cancel  context.CancelFunc
	closing sync.WaitGroup
}

func newLB[T any](set component.TelemetrySettings, cfg *Config, ops signalOps[T],
	newRes func(resolver.Config, resolver.Settings, resolver.Listener) (resolver.Resolver, error)) (*lb[T], error) {
	tel, err := newTelemetry(set.MeterProvider)
	if err != nil {
		return nil, err
	}
	grace := cfg.Protocol.OTLP.TimeoutConfig.Timeout
	if grace <= 0 {
		grace = 5 * time.Second
	}
	l := &lb[T]{set: set, cfg: cfg, ops: ops, tel: tel, newRes: newRes, grace: grace}
	l.limiter = ratelog.New(set.Logger, 10*time.Second)
	l.calls.New = func() any { return &call[T]{out: outputs[T]{newData: ops.newData}} }
	return l, nil
}

// start builds the resolver; its listener installs tables. Endpoints found
// during the resolver's own Start are live when start returns.
func (l *lb[T]) start(ctx context.Context, host component.Host) error {
	l.mu.Lock()
	if l.started || l.stopped.Load() {
		l.mu.Unlock()
		return nil
	}
	l.started = true
	l.host = host
	l.runCtx, l.cancel = context.WithCancel(context.Background())
	res, err := l.newRes(l.cfg.Resolver, resolver.Settings{Logger: l.set.Logger, MeterProvider: l.set.MeterProvider}, l.onEndpoints)
	if err != nil {
		l.mu.Unlock()
		return fmt.Errorf("load_balancing: resolver: %w", err)
	}
	l.res = res
	l.mu.Unlock()
	// Not under mu: the resolver calls onEndpoints from Start.
	if err := res.Start(ctx); err != nil {
		return fmt.Errorf("load_balancing: resolver: %w", err)
	}
	return nil
}

// onEndpoints is the resolver.Listener: new backends are created and
// started before the new table is published; removed ones are drained and
// closed afterwards, in the background.
func (l *lb[T]) onEndpoints(endpoints []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped.Load() || !l.started {
		return
	}
	old := l.table.Load()
	keep := map[string]*backend[T]{}
	if old != nil {
		for _, b := range old.backends {
			keep[b.endpoint] = b
		}
	}
	ring := hashring.New(endpoints)
	nt := &table[T]{ring: ring, backends: make([]*backend[T], ring.Len())}
	for i := range nt.backends {
		ep := ring.Endpoint(i)
		if b, ok := keep[ep]; ok {
			nt.backends[i] = b
			delete(keep, ep)
			continue
		}
		nt.backends[i] = l.startBackend(ep)
	}
	l.table.Store(nt)
	l.set.Logger.Info("load_balancing: endpoint set changed",
		zap.Int("endpoints", ring.Len()), zap.Int("removed", len(keep)))
	for _, b := range keep {
		l.retire(b)
	}
}

// startBackend creates and starts one endpoint's exporter. A failure gives a
// backend that fails every send, so its data takes the failure path
// (partial error, or failover) instead of vanishing.
func (l *lb[T]) startBackend(ep string) *backend[T] {
	comp, consume, err := l.ops.newBackend(l.runCtx, ep)
	if err == nil {
		if err = comp.Start(l.runCtx, l.host); err != nil {
			_ = comp.Shutdown(l.runCtx)
		}
	}
	if err != nil {
		l.set.Logger.Error("load_balancing: cannot start exporter for endpoint", zap.String("endpoint", ep), zap.Error(err))
		ferr := fmt.Errorf("exporter for %s failed to start: %w", ep, err)
		return newBackend(ep, nopComponent{}, func(context.Context, T) error { return ferr })
	}
	return newBackend(ep, comp, consume)
}

func (l *lb[T]) retire(b *backend[T]) {
	l.closing.Add(1)
	go func() {
		defer l.closing.Done()
		if b.unhealthy.Load() {
			l.tel.unhealthyBackend.Add(context.Background(), -1)
		}
		if err := b.close(l.runCtx, l.grace); err != nil {
			l.set.Logger.Warn("load_balancing: shutting down exporter of removed endpoint", zap.String("endpoint", b.endpoint), zap.Error(err))
		}
	}()
}

// shutdown stops the resolver, then drains and closes every backend.
// exporterhelper has already drained the top-level queue through push.
func (l *lb[T]) shutdown(ctx context.Context) error {
	l.mu.Lock()
	if l.stopped.Swap(true) {
		l.mu.Unlock()
		return nil
	}
	res := l.res
	l.mu.Unlock()
	var errs []error
	if res != nil {
		errs = append(errs, res.Shutdown(ctx))
	}
	l.mu.Lock()
	t := l.table.Swap(nil)
	l.mu.Unlock()
	if t != nil {
		var wg sync.WaitGroup
		errCh := make(chan error, len(t.backends))
		for _, b := range t.backends {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errCh <- b.close(ctx, l.grace)
			}()
		}
		wg.Wait()
		close(errCh)
		for e := range errCh {
			errs = append(errs, e)
		}
	}
	if l.cancel != nil {
		l.cancel()
	}
	l.closing.Wait()
	return errors.Join(errs...)
}

// push is the exporterhelper push function.
func (l *lb[T]) push(ctx context.Context, data T) error {
	failed, hasFailed, err := l.route(ctx, data, 0)
	if !hasFailed {
		return nil
	}
	return l.ops.partial(err, failed)
}

// route splits data over the current table, sends every part, re-routes the
// parts of removed or unhealthy endpoints and returns what still failed.
func (l *lb[T]) route(ctx context.Context, data T, attempt int) (failed T, hasFailed bool, err error) {
	t := l.table.Load()
	if t.len() == 0 {
		n := l.ops.count(data)
		if n == 0 {
			return failed, false, nil
		}
		if l.stopped.Load() {
			return data, true, ErrShutdown
		}
		l.tel.noEndpoint.Add(ctx, int64(n))
		return data, true, ErrNoEndpoints
	}
	c := l.calls.Get().(*call[T])
	defer l.release(c)
	now := time.Now()
	snapshot(&c.r, t, l.cfg.Failover.Enabled, now)
	n := len(t.backends)
	c.out.reset(n)
	var st splitStats
	l.ops.split(&c.r, data, &c.out, &st)
	if st.emptyTraceID > 0 {
		l.tel.fallbackRouted.Add(ctx, st.emptyTraceID, l.tel.fallbackEmptyTrace)
	}
	if st.missingService > 0 {
		l.tel.fallbackRouted.Add(ctx, st.missingService, l.tel.fallbackMissingSvc)
	}

	l.sendAll(ctx, t, c)

	var reroute T
	var reasonRemoved, reasonUnhealthy int64
	hasReroute := false
	var errs []error
	for i, e := range c.errs[:n] {
		if !c.out.has[i] || e == nil {
			continue
		}
		b := t.backends[i]
		part := c.out.data[i]
		if attempt < maxReroutes && (c.removed[i] || (l.cfg.Failover.Enabled && b.unhealthy.Load())) {
			if !hasReroute {
				reroute, hasReroute = l.ops.newData(), true
			}
			if c.removed[i] {
				reasonRemoved += int64(l.ops.count(part))
			} else {
				reasonUnhealthy += int64(l.ops.count(part))
			}
			l.ops.moveAll(reroute, part)
			continue
		}
		if !hasFailed {
			failed, hasFailed = l.ops.newData(), true
		}
		l.ops.moveAll(failed, part)
		errs = append(errs, fmt.Errorf("endpoint %s: %w", b.endpoint, e))
		l.limiter.Warn("load_balancing: export to endpoint failed", zap.String("endpoint", b.endpoint), zap.Error(e))
	}
	if hasReroute {
		if reasonRemoved > 0 {
			l.tel.rerouted.Add(ctx, reasonRemoved, l.tel.reroutedRemoved)
		}
		if reasonUnhealthy > 0 {
			l.tel.rerouted.Add(ctx, reasonUnhealthy, l.tel.reroutedUnhealthy)
		}
		f2, has2, err2 := l.route(ctx, reroute, attempt+1)
		if has2 {
			if !hasFailed {
				failed, hasFailed = l.ops.newData(), true
			}
			l.ops.moveAll(failed, f2)
			errs = append(errs, err2)
		}
	}
	return failed, hasFailed, errors.Join(errs...)
}

// release drops the call's references to pdata before pooling it.
func (l *lb[T]) release(c *call[T]) {
	c.out.reset(len(c.out.data))
	l.calls.Put(c)
}

// sendAll sends every non-empty output, concurrently when there are several.
func (l *lb[T]) sendAll(ctx context.Context, t *table[T], c *call[T]) {
	n := len(t.backends)
	if cap(c.errs) < n {
		c.errs = make([]error, n)
		c.removed = make([]bool, n)
	}
	c.errs, c.removed = c.errs[:n], c.removed[:n]
	last := -1
	for i := range n {
		c.errs[i], c.removed[i] = nil, false
		if c.out.has[i] {
			last = i
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		if !c.out.has[i] {
			continue
		}
		if i == last {
			l.sendOne(ctx, t.backends[i], c, i)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.sendOne(ctx, t.backends[i], c, i)
		}()
	}
	wg.Wait()
}

func (l *lb[T]) sendOne(ctx context.Context, b *backend[T], c *call[T], i int) {
	start := time.Now()
	removed, err := b.send(ctx, c.out.data[i])
	c.errs[i], c.removed[i] = err, removed
	if removed && errors.Is(err, errBackendRemoved) {
		return // never reached the endpoint: not an outcome
	}
	l.tel.backendLatency.Record(ctx, time.Since(start).Milliseconds(), b.attrs.endpoint)
	if err == nil {
		l.tel.backendOutcome.Add(ctx, 1, b.attrs.success)
	} else {
		l.tel.backendOutcome.Add(ctx, 1, b.attrs.failure)
	}
	if !l.cfg.Failover.Enabled || removed {
		return
	}
	switch b.markResult(err == nil, l.cfg.Failover.MaxConsecutiveFailures, l.cfg.Failover.ProbeInterval, time.Now()) {
	case 1:
		l.tel.failovers.Add(ctx, 1, b.attrs.endpoint)
		l.tel.unhealthyBackend.Add(ctx, 1)
		l.set.Logger.Warn("load_balancing: endpoint marked unhealthy, its keys fail over to their next ring choice",
			zap.String("endpoint", b.endpoint), zap.Error(err))
	case -1:
		l.tel.unhealthyBackend.Add(ctx, -1)
		l.set.Logger.Info("load_balancing: endpoint healthy again", zap.String("endpoint", b.endpoint))
	}
}

type nopComponent struct{}

func (nopComponent) Start(context.Context, component.Host) error { return nil }
func (nopComponent) Shutdown(context.Context) error              { return nil }
