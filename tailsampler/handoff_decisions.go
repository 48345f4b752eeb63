package tailsampler

import "go.opentelemetry.io/collector/pdata/pcommon"

// minRecentPerShard is the smallest decision ring, for tiny cache sizes.
const minRecentPerShard = 1024

// recentDecision is one decision with its clock time (nanoseconds since
// the processor's base).
type recentDecision struct {
	id      pcommon.TraceID
	at      int64
	sampled bool
}

// decisionRing remembers a shard's latest decisions in order, for the
// handoff engine's RecentDecisions. The decision caches cannot serve: the
// sampled cache keeps fingerprints, not trace IDs. It exists only when
// handoff is on, is guarded by the shard's mutex and grows up to max
// entries (32 B each), then overwrites the oldest.
type decisionRing struct {
	buf  []recentDecision
	next int // where the next write goes once full
	max  int
}

func newDecisionRing(max int) *decisionRing { return &decisionRing{max: max} }

func (r *decisionRing) add(id pcommon.TraceID, sampled bool, at int64) {
	d := recentDecision{id: id, at: at, sampled: sampled}
	if len(r.buf) < r.max {
		r.buf = append(r.buf, d)
		return
	}
	r.buf[r.next] = d
	r.next = (r.next + 1) % r.max
}

// each calls fn newest first for every decision at or after since. A
// shard decides under its lock with a monotonic clock, so the ring is in
// time order and the walk stops at the first older entry.
func (r *decisionRing) each(since int64, fn func(pcommon.TraceID, bool)) {
	n := len(r.buf)
	for k := 0; k < n; k++ {
		d := &r.buf[(r.next-1-k+2*n)%n]
		if d.at < since {
			return
		}
		fn(d.id, d.sampled)
	}
}

// recordDecision remembers a decision for handoff; a no-op when off.
// Called under s.mu.
func (s *shard) recordDecision(id pcommon.TraceID, sampled bool, now int64) {
	if s.recent != nil {
		s.recent.add(id, sampled, now)
	}
}
