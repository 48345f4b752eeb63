package tailsampler

import (
	"context"
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tailgate-otel/tailgate/tailsampler/internal/policies"
	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

type entryState uint8

const (
	stateFree entryState = iota
	statePending
	// stateDeciding: popped by a decider, policies running outside the
	// lock. Spans still append to it and follow its decision.
	stateDeciding
)

// traceEntry is one buffered trace. Entries live in a per-shard slab and
// are reused, refs slices included, so steady-state ingest does not
// allocate per trace.
type traceEntry struct {
	id         pcommon.TraceID
	refs       []spanRef
	firstSeen  int64 // clock nanoseconds
	deadline   int64
	firstStart pcommon.Timestamp
	lastEnd    pcommon.Timestamp
	bytes      int64     // buffered size as upstream counts it (when counting bytes)
	size       traceSize // its parts, as spans arrive
	root       int32
	gen        uint32
	state      entryState
	// ingestKeep: span-ingest mode saw a keep verdict that could not be
	// final yet because a drop policy might still match a later span.
	ingestKeep bool
	ingestPol  string
	// override is a decision imported while the policies ran (overrideKeep).
	override uint8
}

// shard owns the traces whose ID maps to it: index, slab, deadlines and
// decision caches, all under one mutex.
type shard struct {
	p  *sampler
	mu sync.Mutex

	index   map[pcommon.TraceID]uint32
	entries []traceEntry
	free    []uint32
	queue   deadlineQueue
	pending int
	bytes   int64

	capTraces int
	capBytes  int64 // 0: unbounded

	sampled    *sampledCache
	notSampled *notSampledCache

	wake      chan struct{} // cap 1: an earlier deadline was scheduled
	nextWake  int64         // deadline the decider is armed for
	spaceWait chan struct{} // closed when room frees up (block_on_overflow)

	// decider scratch, used only by this shard's decider goroutine
	due       []uint32
	views     []traceView
	decisions []policy.Decision
	policies  []string
	tally     policies.Tally // per-policy counts of a round, flushed after it
	out       *outBuilder
	imp       *outBuilder // importDecision's builder, used under mu
	refChunk  []spanRef   // unused tail of the current refs chunk

	// handoff hook: recent decisions, nil when off (handoff_decisions.go)
	recent *decisionRing

	// late spans of traces decided not sampled (no veto) met by ingest,
	// reviewed before it unlocks (late.go)
	late []ingestItem
}

// overrideKeep: a peer decided to keep the trace while its policies ran.
const overrideKeep = 1

const (
	refCarve     = 8
	refChunkSize = 8192
)

func newShard(p *sampler, capTraces int, capBytes int64, initial int, sampledSize, notSampledSize int) *shard {
	return &shard{
		p:          p,
		index:      make(map[pcommon.TraceID]uint32, initial),
		capTraces:  capTraces,
		capBytes:   capBytes,
		sampled:    newSampledCache(sampledSize),
		notSampled: newNotSampledCache(notSampledSize),
		wake:       make(chan struct{}, 1),
		nextWake:   math.MaxInt64,
		out:        newOutBuilder(p.cfg.RecordPolicy),
	}
}

// ingestItem is one incoming span, pre-digested outside the shard lock.
type ingestItem struct {
	ref   spanRef
	id    pcommon.TraceID
	start pcommon.Timestamp
	end   pcommon.Timestamp
	bytes int32
	root  bool
	shard uint16
}

// ingestStats are counted under the lock and recorded after it.
type ingestStats struct {
	newTraces    int64
	lateSampled  int64
	lateDropped  int64
	lateReversed int64
	tooLarge     int64
	earlyTraces  int64
	earlyBytes   int64
	blocked      bool
	noBlock      bool // ctx ended while blocked: decide early instead
	sampledCount int64
	droppedCount int64 // not kept, vetoed included
	vetoedCount  int64 // dropped by a drop policy
}

func (s *shard) lookup(id pcommon.TraceID) (uint32, bool) {
	idx, ok := s.index[id]
	return idx, ok
}

// ingest buffers items (all of this shard). New traces are first seen at
// firstSeen, or now when it is seenNow.
func (s *shard) ingest(ctx context.Context, items []ingestItem, firstSeen int64, out *outBuilder, st *ingestStats) {
	p := s.p
	s.mu.Lock()
	now := p.nowNanos()
	var (
		lastID  pcommon.TraceID
		lastIdx uint32
		haveLst bool
		touched []uint32
	)
	if p.spanIngest {
		touched = make([]uint32, 0, 8)
	}
	for i := 0; i < len(items); i++ {
		it := &items[i]
		var idx uint32
		var ok bool
		if haveLst && it.id == lastID && s.entries[lastIdx].state != stateFree && s.entries[lastIdx].id == it.id {
			idx, ok = lastIdx, true
		} else {
			idx, ok = s.lookup(it.id)
		}
		if !ok {
			if at, hit := s.sampled.get(it.id); hit {
				out.add(it.ref, "")
				st.lateSampled++
				p.recordLateAge(now, at)
				continue
			}
			if at, veto, hit := s.notSampled.get(it.id); hit {
				p.recordLateAge(now, at)
				if veto || !p.cfg.ReevaluateLateSpans {
					st.lateDropped++
				} else {
					s.late = append(s.late, *it)
				}
				continue
			}
			if s.pending >= s.capTraces {
				if p.cfg.BlockOnOverflow && !st.noBlock {
					st.blocked = true
					s.waitForSpace(ctx, st)
					now = p.nowNanos()
					haveLst = false
					i-- // retry this span: another goroutine may have created its trace
					continue
				}
				for s.pending >= s.capTraces && s.evictOldest(out, st, reasonNumTraces, now) {
				}
			}
			fs := firstSeen
			if fs == seenNow {
				fs = now
			}
			idx = s.newEntry(it.id, fs)
			st.newTraces++
		}
		lastID, lastIdx, haveLst = it.id, idx, true
		s.addSpan(idx, it, now, out, st)
		if touched != nil && s.entries[idx].state == statePending && (len(touched) == 0 || touched[len(touched)-1] != idx) {
			touched = append(touched, idx)
		}
		if s.capBytes > 0 {
			for s.bytes > s.capBytes && s.evictOldest(out, st, reasonMaxBufferedBytes, now) {
			}
		}
	}
	for _, idx := range touched {
		s.evaluateOnIngest(idx, out, st, now)
	}
	if len(s.late) > 0 {
		s.reviewLate(out, st, now)
	}
	s.mu.Unlock()
}

// waitForSpace releases the lock until a decision frees a slot, the
// caller's context ends or the processor stops. It returns with the lock
// held.
func (s *shard) waitForSpace(ctx context.Context, st *ingestStats) {
	if s.spaceWait == nil {
		s.spaceWait = make(chan struct{})
	}
	ch := s.spaceWait
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		st.noBlock = true
	case <-s.p.stopping:
		st.noBlock = true
	}
	s.mu.Lock()
}

func (s *shard) newEntry(id pcommon.TraceID, firstSeen int64) uint32 {
	var idx uint32
	if n := len(s.free); n > 0 {
		idx = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		s.entries = append(s.entries, traceEntry{})
		idx = uint32(len(s.entries) - 1)
	}
	e := &s.entries[idx]
	if cap(e.refs) == 0 {
		// Carve the first refs from a shared chunk: one allocation per
		// refChunkSize/refCarve traces instead of several per trace.
		if len(s.refChunk) < refCarve {
			s.refChunk = make([]spanRef, refChunkSize)
		}
		e.refs = s.refChunk[:0:refCarve]
		s.refChunk = s.refChunk[refCarve:]
	}
	e.id = id
	e.firstSeen = firstSeen
	e.deadline = firstSeen + s.p.dw
	e.firstStart, e.lastEnd = 0, 0
	e.bytes = 0
	e.size = traceSize{}
	e.root = -1
	e.state = statePending
	e.ingestKeep, e.ingestPol, e.override = false, "", 0
	s.index[id] = idx
	s.pending++
	s.schedule(e.deadline, idx, e.gen)
	return idx
}

func (s *shard) schedule(at int64, idx, gen uint32) {
	s.queue.push(deadlineItem{at: at, idx: idx, gen: gen})
	if at < s.nextWake {
		s.nextWake = at
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *shard) addSpan(idx uint32, it *ingestItem, now int64, out *outBuilder, st *ingestStats) {
	e := &s.entries[idx]
	if it.ref.b.sizes != nil {
		var prev spanRef
		if n := len(e.refs); n > 0 {
			prev = e.refs[n-1]
		}
		e.size.add(it.ref, int64(it.bytes), prev, len(e.refs) > 0)
		grown := e.size.parts() - e.bytes
		e.bytes += grown
		s.bytes += grown
	}
	e.refs = append(e.refs, it.ref)
	if len(e.refs) == 1 || it.start < e.firstStart {
		e.firstStart = it.start
	}
	if it.end > e.lastEnd {
		e.lastEnd = it.end
	}
	if it.root && e.root < 0 {
		e.root = int32(len(e.refs) - 1)
		if s.p.dwr > 0 && e.state == statePending {
			if d := now + s.p.dwr; d < e.deadline {
				e.deadline = d
				s.schedule(d, idx, e.gen)
			}
		}
	}
	if max := s.p.cfg.MaximumTraceSizeBytes; max > 0 && e.state == statePending && e.bytes > int64(max) {
		st.tooLarge++
		s.finalize(idx, false, vetoTooLarge, out, now, st)
	}
}

func (s *shard) snapshot(idx uint32) traceView {
	e := &s.entries[idx]
	v := traceView{
		id:         e.id,
		refs:       e.refs[:len(e.refs):len(e.refs)],
		firstSeen:  s.p.timeOf(e.firstSeen),
		firstStart: e.firstStart,
		lastEnd:    e.lastEnd,
		root:       e.root,
		bytes:      -1,
	}
	if s.p.needBytes {
		v.bytes = int(e.size.traces())
	}
	return v
}

// evictOldest decides the pending trace with the earliest deadline now, on
// what has arrived, to make room. It returns false when nothing is
// evictable (every pending trace is being decided already).
func (s *shard) evictOldest(out *outBuilder, st *ingestStats, reason string, now int64) bool {
	for s.queue.len() > 0 {
		it := s.queue.pop()
		e := &s.entries[it.idx]
		if e.gen != it.gen || e.state != statePending {
			continue
		}
		if reason == reasonNumTraces {
			st.earlyTraces++
		} else {
			st.earlyBytes++
		}
		if s.p.spanIngest {
			s.finalize(it.idx, e.ingestKeep, e.ingestPol, out, now, st)
			return true
		}
		v := s.snapshot(it.idx)
		d, pol := s.p.policies.Decide(s.p.runCtx, &v)
		s.finalize(it.idx, keeps(d), pol, out, now, st)
		return true
	}
	return false
}

// evaluateOnIngest is span-ingest mode: every batch re-evaluates the trace
// and a terminal verdict (kept, or dropped) ends it at once.
func (s *shard) evaluateOnIngest(idx uint32, out *outBuilder, st *ingestStats, now int64) {
	e := &s.entries[idx]
	if e.state != statePending {
		return
	}
	v := s.snapshot(idx)
	d, pol := s.p.policies.Decide(s.p.runCtx, &v)
	switch {
	case d == policy.Dropped:
		s.finalize(idx, false, pol, out, now, st)
	case keeps(d) && !s.p.hasDropPolicy:
		s.finalize(idx, true, pol, out, now, st)
	case keeps(d):
		e.ingestKeep, e.ingestPol = true, pol
	}
}

func keeps(d policy.Decision) bool { return d.Samples() }

// finalize applies a decision to every span of the trace (including spans
// that arrived while its policies ran), records it in a decision cache and
// frees the entry at once. policy names the policy that decided; for a
// trace not kept, a name means a veto (a drop policy, an inverted match
// or vetoTooLarge), which its late spans cannot overturn.
func (s *shard) finalize(idx uint32, keep bool, policy string, out *outBuilder, now int64, st *ingestStats) {
	e := &s.entries[idx]
	if e.override == overrideKeep {
		keep = true
	}
	at := uint32(now / int64(time.Second))
	s.recordDecision(e.id, keep, now) // handoff hook (handoff_decisions.go)
	if keep {
		for _, r := range e.refs {
			out.add(r, policy)
		}
		s.sampled.add(e.id, at)
		s.notSampled.remove(e.id)
		st.sampledCount++
	} else {
		s.notSampled.add(e.id, at, policy != "")
		st.droppedCount++
		// Of the traces not kept, only those a drop policy vetoed name a
		// policy (unless a peer's decision overrode a keep); one dropped
		// for its size is a veto for its late spans, but upstream counts
		// it in traces_dropped_too_large only, not as decision=dropped.
		if policy != "" && policy != vetoTooLarge && e.override == 0 {
			st.vetoedCount++
		}
	}
	s.p.tel.removalAge.Record(s.p.runCtx, (now-e.firstSeen)/int64(time.Second))
	s.release(idx)
}

// release forgets an entry without deciding it (decided, extracted or
// dropped on shutdown).
func (s *shard) release(idx uint32) {
	e := &s.entries[idx]
	delete(s.index, e.id)
	clear(e.refs) // drop batch pointers so held input can be collected
	if cap(e.refs) > 64 {
		e.refs = nil // do not keep a huge trace's slice around
	} else {
		e.refs = e.refs[:0]
	}
	s.bytes -= e.bytes
	e.bytes = 0
	e.size = traceSize{}
	e.state = stateFree
	e.gen++
	e.ingestPol = ""
	s.free = append(s.free, idx)
	s.pending--
	if s.spaceWait != nil {
		close(s.spaceWait)
		s.spaceWait = nil
	}
	if s.queue.len() > 4*s.pending+1024 {
		s.queue.compact(func(it deadlineItem) bool {
			x := &s.entries[it.idx]
			return x.gen == it.gen && x.state == statePending
		})
	}
}

// postpone moves every pending deadline d later (the process stalled for
// d); adding the same amount keeps the heap ordered. It returns the
// number of pending traces.
func (s *shard) postpone(d int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.queue.items {
		s.queue.items[i].at += d
	}
	for i := range s.entries {
		if e := &s.entries[i]; e.state == statePending {
			e.deadline += d
		}
	}
	if s.nextWake != math.MaxInt64 {
		s.nextWake += d
	}
	return s.pending
}

// decideDue runs one decision round: traces whose deadline passed are
// evaluated outside the lock and finalized. It returns the next deadline
// (math.MaxInt64 when none) and whether the round was cut short.
func (s *shard) decideDue(maxRound int) (next int64, more bool) {
	p := s.p
	var st ingestStats
	start := time.Now()
	s.mu.Lock()
	now := p.nowNanos()
	s.due, s.views = s.due[:0], s.views[:0]
	for s.queue.len() > 0 && len(s.due) < maxRound {
		it, _ := s.queue.peek()
		if it.at > now {
			break
		}
		s.queue.pop()
		e := &s.entries[it.idx]
		if e.gen != it.gen || e.state != statePending {
			continue
		}
		p.tel.decisionDelay.Record(p.runCtx, (now-it.at)/int64(time.Millisecond))
		if p.spanIngest {
			// Unresolved at the deadline: not sampled unless a keep verdict
			// was only held back by a possible drop.
			s.finalize(it.idx, e.ingestKeep, e.ingestPol, s.out, now, &st)
			continue
		}
		e.state = stateDeciding
		s.due = append(s.due, it.idx)
		s.views = append(s.views, s.snapshot(it.idx))
	}
	s.mu.Unlock()

	s.decisions = s.decisions[:0]
	s.policies = s.policies[:0]
	for i := range s.views {
		d, pol := p.policies.DecideTally(p.runCtx, &s.views[i], &s.tally)
		s.decisions = append(s.decisions, d)
		s.policies = append(s.policies, pol)
	}
	p.policies.Flush(p.runCtx, &s.tally)

	s.mu.Lock()
	now = p.nowNanos()
	for i, idx := range s.due {
		s.finalize(idx, keeps(s.decisions[i]), s.policies[i], s.out, now, &st)
	}
	more = len(s.due) >= maxRound
	next = math.MaxInt64
	if it, ok := s.queue.peek(); ok {
		next = it.at
	}
	s.nextWake = next
	s.mu.Unlock()
	clear(s.views) // drop span refs held by the snapshots
	clear(s.policies)

	if td, n, ok := s.out.take(); ok {
		p.fwd.enqueue(td, n)
	}
	p.recordStats(&st)
	if len(s.due) > 0 {
		p.tel.decisionTimer.Record(p.runCtx, time.Since(start).Milliseconds())
	}
	return next, more
}

// drainAll decides (or drops) every pending trace; used at shutdown.
// It gives up when ctx ends, dropping what is left, and returns how many
// traces were dropped undecided.
func (s *shard) drainAll(ctx context.Context, drop bool) int64 {
	p := s.p
	var st ingestStats
	var dropped int64
	s.mu.Lock()
	now := p.nowNanos()
	for s.queue.len() > 0 {
		it := s.queue.pop()
		e := &s.entries[it.idx]
		if e.gen != it.gen || e.state != statePending {
			continue
		}
		switch {
		case drop || ctx.Err() != nil:
			dropped++
			s.release(it.idx)
		case p.spanIngest:
			s.finalize(it.idx, e.ingestKeep, e.ingestPol, s.out, now, &st)
		default:
			v := s.snapshot(it.idx)
			d, pol := p.policies.Decide(p.runCtx, &v)
			s.finalize(it.idx, keeps(d), pol, s.out, now, &st)
		}
		if s.out.spans >= forwardBatchSpans {
			if td, n, ok := s.out.take(); ok {
				p.fwd.enqueue(td, n)
			}
		}
	}
	s.mu.Unlock()
	if td, n, ok := s.out.take(); ok {
		p.fwd.enqueue(td, n)
	}
	p.recordStats(&st)
	return dropped
}
