package handoff

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"google.golang.org/grpc/connectivity"

	"github.com/tailgate-otel/tailgate/internal/ratelog"
)

// Replication (Config.Replicate): every span this gateway owns is also
// held by the trace's successor as a shadow, which it never exports
// unless the owner dies. See the package documentation for the protocol.

const (
	// pollInterval is how often the owner collects its new decisions for
	// the successors.
	pollInterval = 50 * time.Millisecond
	// sweepInterval is how often the successor looks for due shadows.
	sweepInterval = 100 * time.Millisecond
)

// ErrNotReplicaBuffer is returned by New when replication is on and the
// Buffer does not implement ReplicaBuffer.
var ErrNotReplicaBuffer = errors.New("handoff: replicate needs a buffer that implements ReplicaBuffer")

type replicator struct {
	e       *Engine
	buf     ReplicaBuffer
	inc     uint64 // this process's incarnation
	store   *shadowStore
	t       timing
	m       *replicaMetrics
	logFail *ratelog.Logger
	layouts sync.Pool
	// maxIDs bounds the spans plus trace IDs of one request, so that it is
	// within both max_spans_per_request and max_traces_per_request of the
	// peer (which runs the same config).
	maxIDs int

	mu      sync.Mutex // guards lives, senders and promoted
	lives   map[string]*life
	senders map[string]*sender
	closed  bool
	// promoted remembers, for traces promoted here, the spans their owner
	// had: a decision the owner still took (it was leaving, not dead)
	// then exports here only what it did not have.
	promoted  map[pcommon.TraceID]promotedTrace
	nPromoted atomic.Int64
}

// promotedTrace is what an owner held of a trace promoted here.
type promotedTrace struct {
	owner *life
	spans map[pcommon.SpanID]struct{}
	until int64 // forgotten after (Unix nanos)
}

func newReplicator(e *Engine, buf Buffer, decisionWait time.Duration) (*replicator, error) {
	rb, ok := buf.(ReplicaBuffer)
	if !ok {
		return nil, ErrNotReplicaBuffer
	}
	store := newShadowStore()
	m, err := newReplicaMetrics(e.set.MeterProvider, store)
	if err != nil {
		return nil, err
	}
	grace := e.cfg.ReplicaGrace
	r := &replicator{
		e:     e,
		buf:   rb,
		inc:   incarnation(),
		store: store,
		t: timing{
			decide:      int64(decisionWait),
			orphanAfter: int64(decisionWait + grace),
			keep:        int64(grace),
		},
		m:        m,
		logFail:  ratelog.New(e.set.Logger, e.opts.logInterval),
		lives:    map[string]*life{},
		senders:  map[string]*sender{},
		promoted: map[pcommon.TraceID]promotedTrace{},
		maxIDs:   min(e.cfg.MaxSpansPerRequest, e.cfg.MaxTracesPerRequest),
	}
	r.layouts.New = func() any { return new(layout) }
	return r, nil
}

// incarnation draws this process's identity among the lives of its
// endpoint; never 0, which means "unknown".
func incarnation() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	if v := binary.LittleEndian.Uint64(b[:]); v != 0 {
		return v
	}
	return 1
}

// start runs the decision poll and the sweep (engine goroutines).
func (r *replicator) start() {
	r.e.wg.Go(r.pollDecisions)
	r.e.wg.Go(r.sweepLoop)
}

// close stops the senders (their waiters get ErrShutdown). The engine's
// stopping channel ends the loops.
func (r *replicator) close() {
	r.mu.Lock()
	r.closed = true
	senders := r.senders
	r.senders = map[string]*sender{}
	r.mu.Unlock()
	for _, s := range senders {
		s.stop()
	}
	r.m.close()
}

// Replication is one ConsumeTraces call's replication in flight.
type Replication struct {
	results []chan error
	timeout time.Duration
}

// Wait returns once every successor acknowledged its part, or failed
// (counted in replica_failures: those spans are held once), or ctx ended.
// A nil Replication has nothing to wait for.
func (rp *Replication) Wait(ctx context.Context) {
	if rp == nil {
		return
	}
	t := time.NewTimer(rp.timeout)
	defer t.Stop()
	for _, c := range rp.results {
		select {
		case <-c:
		case <-ctx.Done():
			return
		case <-t.C:
			return
		}
	}
}

// prepared is span data split by successor, ready to send.
type prepared struct {
	parts map[int][]chunk // ring index → OTLP chunks
	spans map[int]int
	v     *view
}

// prepare encodes the spans of td that this gateway owns under v, split by
// successor. td is only read. It returns nil when there is nothing to
// replicate.
func (r *replicator) prepare(td ptrace.Traces, v *view) *prepared {
	n := td.SpanCount()
	if v.ownAll || v.ring.Len() < 2 || n == 0 {
		return nil
	}
	// Trace IDs and successors from pdata, in the order it encodes spans.
	ids := make([]byte, 0, 16*n)
	targets := make([]int, 0, n)
	first, mixed := -2, false
	var lastID pcommon.TraceID
	last := -1
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				id := spans.At(k).TraceID()
				if len(targets) == 0 || id != lastID {
					lastID, last = id, v.replicaTarget(id)
				}
				ids = append(ids, id[:]...)
				targets = append(targets, last)
				if first == -2 {
					first = last
				} else if last != first {
					mixed = true
				}
			}
		}
	}
	if !mixed && first < 0 {
		return nil // nothing owned here
	}
	var mar ptrace.ProtoMarshaler
	b, err := mar.MarshalTraces(td)
	if err != nil {
		return nil
	}
	p := &prepared{parts: map[int][]chunk{}, spans: map[int]int{}, v: v}
	limit := r.e.opts.maxRequestBytes
	if !mixed && len(b) <= limit && n <= r.maxIDs {
		p.parts[first] = []chunk{{traces: b, ids: ids}}
		p.spans[first] = n
		return p
	}
	l := r.layouts.Get().(*layout)
	defer r.layouts.Put(l)
	if _, err := l.scan(b, ids); err != nil || len(l.spans) != n {
		return nil
	}
	src := &encoded{buf: b, hdr: l.hdr, rss: l.rss, sss: l.sss}
	writers := map[int]*writer{}
	for i := range l.spans {
		t := targets[i]
		if t < 0 {
			continue
		}
		w := writers[t]
		if w == nil {
			w = &writer{limit: limit, maxSpans: r.maxIDs}
			writers[t] = w
		}
		w.addID(spanRef{m: src, ss: l.spans[i].ss, loc: l.spans[i].loc}, l.spans[i].id)
		p.spans[t]++
	}
	for t, w := range writers {
		p.parts[t] = w.finishChunks()
	}
	if len(p.parts) == 0 {
		return nil
	}
	return p
}

// send queues p's parts to their successors. With wait, the Replication
// lets the caller wait for the acknowledgements; without, failures are
// retried within the window. firstSeen (Unix nanos, 0: now) travels with
// the data.
func (r *replicator) send(p *prepared, firstSeen int64, wait bool) *Replication {
	if p == nil {
		return nil
	}
	var rp *Replication
	if wait {
		rp = &Replication{timeout: r.e.cfg.Client.Timeout}
	}
	until := time.Now().Add(r.e.cfg.Window)
	for t, chunks := range p.parts {
		s := r.sender(p.v.ring.Endpoint(t))
		if s == nil {
			add(r.m.failures, p.spans[t])
			continue
		}
		// One item per chunk: each is within the peer's limits, and the
		// sender merges what fits into one request.
		for _, c := range chunks {
			it := &item{
				shadow: []wireGroup{{firstSeen: firstSeen, traces: c.traces, ids: c.ids}},
				spans:  len(c.ids) / 16,
				size:   len(c.traces) + len(c.ids),
				until:  until,
			}
			if wait {
				it.result = make(chan error, 1)
				rp.results = append(rp.results, it.result)
			}
			s.enqueue(it)
		}
	}
	return rp
}

// sender returns the queue of peer ep, starting it the first time.
func (r *replicator) sender(ep string) *sender {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	s, ok := r.senders[ep]
	if !ok {
		s = newSender(r, ep)
		for range inFlight {
			if !r.e.spawn(s.run) {
				s.stop()
				return nil
			}
		}
		r.senders[ep] = s
	}
	return s
}

// inFlight is how many requests to one peer may be in flight at once:
// while one waits for its answer, the next round of queued items goes.
const inFlight = 4

// observe records that ep runs incarnation inc and returns that life. A
// new incarnation of a known endpoint means it restarted: its previous
// life's shadows are promoted at once, and the traces this gateway
// replicates to it are replicated again (its copies were lost).
func (r *replicator) observe(ep string, inc uint64) *life {
	r.mu.Lock()
	cur := r.lives[ep]
	if cur != nil && (inc == 0 || cur.inc == inc) {
		r.mu.Unlock()
		return cur
	}
	l := &life{ep: ep, inc: inc}
	if !r.e.cur.Load().member(ep) {
		l.leftAt.Store(time.Now().UnixNano())
	}
	r.lives[ep] = l
	r.mu.Unlock()
	if cur == nil {
		return l
	}
	cur.ended.Store(true)
	r.e.set.Logger.Info("handoff: a peer restarted; promoting what it had replicated here and replicating its successor copies again",
		zap.String("peer", ep))
	r.takeOver(cur, PromotedOwnerRestarted)
	r.e.spawn(func() {
		r.rereplicate(func(v *view, id pcommon.TraceID) bool { return v.successorEndpoint(id) == ep })
	})
	return l
}

// viewChanged follows a new view: owners that left start their promotion
// clock, shadows of traces this gateway no longer succeeds are dropped,
// pending traces whose successor changed are replicated to the new one,
// and new members learn this gateway's incarnation.
func (r *replicator) viewChanged(prev, v *view) {
	now := time.Now().UnixNano()
	var left []*life
	r.mu.Lock()
	for ep, l := range r.lives {
		switch {
		case v.member(ep):
			l.leftAt.Store(0)
		case l.leftAt.CompareAndSwap(0, now):
			left = append(left, l)
		}
	}
	var stale []*sender
	for ep, s := range r.senders {
		if !v.member(ep) {
			stale = append(stale, s)
			delete(r.senders, ep)
		}
	}
	r.mu.Unlock()
	for _, s := range stale {
		s.stop()
	}
	// Owners that left: a dead one's traces are promoted at once, so that
	// the spans agents send here from now on join them; a living one
	// (leaving gracefully, not aware yet) hands them off itself.
	for _, l := range left {
		r.e.spawn(func() { r.checkGone(l) })
	}
	dropped := r.store.remove(func(s *shadow) bool { return !s.owner.left() && !s.owner.over() && !v.holdsShadow(s.id) })
	add(r.m.dropped, len(dropped))
	if prev != nil && !prev.ownAll && !v.ownAll {
		r.e.spawn(func() {
			r.rereplicate(func(v2 *view, id pcommon.TraceID) bool {
				return v2.successorEndpoint(id) != prev.successorEndpoint(id)
			})
		})
	}
	for _, ep := range v.eps {
		if ep != r.e.cfg.self && (prev == nil || !prev.member(ep)) {
			if s := r.sender(ep); s != nil {
				s.enqueue(&item{until: time.Now().Add(r.e.cfg.Window)}) // hello
			}
		}
	}
}

// checkGone asks an owner that left the set whether it is alive. A dead
// one's undecided traces are promoted (on their original schedule, with
// the spans that keep arriving here) and what it kept is exported (its
// batch may have died with it). A living one is leaving gracefully, or
// does not know yet that it was removed: it hands its traces off itself
// and decides those it is deciding.
func (r *replicator) checkGone(l *life) {
	if _, err := r.query(l.ep, nil); err == nil {
		return
	}
	if !l.left() {
		return // back in the set meanwhile
	}
	l.dead.Store(true)
	r.e.set.Logger.Info("handoff: a peer left the set and does not answer; promoting the traces it replicated here",
		zap.String("peer", l.ep))
	r.takeOver(l, PromotedOwnerLeft)
}

// rereplicate sends again, with their first-seen time, the pending traces
// this gateway owns for which match is true under the current view.
func (r *replicator) rereplicate(match func(*view, pcommon.TraceID) bool) {
	v := r.e.cur.Load()
	if v.ownAll {
		return
	}
	for _, p := range r.buf.SnapshotPending(func(id pcommon.TraceID) bool {
		return v.replicaTarget(id) >= 0 && match(v, id)
	}) {
		r.send(r.prepare(p.Spans, v), p.FirstSeen.UnixNano(), false)
	}
}

// bye tells every peer that this gateway leaves gracefully, so they free
// what it kept at once instead of exporting it after the grace. It waits
// for the answers within ctx.
func (r *replicator) bye(ctx context.Context) {
	r.e.mu.Lock()
	eps := slices.Clone(r.e.endpoints)
	r.e.mu.Unlock()
	var results []chan error
	for _, ep := range eps {
		if ep == r.e.cfg.self {
			continue
		}
		s := r.sender(ep)
		if s == nil {
			continue
		}
		it := &item{bye: true, until: time.Now().Add(r.e.cfg.Client.Timeout), result: make(chan error, 1)}
		results = append(results, it.result)
		s.enqueue(it)
	}
	for _, c := range results {
		select {
		case <-c:
		case <-ctx.Done():
			return
		}
	}
}

// pollDecisions sends this gateway's new decisions to the successors that
// hold the shadows of their traces.
func (r *replicator) pollDecisions() {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	since := time.Now()
	for {
		select {
		case <-r.e.stopping:
			return
		case <-t.C:
		}
		now := time.Now()
		v := r.e.cur.Load()
		if v.ownAll {
			since = now
			continue
		}
		type lists struct{ kept, dropped []pcommon.TraceID }
		per := map[int]*lists{}
		r.buf.RecentDecisions(since, func(id pcommon.TraceID, sampled bool) {
			s := v.successorOf(id)
			if s < 0 {
				return
			}
			ls := per[s]
			if ls == nil {
				ls = &lists{}
				per[s] = ls
			}
			if sampled {
				ls.kept = append(ls.kept, id)
			} else {
				ls.dropped = append(ls.dropped, id)
			}
		})
		since = now
		for s, ls := range per {
			snd := r.sender(v.ring.Endpoint(s))
			if snd == nil {
				add(r.m.undelivered, len(ls.kept)+len(ls.dropped))
				continue
			}
			for kept, dropped := range splitIDs(ls.kept, ls.dropped, r.maxIDs) {
				snd.enqueue(&item{sampled: kept, notSampled: dropped, until: now.Add(r.e.cfg.Window)})
			}
		}
	}
}

func (r *replicator) sweepLoop() {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-r.e.stopping:
			return
		case <-t.C:
		}
		r.sweep(time.Now())
	}
}

// sweep acts on the shadows that are due.
func (r *replicator) sweep(now time.Time) {
	v := r.e.cur.Load()
	out := r.store.sweep(now.UnixNano(), r.t, v.holdsShadow)
	add(r.m.dropped, out.dropped)
	add(r.m.freed, out.freed, r.m.freedKept)
	r.promote(out.promote, PromotedOwnerLeft)
	r.exportCrashed(out.export)
	for owner, as := range out.ask {
		r.e.spawn(func() { r.ask(owner, as) })
	}
	r.forgetPromoted(now.UnixNano())
}

// ask asks owner what became of shadows that need it: an undecided one
// past decision_wait plus the grace (its decision got lost, or the owner
// restarted and lost the trace, or it is still pending there), a kept one
// whose owner left the set without a goodbye (crashed, or still exporting
// and unaware it was removed). An owner that answers is alive: what it
// decided is freed here, what it does not know is handed back to it to
// decide, what it still holds waits. One that does not answer is dead:
// its kept traces are exported here, its undecided ones decided here.
func (r *replicator) ask(owner *life, as []asked) {
	var kept, undecided []pcommon.TraceID
	for _, a := range as {
		if a.kept {
			kept = append(kept, a.id)
		} else {
			undecided = append(undecided, a.id)
		}
	}
	// A kept trace needs only the owner's answer: alive, it exports it.
	resp, err := r.query(owner.ep, undecided)
	if err == nil && resp.incarnation != owner.inc {
		// Another process answered: the owner restarted, which promotes and
		// exports what its previous life left here.
		r.observe(owner.ep, resp.incarnation)
		return
	}
	if err != nil {
		if owner.left() {
			owner.dead.Store(true)
		}
		r.exportCrashed(r.store.take(owner, kept))
		ts := r.store.take(owner, undecided)
		switch {
		case len(ts) == 0:
		case owner.left():
			r.promote(ts, PromotedOwnerLeft)
		default:
			// In the set but silent: dead and not discovered yet (a node
			// lost), or cut off from here. It may have exported them.
			add(r.m.orphans, len(ts))
			add(r.m.dupPossible, len(ts))
			r.e.set.Logger.Info("handoff: a peer does not answer for traces it owns and never decided; deciding them here",
				zap.String("peer", owner.ep), zap.Int("traces", len(ts)), zap.Error(err))
			r.adopt(ts)
		}
		return
	}
	add(r.m.freed, len(r.store.take(owner, kept)), r.m.freedKept)
	decided := map[pcommon.TraceID]bool{}
	for _, id := range resp.sampled {
		decided[id] = true
	}
	for _, id := range resp.notSampled {
		decided[id] = false
	}
	pending := map[pcommon.TraceID]bool{}
	for _, id := range resp.pending {
		pending[id] = true
	}
	var known, unknown []pcommon.TraceID
	for _, id := range undecided {
		switch _, ok := decided[id]; {
		case ok:
			known = append(known, id)
		case !pending[id]:
			unknown = append(unknown, id)
		}
	}
	for _, tk := range r.store.take(owner, known) {
		sampled := decided[tk.id]
		r.buf.RememberDecision(tk.id, sampled)
		opt := r.m.freedDropped
		if sampled {
			opt = r.m.freedKept
		}
		add(r.m.freed, 1, opt)
	}
	if orphans := r.store.take(owner, unknown); len(orphans) > 0 {
		add(r.m.orphans, len(orphans))
		r.e.set.Logger.Info("handoff: a peer lost traces it owns (it does not know them); handing them back to it",
			zap.String("peer", owner.ep), zap.Int("traces", len(orphans)))
		r.adopt(orphans)
	}
}

// query asks peer ep about ids, in requests within the peer's limits.
// The answers are merged; an incarnation that changes between them is
// answered as is (the caller sees the peer restarted).
func (r *replicator) query(ep string, ids []pcommon.TraceID) (response, error) {
	p, err := r.e.peer(ep)
	if err != nil {
		return response{}, err
	}
	connect(r.e.sendCtx, p)
	var all response
	for part := range splitIDs(ids, nil, r.maxIDs) {
		resp, err := r.call(p, &request{from: r.e.cfg.self, incarnation: r.inc, ask: part})
		if err != nil {
			return response{}, err
		}
		if all.incarnation != 0 && resp.incarnation != all.incarnation {
			return resp, nil
		}
		all.incarnation = resp.incarnation
		all.pending = append(all.pending, resp.pending...)
		all.sampled = append(all.sampled, resp.sampled...)
		all.notSampled = append(all.notSampled, resp.notSampled...)
	}
	if len(ids) == 0 {
		return r.call(p, &request{from: r.e.cfg.self, incarnation: r.inc})
	}
	return all, nil
}

// call sends req to p within client::timeout and returns the answer.
func (r *replicator) call(p *peerConn, req *request) (response, error) {
	ctx, cancel := context.WithTimeout(r.e.sendCtx, r.e.cfg.Client.Timeout)
	defer cancel()
	var raw []byte
	if err := p.conn.Invoke(ctx, replicaMethod, encodeRequest(req), &raw, callRaw); err != nil {
		return response{}, err
	}
	return decodeResponse(raw), nil
}

// takeOver removes every shadow of l, a life that is over (for reason):
// its undecided traces are promoted, and what it kept is exported here,
// as it may have died with its batch.
func (r *replicator) takeOver(l *life, reason string) {
	var undecided, kept []taken
	for _, tk := range r.store.remove(func(s *shadow) bool { return s.owner == l }) {
		if tk.keptAt != 0 {
			kept = append(kept, tk)
		} else {
			undecided = append(undecided, tk)
		}
	}
	r.promote(undecided, reason)
	r.exportCrashed(kept)
}

// exportCrashed exports the kept shadows of an owner that crashed within
// the grace: it may have exported them already (counted as possible
// duplicates), or lost them in its batch.
func (r *replicator) exportCrashed(ts []taken) {
	if len(ts) == 0 {
		return
	}
	add(r.m.exported, len(ts))
	add(r.m.dupPossible, len(ts))
	r.exportKept(ts)
}

// promote turns shadows whose owner is gone into traces of the gateway
// that owns them now (this one, usually), on their original schedule.
func (r *replicator) promote(ts []taken, reason string) {
	if len(ts) == 0 {
		return
	}
	opt := r.m.ownerLeft
	if reason == PromotedOwnerRestarted {
		opt = r.m.ownerRestarted
	}
	add(r.m.promoted, len(ts), opt)
	r.remember(ts)
	r.adopt(ts)
}

// remember keeps, for promoted traces, the span IDs their owner had,
// until their decision is long due.
func (r *replicator) remember(ts []taken) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, tk := range ts {
		spans := make(map[pcommon.SpanID]struct{}, len(tk.refs))
		for _, ref := range tk.refs {
			if id, ok := spanID(ref.field()); ok {
				spans[id] = struct{}{}
			}
		}
		r.promoted[tk.id] = promotedTrace{owner: tk.owner, spans: spans, until: tk.firstSeen + r.t.orphanAfter + r.t.keep}
	}
	r.nPromoted.Store(int64(len(r.promoted)))
}

func (r *replicator) forgetPromoted(now int64) {
	if r.nPromoted.Load() == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, p := range r.promoted {
		if p.until < now {
			delete(r.promoted, id)
		}
	}
	r.nPromoted.Store(int64(len(r.promoted)))
}

// ownerKept handles a keep decision that arrives, from the owner, for a
// trace promoted here: the owner was leaving, not dead, and exported what
// it had. Only the spans it did not have leave from here, so the trace
// reaches the backend once; it reports whether id was such a trace.
func (r *replicator) ownerKept(owner *life, id pcommon.TraceID) bool {
	if r.nPromoted.Load() == 0 {
		return false
	}
	r.mu.Lock()
	p, ok := r.promoted[id]
	if ok && p.owner == owner {
		delete(r.promoted, id)
		r.nPromoted.Store(int64(len(r.promoted)))
	}
	r.mu.Unlock()
	if !ok || p.owner != owner {
		return false
	}
	had := func(s pcommon.SpanID) bool { _, ok := p.spans[s]; return ok }
	if !r.buf.KeepDecidedElsewhere(id, had) {
		// Decided here already: both exported what both had.
		add(r.m.dupPossible, 1)
	} else {
		add(r.m.dupAvoided, len(p.spans))
	}
	return true
}

// adopt hands shadows to their trace's current owner as undecided traces
// with their first-seen time, through the handoff path (this gateway
// imports its own part). A trace already decided here is left out: its
// owner handed it off before leaving and it was decided whole.
func (r *replicator) adopt(ts []taken) {
	td := ptrace.NewTraces()
	avoided := 0
	for _, tk := range ts {
		if r.decided(tk.id) {
			avoided += len(tk.refs)
			continue
		}
		part, err := materialize(tk.refs)
		if err != nil {
			r.logFail.Warn("handoff: a shadow could not be decoded; it is lost", zap.Error(err))
			continue
		}
		mark(part, 1, time.Unix(0, tk.firstSeen))
		part.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	add(r.m.dupAvoided, avoided)
	if td.ResourceSpans().Len() == 0 {
		return
	}
	r.e.spawn(func() { r.e.dispatch(r.e.sendCtx, td, kindHandoff, time.Now().Add(r.e.cfg.Window)) })
}

// exportKept decodes and exports kept shadows.
func (r *replicator) exportKept(ts []taken) {
	td := ptrace.NewTraces()
	for _, tk := range ts {
		part, err := materialize(tk.refs)
		if err != nil {
			r.logFail.Warn("handoff: a shadow could not be decoded; it is lost", zap.Error(err))
			continue
		}
		part.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	if td.ResourceSpans().Len() == 0 {
		return
	}
	if err := r.buf.ExportKept(context.Background(), td); err != nil {
		r.logFail.Warn("handoff: could not export the kept traces of a crashed peer", zap.Error(err))
	}
}

// item is one unit queued for a peer.
type item struct {
	shadow              []wireGroup
	sampled, notSampled []pcommon.TraceID
	bye                 bool
	spans, size         int
	// result receives the outcome when somebody waits; otherwise a failure
	// is retried until `until`.
	result chan error
	until  time.Time
}

// ids is what the item counts against the peer's per-request limits.
func (it *item) ids() int { return it.spans + len(it.sampled) + len(it.notSampled) }

// splitIDs cuts two lists of trace IDs into pieces of at most max IDs in
// all.
func splitIDs(a, b []pcommon.TraceID, max int) iter.Seq2[[]pcommon.TraceID, []pcommon.TraceID] {
	return func(yield func([]pcommon.TraceID, []pcommon.TraceID) bool) {
		for len(a)+len(b) > 0 {
			na := min(len(a), max)
			nb := min(len(b), max-na)
			if !yield(a[:na], b[:nb]) {
				return
			}
			a, b = a[na:], b[nb:]
		}
	}
}

// sender sends the items queued for one peer, merging what waits into
// one request (group commit: concurrent ConsumeTraces calls share a round
// trip), with up to inFlight requests at once (one run loop each).
type sender struct {
	r    *replicator
	ep   string
	mu   sync.Mutex
	q    []*item
	wake chan struct{}
	quit chan struct{}
	once sync.Once
}

func newSender(r *replicator, ep string) *sender {
	return &sender{r: r, ep: ep, wake: make(chan struct{}, 1), quit: make(chan struct{})}
}

func (s *sender) enqueue(it *item) {
	s.mu.Lock()
	s.q = append(s.q, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sender) stop() { s.once.Do(func() { close(s.quit) }) }

// take removes the items of one request from the queue; if more remain,
// another of the peer's senders is woken for them.
func (s *sender) take() []*item {
	s.mu.Lock()
	size, n := 0, 0
	ids := 0
	for n < len(s.q) && (n == 0 || size+s.q[n].size <= s.r.e.opts.maxRequestBytes && ids+s.q[n].ids() <= s.r.maxIDs) {
		size += s.q[n].size
		ids += s.q[n].ids()
		n++
	}
	batch := slices.Clone(s.q[:n])
	s.q = slices.Delete(s.q, 0, n)
	more := len(s.q) > 0
	s.mu.Unlock()
	if more {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return batch
}

func (s *sender) requeue(items []*item) {
	s.mu.Lock()
	s.q = append(items, s.q...)
	s.mu.Unlock()
}

func (s *sender) run() {
	backoff := s.r.e.opts.initialBackoff
	for {
		select {
		case <-s.wake:
		case <-s.quit:
			s.fail(s.take(), ErrShutdown, true)
			return
		case <-s.r.e.stopping:
			s.fail(s.take(), ErrShutdown, true)
			return
		}
		for {
			batch := s.take()
			if len(batch) == 0 {
				break
			}
			err := s.push(batch)
			if err == nil {
				backoff = s.r.e.opts.initialBackoff
				continue
			}
			s.r.logFail.Warn("handoff: replication to a peer failed", zap.String("peer", s.ep), zap.Error(err))
			if retry := s.fail(batch, err, permanent(err)); len(retry) > 0 {
				s.requeue(retry)
				t := time.NewTimer(min(backoff, maxBackoff))
				select {
				case <-t.C:
				case <-s.quit:
				case <-s.r.e.stopping:
				}
				t.Stop()
				backoff *= 2
			}
		}
	}
}

// fail reports err to the waiters of batch and returns the items to retry.
func (s *sender) fail(batch []*item, err error, final bool) []*item {
	var retry []*item
	now := time.Now()
	for _, it := range batch {
		switch {
		case it.result != nil:
			add(s.r.m.failures, it.spans)
			it.result <- err
		case !final && now.Before(it.until):
			retry = append(retry, it)
		default:
			add(s.r.m.failures, it.spans)
			add(s.r.m.undelivered, len(it.sampled)+len(it.notSampled))
		}
	}
	return retry
}

// connectWait bounds how long a request waits for its peer's connection
// to come up. A peer that refuses costs one connection attempt; one that
// does not answer (its node is gone) costs this long, per request, until
// it leaves the set.
const connectWait = 250 * time.Millisecond

// connect brings the peer's connection up if it is not. A connection
// that failed once waits out gRPC's reconnect backoff (up to minutes) and
// fails every call meanwhile, though the peer may be back: reconnect now.
func connect(ctx context.Context, p *peerConn) {
	st := p.conn.GetState()
	if st == connectivity.Ready {
		return
	}
	p.conn.ResetConnectBackoff()
	p.conn.Connect()
	ctx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	for st = p.conn.GetState(); st != connectivity.Ready; st = p.conn.GetState() {
		prev := st
		if !p.conn.WaitForStateChange(ctx, prev) {
			return
		}
		if prev == connectivity.Connecting && p.conn.GetState() == connectivity.TransientFailure {
			return // refused: the call fails fast
		}
	}
}

// push sends batch as one request.
func (s *sender) push(batch []*item) error {
	req := request{from: s.r.e.cfg.self, incarnation: s.r.inc}
	spans := 0
	for _, it := range batch {
		req.shadow = append(req.shadow, it.shadow...)
		req.sampled = append(req.sampled, it.sampled...)
		req.notSampled = append(req.notSampled, it.notSampled...)
		req.bye = req.bye || it.bye
		spans += it.spans
	}
	p, err := s.r.e.peer(s.ep)
	if err != nil {
		return err
	}
	connect(s.r.e.sendCtx, p)
	resp, err := s.r.call(p, &req)
	if err != nil {
		return err
	}
	add(s.r.m.spansSent, spans)
	for _, it := range batch {
		if it.result != nil {
			it.result <- nil
		}
	}
	s.r.observe(s.ep, resp.incarnation)
	return nil
}

// Replicate starts replicating the spans of td that this gateway owns to
// their successors; the caller buffers td, then waits for the
// acknowledgements, so that a span acknowledged to an agent is held by two
// gateways. td is only read. Nil (nothing to wait for) when replication is
// off or there is no successor.
func (e *Engine) Replicate(td ptrace.Traces) *Replication {
	if e.rep == nil {
		return nil
	}
	return e.rep.send(e.rep.prepare(td, e.cur.Load()), 0, true)
}

// importGroup buffers data received from a peer or taken back, and
// replicates what this gateway owns of it.
func (e *Engine) importGroup(ctx context.Context, td ptrace.Traces, firstSeen time.Time) error {
	if e.rep == nil {
		return e.buf.ImportTrace(ctx, td, firstSeen)
	}
	// Encoded before the import: from then on the buffer may move spans
	// out of td.
	p := e.rep.prepare(td, e.cur.Load())
	dup, err := e.rep.buf.ImportTraceDedup(ctx, td, firstSeen)
	add(e.rep.m.dupAvoided, dup)
	if err != nil {
		return err
	}
	e.rep.send(p, firstSeen.UnixNano(), false)
	return nil
}

// spawn runs f as an engine goroutine unless the engine is shut down (or
// was never started): Shutdown waits for it.
func (e *Engine) spawn(f func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spawnLocked(f)
}

// spawnLocked is spawn with e.mu held.
func (e *Engine) spawnLocked(f func()) bool {
	if e.state != stateStarted {
		return false
	}
	e.wg.Go(f)
	return true
}

// viewChanged returns a channel closed at the next view change.
func (e *Engine) viewChanged() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.viewWake
}

// decided reports whether a decision for id is known here.
func (r *replicator) decided(id pcommon.TraceID) bool { return r.buf.TraceState(id).decided() }
