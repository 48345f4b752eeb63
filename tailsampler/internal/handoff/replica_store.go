package handoff

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// life is one incarnation of a peer: its ring endpoint and the random
// number its process drew at start. A restarted gateway has the same
// endpoint and a new incarnation; the shadows its previous life replicated
// will never get a decision from it.
type life struct {
	ep  string
	inc uint64
	// leftAt is when this gateway saw ep leave the set (Unix nanos; 0: in
	// the set).
	leftAt atomic.Int64
	// graceful: the peer said it leaves gracefully (bye).
	graceful atomic.Bool
	// ended: a later incarnation of ep has been seen.
	ended atomic.Bool
	// dead: it left the set and does not answer.
	dead atomic.Bool
}

// over reports whether this life will never decide its shadows: a later
// one started, or it left the set and does not answer.
func (l *life) over() bool { return l.ended.Load() || l.dead.Load() }

// left reports whether it is out of the set.
func (l *life) left() bool { return l.leftAt.Load() != 0 }

// shadow is one trace held for its owner.
type shadow struct {
	id        pcommon.TraceID
	owner     *life
	firstSeen int64 // Unix nanos, the owner's first sight of the trace (about)
	due       int64 // when the sweep looks at it next
	keptAt    int64 // when the owner decided to keep it; 0: undecided
	gen       uint32
	used      bool
	refs      []spanRef
}

// shadowShard holds the shadows of the trace IDs mapped to it.
type shadowShard struct {
	mu      sync.Mutex
	index   map[pcommon.TraceID]int32
	entries []shadow
	free    []int32
	queue   dueQueue
}

// shadowStore holds the shadows a gateway keeps for its ring
// predecessors: their spans in OTLP encoding, indexed by trace. It is
// safe for concurrent use.
type shadowStore struct {
	shards []*shadowShard
	traces atomic.Int64
	spans  atomic.Int64
}

const shadowShards = 16

func newShadowStore() *shadowStore {
	s := &shadowStore{shards: make([]*shadowShard, shadowShards)}
	for i := range s.shards {
		s.shards[i] = &shadowShard{index: map[pcommon.TraceID]int32{}}
	}
	return s
}

func (s *shadowStore) shard(id pcommon.TraceID) *shadowShard {
	return s.shards[shardOfID(id, len(s.shards))]
}

// timing is when shadows fall due, in nanoseconds.
type timing struct {
	// decide: after first-seen, when the owner decides (decision_wait); a
	// shadow whose owner left the set is looked at then.
	decide int64
	// orphanAfter: after first-seen, when a shadow whose owner is still
	// there but never decided is asked about (decision_wait plus
	// replica_grace).
	orphanAfter int64
	// keep: how long a kept shadow outlives its owner's decision
	// (replica_grace): the owner's export path (batch, exporter) may
	// still lose it if the owner crashes.
	keep int64
}

// add holds the spans of a message (their bytes are m's) for owner.
// Traces first seen here get firstSeen (0: now). It returns how many
// traces and spans it took. A replica that arrives after its trace was
// decided (a late span) makes a shadow no decision frees: it is asked
// about after decision_wait plus the grace, and freed then.
func (s *shadowStore) add(owner *life, m *encoded, spans []spanLoc, firstSeen, now int64, t timing) (traces, taken int) {
	if firstSeen <= 0 || firstSeen > now {
		firstSeen = now
	}
	// The message's traces, each with its spans counted, so that each
	// takes its shard's lock once and a trace new here gets its
	// references carved, exactly sized, from one slab for the message.
	sc := scratchPool.Get().(*addScratch)
	defer sc.release()
	for i := range spans {
		k, ok := sc.index[spans[i].id]
		if !ok {
			k = int32(len(sc.traces))
			sc.index[spans[i].id] = k
			sc.traces = append(sc.traces, msgTrace{id: spans[i].id})
		}
		sc.traces[k].n++
		sc.of = append(sc.of, k)
	}
	slab := make([]spanRef, len(spans))
	off := 0
	for k := range sc.traces {
		mt := &sc.traces[k]
		mt.refs = slab[off : off : off+int(mt.n)]
		off += int(mt.n)
	}
	for i := range spans {
		mt := &sc.traces[sc.of[i]]
		mt.refs = append(mt.refs, spanRef{m: m, ss: spans[i].ss, loc: spans[i].loc})
	}
	for k := range sc.traces {
		mt := &sc.traces[k]
		sh := s.shard(mt.id)
		sh.mu.Lock()
		idx, ok := sh.index[mt.id]
		if !ok {
			idx = sh.alloc(mt.id, owner, firstSeen, firstSeen+t.decide)
			sh.entries[idx].refs = mt.refs
			traces++
		} else {
			e := &sh.entries[idx]
			e.owner = owner // the latest sender owns it (ownership moves with handoffs)
			e.refs = append(e.refs, mt.refs...)
			if firstSeen < e.firstSeen && e.keptAt == 0 {
				e.firstSeen = firstSeen
				sh.schedule(idx, firstSeen+t.decide)
			}
		}
		sh.mu.Unlock()
		taken += len(mt.refs)
	}
	s.traces.Add(int64(traces))
	s.spans.Add(int64(taken))
	return traces, taken
}

// msgTrace is one trace's spans in a message.
type msgTrace struct {
	id   pcommon.TraceID
	n    int32
	refs []spanRef
}

// addScratch is add's working memory, pooled.
type addScratch struct {
	index  map[pcommon.TraceID]int32
	traces []msgTrace
	of     []int32 // span → its trace in traces
}

var scratchPool = sync.Pool{New: func() any {
	return &addScratch{index: map[pcommon.TraceID]int32{}}
}}

func (sc *addScratch) release() {
	clear(sc.index)
	clear(sc.traces) // drop references to the message
	sc.traces, sc.of = sc.traces[:0], sc.of[:0]
	scratchPool.Put(sc)
}

func (sh *shadowShard) alloc(id pcommon.TraceID, owner *life, firstSeen, due int64) int32 {
	var idx int32
	if n := len(sh.free); n > 0 {
		idx = sh.free[n-1]
		sh.free = sh.free[:n-1]
	} else {
		sh.entries = append(sh.entries, shadow{})
		idx = int32(len(sh.entries) - 1)
	}
	e := &sh.entries[idx]
	e.id, e.owner, e.firstSeen, e.keptAt, e.used = id, owner, firstSeen, 0, true
	sh.index[id] = idx
	sh.schedule(idx, due)
	return idx
}

func (sh *shadowShard) schedule(idx int32, at int64) {
	e := &sh.entries[idx]
	e.due = at
	sh.queue.push(dueItem{at: at, idx: idx, gen: e.gen})
}

// release forgets an entry; its refs are returned for the caller to use.
func (sh *shadowShard) release(idx int32) []spanRef {
	e := &sh.entries[idx]
	refs := e.refs
	delete(sh.index, e.id)
	*e = shadow{gen: e.gen + 1} // refs go with the caller: not reused
	sh.free = append(sh.free, idx)
	return refs
}

// takeOut releases an entry and returns it.
func (sh *shadowShard) takeOut(idx int32) taken {
	e := &sh.entries[idx]
	tk := taken{id: e.id, owner: e.owner, firstSeen: e.firstSeen, keptAt: e.keptAt}
	tk.refs = sh.release(idx)
	return tk
}

// taken is a shadow removed from the store, with what to do with it.
type taken struct {
	id        pcommon.TraceID
	owner     *life
	firstSeen int64
	keptAt    int64
	refs      []spanRef
}

func (s *shadowStore) took(n int, spans int) {
	s.traces.Add(-int64(n))
	s.spans.Add(-int64(spans))
}

// decide applies the owner's decisions. A dropped trace's shadow is freed;
// a kept one is kept for t.keep more (the owner may still crash before its
// export), unless the owner leaves gracefully. It returns the shadows freed.
func (s *shadowStore) decide(ids []pcommon.TraceID, keep bool, graceful bool, now int64, t timing) (freed int) {
	var spans int
	for _, id := range ids {
		sh := s.shard(id)
		sh.mu.Lock()
		if idx, ok := sh.index[id]; ok {
			e := &sh.entries[idx]
			switch {
			case !keep || graceful || t.keep <= 0:
				spans += len(sh.release(idx))
				freed++
			case e.keptAt == 0:
				e.keptAt = now
				sh.schedule(idx, now+t.keep)
			}
		}
		sh.mu.Unlock()
	}
	s.took(freed, spans)
	return freed
}

// outcome of the sweep.
type sweepOut struct {
	promote []taken // undecided, owner over: a trace of this gateway (or of the new owner) now
	export  []taken // kept, owner over: exported here (its batch may have died with it)
	// ask: shadows whose owner must say what became of them (they stay in
	// the store meanwhile): undecided past decision_wait with the owner
	// out of the set, or past decision_wait plus the grace with the owner
	// in it; kept past the grace (freed if the owner is alive: it exports
	// them).
	ask     map[*life][]asked
	dropped int // shadows no longer ours (this gateway is not their successor any more)
	freed   int // kept shadows of an owner that left gracefully
}

// asked is one shadow its owner is asked about.
type asked struct {
	id   pcommon.TraceID
	kept bool
}

// sweep takes out (or reschedules) every shadow that is due at now. mine
// reports whether this gateway is still the trace's successor (or owner)
// in its current view: an orphan it is not the successor of is dropped,
// its owner having replicated it elsewhere since.
func (s *shadowStore) sweep(now int64, t timing, mine func(pcommon.TraceID) bool) sweepOut {
	out := sweepOut{ask: map[*life][]asked{}}
	n, spans := 0, 0
	retry := max(t.keep, t.orphanAfter-t.decide)
	for _, sh := range s.shards {
		sh.mu.Lock()
		for len(sh.queue) > 0 && sh.queue[0].at <= now {
			it := sh.queue.pop()
			e := &sh.entries[it.idx]
			if !e.used || e.gen != it.gen || e.due != it.at {
				continue // released or rescheduled since
			}
			var tk taken
			kept, owner := e.keptAt != 0, e.owner
			switch {
			case owner.graceful.Load() && kept:
				tk = sh.takeOut(it.idx)
				out.freed++
			case owner.over() && kept:
				tk = sh.takeOut(it.idx)
				out.export = append(out.export, tk)
			case owner.over():
				tk = sh.takeOut(it.idx)
				out.promote = append(out.promote, tk)
			case !kept && !owner.left() && now < e.firstSeen+t.orphanAfter:
				sh.schedule(it.idx, e.firstSeen+t.orphanAfter)
				continue
			case !kept && !owner.left() && !mine(e.id):
				tk = sh.takeOut(it.idx)
				out.dropped++
			default:
				sh.schedule(it.idx, now+retry)
				out.ask[owner] = append(out.ask[owner], asked{id: e.id, kept: kept})
				continue
			}
			n++
			spans += len(tk.refs)
		}
		sh.mu.Unlock()
	}
	s.took(n, spans)
	return out
}

// take removes the shadows of ids that owner holds here.
func (s *shadowStore) take(owner *life, ids []pcommon.TraceID) []taken {
	var out []taken
	spans := 0
	for _, id := range ids {
		sh := s.shard(id)
		sh.mu.Lock()
		if idx, ok := sh.index[id]; ok && sh.entries[idx].owner == owner {
			tk := sh.takeOut(idx)
			spans += len(tk.refs)
			out = append(out, tk)
		}
		sh.mu.Unlock()
	}
	s.took(len(out), spans)
	return out
}

// remove takes out every shadow for which match is true.
func (s *shadowStore) remove(match func(*shadow) bool) []taken {
	var out []taken
	spans := 0
	for _, sh := range s.shards {
		sh.mu.Lock()
		for idx := range sh.entries {
			e := &sh.entries[idx]
			if !e.used || !match(e) {
				continue
			}
			tk := sh.takeOut(int32(idx))
			spans += len(tk.refs)
			out = append(out, tk)
		}
		sh.mu.Unlock()
	}
	s.took(len(out), spans)
	return out
}

// materialize decodes a shadow's spans into pdata, each span once (a span
// replicated twice, e.g. again after a ring change, is kept once).
func materialize(refs []spanRef) (ptrace.Traces, error) {
	var w writer
	seen := make(map[pcommon.SpanID]struct{}, len(refs))
	for _, r := range refs {
		if id, ok := spanID(r.field()); ok {
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
		}
		w.add(r)
	}
	var u ptrace.ProtoUnmarshaler
	return u.UnmarshalTraces(w.finish())
}

// dueItem is one scheduled look at a shadow.
type dueItem struct {
	at  int64
	idx int32
	gen uint32
}

// dueQueue is a min-heap of dueItems by time (typed: container/heap
// would box every item).
type dueQueue []dueItem

func (q *dueQueue) push(it dueItem) {
	*q = append(*q, it)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (q *dueQueue) pop() dueItem {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h[l].at < h[m].at {
			m = l
		}
		if r < n && h[r].at < h[m].at {
			m = r
		}
		if m == i {
			break
		}
		h[m], h[i] = h[i], h[m]
		i = m
	}
	*q = h
	return top
}
