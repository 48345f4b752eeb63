package handoff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/tailgate-otel/tailgate/internal/ratelog"
	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/all"
)

// Errors returned by the engine.
var (
	ErrAlreadyStarted = errors.New("handoff: already started")
	ErrShutdown       = errors.New("handoff: shut down")
	ErrNilBuffer      = errors.New("handoff: buffer must not be nil")
	// ErrUndelivered is returned by Drain when some traces could not be
	// handed off and were given back to the Buffer.
	ErrUndelivered = errors.New("handoff: traces not handed off")
)

const (
	stateNew = iota
	stateStarted
	stateStopped
)

// fwdQueue bounds the batches of stale-routed spans waiting to be
// forwarded; beyond it spans are kept where they arrived.
const fwdQueue = 256

// maxInFlight bounds concurrent forwarding dispatches.
const maxInFlight = 4

// maxBackoff caps the delay between two attempts to reach a peer.
const maxBackoff = 2 * time.Second

// Engine hands traces between gateways when the gateway set changes. See
// the package documentation for the protocol and its guarantees.
type Engine struct {
	cfg  resolved
	opts options
	set  component.TelemetrySettings
	buf  Buffer
	m    *metrics

	logSend, logBad, logImport *ratelog.Logger

	// chunkLimits bound every request sent to a peer.
	chunkLimits chunkLimits

	cur atomic.Pointer[view]

	// senders recognises the gateways of the view (accept_from: ring);
	// resolving is set while its host names are being resolved.
	senders   *peerFilter
	resolving atomic.Bool
	// dial makes connections to peers leave from this gateway's ring
	// address; nil: the system's choice.
	dial func(context.Context, string) (net.Conn, error)

	mu        sync.Mutex // guards everything below up to peers
	state     int
	endpoints []string
	draining  bool
	member    bool // this gateway was in the last set (or is leaving it)
	res       resolver.Resolver
	srv       *grpc.Server
	ln        net.Listener
	ext       map[component.ID]component.Component
	peers     map[string]*peerConn // by ring endpoint

	// rep replicates to ring successors (Config.Replicate); nil when off.
	rep *replicator
	// viewWake is closed (and replaced) on every view change, so that
	// retries waiting for a peer look at the new view at once.
	viewWake chan struct{}

	fwdMu     sync.RWMutex
	fwdClosed bool
	fwd       chan ptrace.Traces
	sem       chan struct{}

	stopping   chan struct{} // closed when Shutdown begins: no more retries
	sendCtx    context.Context
	sendCancel context.CancelFunc // when Shutdown's context ends
	wg         sync.WaitGroup
}

// New validates cfg and builds an engine that imports into buf. Nothing
// runs until Start.
func New(cfg Config, set component.TelemetrySettings, buf Buffer, opts ...Option) (*Engine, error) {
	if buf == nil {
		return nil, ErrNilBuffer
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	rc, err := cfg.resolve(o.decisionWait)
	if err != nil {
		return nil, err
	}
	if o.resolverFactory == nil {
		o.resolverFactory = all.New
	}
	if o.peerAddress == nil {
		port := rc.PeerPort
		o.peerAddress = func(ep string) string { return PeerAddress(ep, port) }
	}
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	if o.maxRequestBytes == 0 {
		o.maxRequestBytes = rc.maxRecvBytes() / 2
	}
	m, err := newMetrics(set.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("handoff: metrics: %w", err)
	}
	e := &Engine{
		cfg:       rc,
		opts:      o,
		set:       set,
		buf:       buf,
		m:         m,
		logSend:   ratelog.New(set.Logger, o.logInterval),
		logBad:    ratelog.New(set.Logger, o.logInterval),
		logImport: ratelog.New(set.Logger, o.logInterval),
		peers:     map[string]*peerConn{},
		senders:   newPeerFilter(),
		chunkLimits: chunkLimits{
			bytes:  o.maxRequestBytes,
			spans:  rc.MaxSpansPerRequest,
			traces: rc.MaxTracesPerRequest,
		},
		fwd:      make(chan ptrace.Traces, fwdQueue),
		sem:      make(chan struct{}, maxInFlight),
		stopping: make(chan struct{}),
	}
	e.sendCtx, e.sendCancel = context.WithCancel(context.Background())
	e.cur.Store(ownEverything)
	e.viewWake = make(chan struct{})
	if rc.Replicate {
		dw := o.decisionWait
		if dw <= 0 {
			dw = rc.Window
		}
		if e.rep, err = newReplicator(e, buf, dw); err != nil {
			return nil, fmt.Errorf("handoff: replication: %w", err)
		}
	}
	return e, nil
}

// Start opens the handoff listener and starts discovery. It returns once
// the listener is bound and the resolver has made its first attempt; it
// fails only if the listener cannot be opened or the engine was started
// or shut down before.
func (e *Engine) Start(ctx context.Context, host component.Host) error {
	e.mu.Lock()
	switch e.state {
	case stateStarted:
		e.mu.Unlock()
		return ErrAlreadyStarted
	case stateStopped:
		e.mu.Unlock()
		return ErrShutdown
	}
	if host != nil {
		e.ext = host.GetExtensions()
	}
	ln, err := e.cfg.Listen.NetAddr.Listen(ctx)
	if err != nil {
		e.mu.Unlock()
		return fmt.Errorf("handoff: listen on %s: %w", e.cfg.Listen.NetAddr.Endpoint, err)
	}
	srv, err := e.newServer(ctx)
	if err != nil {
		e.mu.Unlock()
		_ = ln.Close()
		return fmt.Errorf("handoff: listener: %w", err)
	}
	res, err := e.opts.resolverFactory(e.cfg.Resolver,
		resolver.Settings{Logger: e.set.Logger, MeterProvider: e.set.MeterProvider}, e.onEndpoints)
	if err != nil {
		e.mu.Unlock()
		_ = ln.Close()
		return fmt.Errorf("handoff: resolver: %w", err)
	}
	ptraceotlp.RegisterGRPCServer(srv, &handler{e: e})
	if e.rep != nil {
		srv.RegisterService(&replicaServiceDesc, e.rep)
	}
	e.ln, e.srv, e.res = ln, srv, res
	e.dial = sourceDialer(e.cfg.self)
	e.warnIfPlaintext()
	e.state = stateStarted
	e.wg.Go(func() {
		// Serve returns when the server stops, which is how it ends.
		_ = srv.Serve(ln)
	})
	e.wg.Go(e.forwarder)
	if e.rep != nil {
		e.rep.start()
	}
	e.mu.Unlock()
	// Outside the lock: a resolver may publish from inside Start.
	if err := res.Start(ctx); err != nil {
		return fmt.Errorf("handoff: resolver: %w", err)
	}
	return nil
}

// Addr is the address the handoff listener is bound to (nil before Start).
func (e *Engine) Addr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil {
		return nil
	}
	return e.ln.Addr()
}

// Owns reports whether this gateway owns trace id under its current view
// of the gateway set. It is lock-free and allocation-free, for the ingest
// path. Before the first set, after Shutdown, and while this gateway's own
// endpoint is not in the set, it owns everything.
func (e *Engine) Owns(id pcommon.TraceID) bool {
	return e.cur.Load().owns(id)
}

// Route returns the part of td this gateway must buffer and queues the
// rest (spans of traces owned by another gateway, sent here by an agent
// whose view is stale) for forwarding to their owner. td is not modified;
// when every span is owned, which is the steady state, td itself is
// returned without allocating. When the forwarding queue is full, td is
// returned whole (kept here, counted as failures with reason queue_full).
func (e *Engine) Route(td ptrace.Traces) ptrace.Traces {
	v := e.cur.Load()
	if v.ownsAllOf(td) {
		return td
	}
	parts := v.split(td)
	kept, ok := parts[-1]
	if !ok {
		kept = ptrace.NewTraces()
	}
	delete(parts, -1)
	fwd := ptrace.NewTraces()
	now := time.Now()
	for _, p := range parts {
		mark(p, 1, now)
		p.ResourceSpans().MoveAndAppendTo(fwd.ResourceSpans())
	}
	if !e.enqueue(fwd) {
		add(e.m.failures, tally(fwd).traces, e.m.attrsQueueFull)
		return td
	}
	return kept
}

// enqueue hands marked data to the forwarder without blocking.
func (e *Engine) enqueue(td ptrace.Traces) bool {
	e.fwdMu.RLock()
	defer e.fwdMu.RUnlock()
	if e.fwdClosed {
		return false
	}
	select {
	case e.fwd <- td:
		return true
	default:
		return false
	}
}

// onEndpoints is the resolver's Listener.
func (e *Engine) onEndpoints(endpoints []string) {
	e.mu.Lock()
	if e.state != stateStarted {
		e.mu.Unlock()
		return
	}
	e.endpoints = endpoints
	if names := e.senders.update(endpoints, time.Now()); len(names) > 0 {
		e.resolveNamesLocked(names)
	}
	// A gateway removed from the set after it was a member is leaving
	// (a terminating pod leaves the endpoints before its preStop hook
	// ends): it hands its traces off now, as Drain would, instead of
	// deciding fragments while agents send the rest elsewhere. One that
	// was never a member is only lagging (startup) and keeps everything.
	leaving := e.member && !slices.Contains(endpoints, e.cfg.self)
	v := newView(endpoints, e.cfg.self, e.draining || leaving)
	e.member = v.self >= 0 || leaving
	prev := e.cur.Swap(v)
	close(e.viewWake)
	e.viewWake = make(chan struct{})
	e.closeStalePeers(v)
	if !e.draining {
		e.wg.Go(func() { e.rebalance(true) })
		if d := e.opts.settleDelay; d >= 0 {
			e.wg.Go(func() {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
					e.rebalance(false)
				case <-e.stopping:
				}
			})
		}
	}
	e.mu.Unlock()
	if e.rep != nil {
		e.rep.viewChanged(prev, v)
		if leaving && !prev.ownAll && prev.self >= 0 {
			// Removed from the set: peers free what this gateway kept
			// instead of exporting it after the grace.
			e.spawn(func() {
				ctx, cancel := context.WithTimeout(e.sendCtx, e.cfg.Client.Timeout)
				defer cancel()
				e.rep.bye(ctx)
			})
		}
	}
	e.m.ringChanges.Add(context.Background(), 1)
	e.set.Logger.Info("handoff: gateway set changed",
		zap.Int("gateways", len(endpoints)), zap.Bool("member", v.self >= 0))
}

// rebalance hands every undecided trace this gateway no longer owns to its
// owner, with the decisions of the window when withDecisions.
func (e *Engine) rebalance(withDecisions bool) {
	td, _ := e.collect(e.cur.Load(), withDecisions)
	if td.ResourceSpans().Len() == 0 {
		return
	}
	e.dispatch(e.sendCtx, td, kindHandoff, time.Now().Add(e.cfg.Window))
}

// collect takes the traces not owned under v out of the Buffer and marks
// them; with decisions, it appends the recent decisions of traces owned
// by others. It returns the number of traces taken.
func (e *Engine) collect(v *view, withDecisions bool) (ptrace.Traces, int) {
	td := ptrace.NewTraces()
	if v.ownAll {
		return td, 0
	}
	pending := e.buf.TakeNotOwned(v.owns)
	for _, p := range pending {
		mark(p.Spans, 1, p.FirstSeen)
		p.Spans.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	if withDecisions {
		var sampled, notSampled []pcommon.TraceID
		e.buf.RecentDecisions(time.Now().Add(-e.cfg.Window), func(id pcommon.TraceID, s bool) {
			if v.owns(id) {
				return
			}
			if s {
				sampled = append(sampled, id)
			} else {
				notSampled = append(notSampled, id)
			}
		})
		appendDecisions(td, 1, sampled, notSampled)
	}
	return td, len(pending)
}

// Drain hands every undecided trace and the window's decisions to the
// gateways that own them once this one is gone, computing the ring
// without this gateway. It is meant for graceful shutdown, before
// Shutdown and before the Buffer stops: from then on Owns answers false
// for every trace (while another gateway exists). Whatever cannot be
// delivered before ctx ends (or within the window without a deadline) is
// given back to the Buffer with ImportTrace, so the processor decides it
// locally; Drain then returns ErrUndelivered. Drain is a no-op unless the
// engine is started, and when this is the only gateway.
func (e *Engine) Drain(ctx context.Context) error {
	e.mu.Lock()
	if e.state != stateStarted {
		e.mu.Unlock()
		return nil
	}
	e.draining = true
	v := newView(e.endpoints, e.cfg.self, true)
	e.cur.Store(v)
	e.mu.Unlock()
	if e.rep != nil {
		e.rep.bye(ctx)
	}
	td, _ := e.collect(v, true)
	if td.ResourceSpans().Len() == 0 {
		return nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(e.cfg.Window)
	}
	if n := e.dispatch(ctx, td, kindHandoff, deadline); n > 0 {
		return fmt.Errorf("%w: %d decided locally", ErrUndelivered, n)
	}
	return nil
}

// Shutdown stops discovery and the listener, finishes in-flight sends
// within ctx (what cannot be sent goes back to the Buffer) and closes the
// connections. It is idempotent and safe before Start.
func (e *Engine) Shutdown(ctx context.Context) error {
	// Close the forwarding queue first: once the forwarder sees stopping,
	// nothing may be added behind its last look.
	e.fwdMu.Lock()
	e.fwdClosed = true
	e.fwdMu.Unlock()
	e.mu.Lock()
	prev := e.state
	if prev == stateStopped {
		e.mu.Unlock()
		return nil
	}
	e.state = stateStopped
	e.cur.Store(ownEverything)
	close(e.stopping)
	res, srv := e.res, e.srv
	e.mu.Unlock()
	if e.rep != nil {
		e.rep.close()
	}
	if prev == stateNew {
		e.sendCancel()
		return nil
	}
	var errs []error
	if err := res.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("handoff: resolver: %w", err))
	}
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		srv.Stop()
		<-stopped
	}
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Abort in-flight sends: their data goes back to the Buffer.
		e.sendCancel()
		<-done
		errs = append(errs, ctx.Err())
	}
	e.sendCancel()
	e.mu.Lock()
	for ep, p := range e.peers {
		_ = p.conn.Close()
		delete(e.peers, ep)
	}
	e.mu.Unlock()
	return errors.Join(errs...)
}

// forwarder sends the stale-routed spans queued by Route and the handler.
func (e *Engine) forwarder() {
	for {
		select {
		case td := <-e.fwd:
			// Merge what is already queued: one request per peer instead
			// of one per ingested batch.
		merge:
			for range 64 {
				select {
				case more := <-e.fwd:
					more.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
				default:
					break merge
				}
			}
			select {
			case e.sem <- struct{}{}:
			case <-e.stopping:
				e.importLocal(e.sendCtx, td, ReasonUnreachable)
				continue
			}
			deadline := time.Now().Add(e.cfg.Window)
			e.wg.Go(func() {
				defer func() { <-e.sem }()
				e.dispatch(e.sendCtx, td, kindStale, deadline)
			})
		case <-e.stopping:
			// Route and the handler no longer enqueue (fwdClosed); keep
			// what is left here.
			for {
				select {
				case td := <-e.fwd:
					e.importLocal(e.sendCtx, td, ReasonUnreachable)
				default:
					return
				}
			}
		}
	}
}
