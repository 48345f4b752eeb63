package lbexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/metric"
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
	// ErrStorage is returned by Start when protocol.otlp.sending_queue.storage
	// does not name a storage extension, or its client cannot be opened.
	ErrStorage = errors.New("load_balancing: protocol::otlp::sending_queue::storage")
)

// maxReroutes bounds how often one piece of data is re-routed inside one
// call; what is still failing after that is returned as a partial error.
const maxReroutes = 3

// signalOps adapts the generic load balancer to one pdata signal.
type signalOps[T any] struct {
	signal  string
	newData func() T
	count   func(T) int
	// moveAll appends src's content to dst, leaving src empty.
	moveAll func(dst, src T)
	// partial wraps err with the data that failed, so that exporterhelper's
	// retry re-sends only that part.
	partial func(err error, data T) error
	// split routes data into out; it may move content out of data.
	split func(r *router, data T, out *outputs[T], st *splitStats)
	// marshal and unmarshal are OTLP protobuf, for the bytes sizer and
	// persistent buffers.
	marshal   func(T) ([]byte, error)
	unmarshal func([]byte) (T, error)
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
	id      component.ID
	cfg     *Config
	q       queueSettings
	ops     signalOps[T]
	tel     *telemetry
	newRes  func(resolver.Config, resolver.Settings, resolver.Listener) (resolver.Resolver, error)
	grace   time.Duration
	calls   sync.Pool
	limiter *ratelog.Logger

	table atomic.Pointer[table[T]]

	mu       sync.Mutex // serialises endpoint changes, Start and Shutdown
	host     component.Host
	res      resolver.Resolver
	started  bool
	stopped  atomic.Bool
	stopc    chan struct{} // closed by Shutdown: re-routing gives up
	runCtx   context.Context
	cancel   context.CancelFunc
	closing  sync.WaitGroup
	transit  atomic.Int64   // hand-offs and retirements running (waitIdle)
	client   storage.Client // persistent buffers
	catalog  *catalog
	orphans  []string // stores of the previous run, re-routed once endpoints exist
	gaugeReg metric.Registration
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
	l := &lb[T]{set: set, cfg: cfg, q: queueSettingsOf(cfg), ops: ops, tel: tel, newRes: newRes, grace: grace,
		stopc: make(chan struct{})}
	l.limiter = ratelog.New(set.Logger, 10*time.Second)
	l.calls.New = func() any { return &call[T]{out: outputs[T]{newData: ops.newData}} }
	return l, nil
}

// start opens the storage of persistent buffers and builds the resolver;
// its listener installs tables. Endpoints found during the resolver's own
// Start are live when start returns.
func (l *lb[T]) start(ctx context.Context, host component.Host) error {
	l.mu.Lock()
	if l.started || l.stopped.Load() {
		l.mu.Unlock()
		return nil
	}
	l.started = true
	l.host = host
	l.runCtx, l.cancel = context.WithCancel(context.Background())
	if l.q.enabled && l.q.storage != nil {
		if err := l.openStorage(ctx, host); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	res, err := l.newRes(l.cfg.Resolver, resolver.Settings{Logger: l.set.Logger, MeterProvider: l.set.MeterProvider}, l.onEndpoints)
	if err != nil {
		l.mu.Unlock()
		return fmt.Errorf("load_balancing: resolver: %w", err)
	}
	l.res = res
	if l.q.enabled {
		l.gaugeReg, err = l.set.MeterProvider.Meter(scopeName).RegisterCallback(l.observeQueues, l.tel.queueSize, l.tel.queueCapacity)
		if err != nil {
			l.mu.Unlock()
			return fmt.Errorf("load_balancing: metrics: %w", err)
		}
	}
	l.mu.Unlock()
	// Not under mu: the resolver calls onEndpoints from Start.
	if err := res.Start(ctx); err != nil {
		return fmt.Errorf("load_balancing: resolver: %w", err)
	}
	return nil
}

func (l *lb[T]) openStorage(ctx context.Context, host component.Host) error {
	id := *l.q.storage
	var ext component.Component
	if host != nil {
		ext = host.GetExtensions()[id]
	}
	if ext == nil {
		return fmt.Errorf("%w: extension %q not found", ErrStorage, id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("%w: extension %q is not a storage extension", ErrStorage, id)
	}
	client, err := se.GetClient(ctx, component.KindExporter, l.id, l.ops.signal+"_endpoints")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	cat, orphans, err := openCatalog(ctx, client)
	if err != nil {
		_ = client.Close(ctx)
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	l.client, l.catalog, l.orphans = client, cat, orphans
	return nil
}

func (l *lb[T]) observeQueues(_ context.Context, o metric.Observer) error {
	t := l.table.Load()
	if t == nil {
		return nil
	}
	for _, b := range t.backends {
		if b.buf == nil {
			continue
		}
		o.ObserveInt64(l.tel.queueSize, b.buf.size(), b.attrs.endpoint)
		o.ObserveInt64(l.tel.queueCapacity, b.buf.limit, b.attrs.endpoint)
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
	if len(l.orphans) > 0 && ring.Len() > 0 {
		orphans := l.orphans
		l.orphans = nil
		l.closing.Go(func() { l.recoverOrphans(orphans) })
	}
}

// startBackend creates and starts one endpoint's exporter, buffer and
// senders. A failure gives a backend that fails every send, so its data
// takes the failure path instead of vanishing.
func (l *lb[T]) startBackend(ep string) *backend[T] {
	warn := ratelog.New(l.set.Logger, 10*time.Second)
	comp, consume, err := l.ops.newBackend(l.runCtx, ep)
	if err == nil {
		if err = comp.Start(l.runCtx, l.host); err != nil {
			_ = comp.Shutdown(l.runCtx)
		}
	}
	var b *backend[T]
	if err != nil {
		l.set.Logger.Error("load_balancing: cannot start exporter for endpoint", zap.String("endpoint", ep), zap.Error(err))
		ferr := fmt.Errorf("exporter for %s failed to start: %w", ep, err)
		b = newBackend(ep, component.Component(nopComponent{}), func(context.Context, T) error { return ferr }, warn)
	} else {
		b = newBackend(ep, comp, consume, warn)
	}
	if !l.q.enabled {
		return b
	}
	b.buf = newBuffer[T](l.q.limit, l.q.consumers)
	if l.catalog != nil {
		st, serr := l.catalog.create(l.runCtx, ep)
		if serr != nil {
			// Keep the endpoint usable: a memory buffer, said loudly.
			l.set.Logger.Error("load_balancing: cannot create the persistent buffer of endpoint; buffering in memory",
				zap.String("endpoint", ep), zap.Error(serr))
		} else {
			b.store = st
		}
	}
	for range l.q.consumers {
		b.senders.Add(1)
		go l.sender(b)
	}
	return b
}

// retire takes a removed endpoint out of service in the background: new
// sends are refused (their callers re-route), what it buffered is
// re-routed at once, sends in flight get grace to finish and are then
// aborted and re-routed, and its exporter is shut down.
func (l *lb[T]) retire(b *backend[T]) {
	l.transit.Add(1)
	l.closing.Go(func() {
		defer l.transit.Add(-1)
		if b.unhealthy.Load() {
			l.tel.unhealthyBackend.Add(context.Background(), -1)
		}
		b.gone.Store(true)
		b.setClosed()
		b.wakeAll()
		if b.buf != nil {
			l.handOffQueued(b, reasonEndpointRemoved)
		}
		b.waitInflight(l.runCtx, l.grace)
		if err := b.shutdownExporter(l.runCtx); err != nil {
			l.set.Logger.Warn("load_balancing: shutting down exporter of removed endpoint", zap.String("endpoint", b.endpoint), zap.Error(err))
		}
		if b.store != nil {
			if b.buf.size() == 0 {
				if err := l.catalog.remove(context.Background(), b.store); err != nil {
					l.set.Logger.Warn("load_balancing: removing the persistent buffer of a removed endpoint", zap.String("endpoint", b.endpoint), zap.Error(err))
				}
			}
		}
	})
}

// recoverOrphans re-routes the entries that persistent buffers of the
// previous run still hold, deleting each once it is stored elsewhere.
func (l *lb[T]) recoverOrphans(prefixes []string) {
	ctx := context.Background()
	for _, p := range prefixes {
		s, err := openStore(ctx, l.client, p)
		if err != nil {
			l.set.Logger.Error("load_balancing: cannot read a persistent buffer of the previous run", zap.String("store", p), zap.Error(err))
			continue
		}
		recovered := 0
		err = s.each(ctx, func(seq uint64, v []byte) error {
			flags, items, payload, err := decodeValue(v)
			var data T
			if err == nil {
				data, err = l.ops.unmarshal(payload)
			}
			if err != nil {
				l.tel.drop(ctx, storeEndpoint(p), dropCorrupt, items)
				l.limiter.Warn("load_balancing: dropping an unreadable stored entry", zap.String("store", p), zap.Error(err))
				return s.remove(ctx, seq)
			}
			n := l.ops.count(data)
			if _, left := l.rerouteBlocking(data, flags, nil); left {
				return ErrShutdown
			}
			recovered += n
			return s.remove(ctx, seq)
		})
		if recovered > 0 {
			l.set.Logger.Info("load_balancing: re-routed data buffered before the last stop",
				zap.String("store", p), zap.Int("items", recovered))
		}
		if err != nil {
			if !errors.Is(err, ErrShutdown) {
				l.set.Logger.Error("load_balancing: recovering a persistent buffer", zap.String("store", p), zap.Error(err))
			}
			return
		}
		if err := l.catalog.remove(ctx, s); err != nil {
			l.set.Logger.Warn("load_balancing: removing a recovered persistent buffer", zap.String("store", p), zap.Error(err))
		}
	}
}

// shutdown stops the resolver, then closes every backend: buffered data in
// memory is sent, one attempt each, until an attempt to that endpoint
// fails or ctx ends (the rest is dropped and counted); persistent buffers
// keep what they hold for the next start.
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
	close(l.stopc)
	l.mu.Unlock()
	if t != nil {
		var wg sync.WaitGroup
		errCh := make(chan error, len(t.backends))
		for _, b := range t.backends {
			wg.Go(func() { errCh <- l.closeBackend(ctx, b) })
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
	if l.gaugeReg != nil {
		errs = append(errs, l.gaugeReg.Unregister())
	}
	if l.client != nil {
		errs = append(errs, l.client.Close(ctx))
	}
	return errors.Join(errs...)
}

// closeBackend is Shutdown for one backend.
func (l *lb[T]) closeBackend(ctx context.Context, b *backend[T]) error {
	b.stopping.Store(true)
	b.setClosed()
	b.wakeAll()
	if b.store != nil {
		close(b.quit) // what is queued stays in storage
	}
	// Memory buffers drain: senders take what is queued, one attempt each.
	grace := time.Duration(1<<63 - 1)
	if b.buf == nil {
		grace = l.grace
	}
	b.waitInflight(ctx, grace)
	if b.buf != nil {
		for _, e := range b.buf.drain() {
			if b.store != nil {
				b.buf.release(e.size)
				continue
			}
			l.dropEntry(b, e, l.entryCount(e), dropShutdown, ctx.Err())
		}
	}
	return b.shutdownExporter(ctx)
}

// push is the exporterhelper push function.
func (l *lb[T]) push(ctx context.Context, data T) error {
	if l.q.enabled {
		return l.pushBuffered(ctx, data)
	}
	failed, hasFailed, err := l.route(ctx, data, 0)
	if !hasFailed {
		return err
	}
	return l.ops.partial(err, failed)
}

// pushBuffered hands every part of data to its endpoint's buffer and
// returns; only parts whose buffer is full come back, as a retryable
// partial error. With wait_for_result it then waits for the parts.
func (l *lb[T]) pushBuffered(ctx context.Context, data T) error {
	var w *waiter
	if l.q.wait {
		w = newWaiter()
	}
	failed, hasFailed, err := l.enqueue(ctx, data, 0, w, 0, l.q.block)
	if w != nil {
		w.done(nil)
		if werr := w.wait(ctx); werr != nil && !hasFailed {
			return werr
		}
	}
	if !hasFailed {
		return nil
	}
	return l.ops.partial(err, failed)
}

// enqueue splits data over the current table and offers every part to its
// endpoint's buffer. Parts of endpoints that are leaving are re-routed
// through the newer table; parts refused because a buffer is full are
// returned as failed.
func (l *lb[T]) enqueue(ctx context.Context, data T, flags uint8, w *waiter, hop int, block bool) (failed T, hasFailed bool, err error) {
	t := l.table.Load()
	if t.len() == 0 {
		return l.noTable(ctx, data)
	}
	c := l.calls.Get().(*call[T])
	defer l.release(c)
	n := l.splitInto(ctx, t, c, data)

	var reroute T
	hasReroute := false
	var errs []error
	for i := range n {
		if !c.out.has[i] {
			continue
		}
		b := t.backends[i]
		part := c.out.data[i]
		f := flags
		if c.r.failedOver(i) {
			f |= flagFailedOver
		}
		e := l.offer(ctx, b, part, f, w, block)
		switch {
		case e == nil:
		case errors.Is(e, errBackendRemoved) && hop < maxReroutes:
			l.tel.rerouted.Add(ctx, int64(l.ops.count(part)), l.tel.reroutedRemoved)
			l.gather(&reroute, &hasReroute, part)
		default:
			if errors.Is(e, ErrBufferFull) {
				l.tel.refused.Add(ctx, int64(l.ops.count(part)), b.attrs.endpoint)
				b.warn.Warn("load_balancing: endpoint buffer full, refusing its part of a batch (retryable)",
					zap.String("endpoint", b.endpoint), zap.Int64("queue_size", l.q.limit), zap.Stringer("sizer", l.q.sizer))
			}
			l.gather(&failed, &hasFailed, part)
			errs = append(errs, fmt.Errorf("endpoint %s: %w", b.endpoint, e))
		}
	}
	if hasReroute {
		f2, has2, err2 := l.enqueue(ctx, reroute, flags, w, hop+1, block)
		if has2 {
			l.gather(&failed, &hasFailed, f2)
			errs = append(errs, err2)
		}
	}
	return failed, hasFailed, errors.Join(errs...)
}

// noTable answers a call made while no endpoint is known.
func (l *lb[T]) noTable(ctx context.Context, data T) (failed T, hasFailed bool, err error) {
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

// splitInto routes data over t into c.out and counts fallback keys; it
// returns the number of backends.
func (l *lb[T]) splitInto(ctx context.Context, t *table[T], c *call[T], data T) int {
	snapshot(&c.r, t, l.cfg.Failover.Enabled, time.Now())
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
	return n
}

// route is the synchronous path (sending_queue disabled): it splits data
// over the current table, sends every part, re-routes the parts of removed
// or unhealthy endpoints and returns what still failed transiently. Parts
// an endpoint rejected permanently are dropped and counted here, so that
// they never stop the retry of another endpoint's transient failure; when
// nothing else failed, a permanent error says so.
func (l *lb[T]) route(ctx context.Context, data T, attempt int) (failed T, hasFailed bool, err error) {
	t := l.table.Load()
	if t.len() == 0 {
		return l.noTable(ctx, data)
	}
	c := l.calls.Get().(*call[T])
	defer l.release(c)
	n := l.splitInto(ctx, t, c, data)

	l.sendAll(ctx, t, c)

	var reroute T
	var reasonRemoved, reasonUnhealthy int64
	hasReroute := false
	var errs, permanent []error
	for i, e := range c.errs[:n] {
		if !c.out.has[i] || e == nil {
			continue
		}
		b := t.backends[i]
		part := c.out.data[i]
		if attempt < maxReroutes && (c.removed[i] || (l.cfg.Failover.Enabled && b.unhealthy.Load())) {
			if c.removed[i] {
				reasonRemoved += int64(l.ops.count(part))
			} else {
				reasonUnhealthy += int64(l.ops.count(part))
			}
			l.gather(&reroute, &hasReroute, part)
			continue
		}
		if consumererror.IsPermanent(e) {
			l.countDrop(b, l.ops.count(part), dropRejected, e)
			permanent = append(permanent, fmt.Errorf("endpoint %s: %w", b.endpoint, e))
			continue
		}
		l.gather(&failed, &hasFailed, part)
		errs = append(errs, fmt.Errorf("endpoint %s: %w", b.endpoint, e))
		b.warn.Warn("load_balancing: export to endpoint failed", zap.String("endpoint", b.endpoint), zap.Error(e))
	}
	if hasReroute {
		if reasonRemoved > 0 {
			l.tel.rerouted.Add(ctx, reasonRemoved, l.tel.reroutedRemoved)
		}
		if reasonUnhealthy > 0 {
			l.tel.rerouted.Add(ctx, reasonUnhealthy, l.tel.reroutedUnhealthy)
		}
		f2, has2, err2 := l.route(ctx, reroute, attempt+1)
		switch {
		case has2:
			l.gather(&failed, &hasFailed, f2)
			errs = append(errs, err2)
		case err2 != nil:
			permanent = append(permanent, err2)
		}
	}
	if !hasFailed && len(permanent) > 0 {
		return failed, false, consumererror.NewPermanent(errors.Join(permanent...))
	}
	return failed, hasFailed, errors.Join(errs...)
}

// gather moves src's content into *dst, which it creates on first use.
func (l *lb[T]) gather(dst *T, has *bool, src T) {
	if !*has {
		*dst, *has = l.ops.newData(), true
	}
	l.ops.moveAll(*dst, src)
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
		wg.Go(func() { l.sendOne(ctx, t.backends[i], c, i) })
	}
	wg.Wait()
}

// sendOne delivers one part synchronously, with retries; a part whose
// endpoint left the ring, or (failover) became unhealthy, is marked for
// re-routing by the caller.
func (l *lb[T]) sendOne(ctx context.Context, b *backend[T], c *call[T], i int) {
	if !b.acquire() {
		c.errs[i], c.removed[i] = errBackendRemoved, true
		return
	}
	defer b.inflight.Done()
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.abortCtx, cancel)
	flags := uint8(0)
	if c.r.failedOver(i) {
		flags = flagFailedOver
	}
	out, err := l.tryDeliver(sctx, b, c.out.data[i], flags)
	stop()
	cancel()
	if out == outInterrupted && b.isClosed() {
		out = outRemoved
	}
	c.errs[i], c.removed[i] = err, out == outRemoved
}

type nopComponent struct{}

func (nopComponent) Start(context.Context, component.Host) error { return nil }
func (nopComponent) Shutdown(context.Context) error              { return nil }
