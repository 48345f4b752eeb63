package tailsampler

import (
	"slices"
	"time"

	"go.uber.org/zap"
)

// Late spans of a trace decided not sampled.
//
// A span that arrives after its trace was decided follows the decision
// (the decision caches): a kept trace's late span is forwarded, a dropped
// trace's late span is dropped. For a trace dropped because no policy
// matched it, that can silently lose what matters most: when the span that
// would have matched (typically the error span, often the last of a trace)
// is the late one, the trace was dropped without it and the span follows
// the drop. Nothing of the trace then reaches the backend.
//
// So with reevaluate_late_spans (off by default: upstream drops them),
// late spans of a trace that matched no policy are evaluated on their
// own, as a trace made of the late spans: if a policy keeps them they are
// forwarded, the decision is reversed for the spans still to come, and the
// reversal is counted (late_spans_reversed) and logged at most every
// 10 s. The trace then reaches the backend in parts, which is what
// upstream does with late spans of a trace it no longer holds. A veto is final: late spans of a trace dropped by a drop
// policy or by maximum_trace_size_bytes are dropped.

// vetoTooLarge is the "policy" of a trace dropped for exceeding
// maximum_trace_size_bytes: a veto, so its late spans are dropped too.
const vetoTooLarge = "maximum_trace_size_bytes"

// reviewLate evaluates the late spans collected in s.late (all of traces
// decided not sampled without a veto) per trace, forwarding those a policy
// keeps. Called with s.mu held at the end of ingest; policies run under
// the lock, which only late spans pay for.
func (s *shard) reviewLate(out *outBuilder, st *ingestStats, now int64) {
	p := s.p
	late := s.late
	// A trace's late spans are usually consecutive; the stable sort keeps
	// their order and groups the others.
	slices.SortStableFunc(late, func(a, b ingestItem) int {
		return slices.Compare(a.id[:], b.id[:])
	})
	at := uint32(now / int64(time.Second))
	for len(late) > 0 {
		n := 1
		for n < len(late) && late[n].id == late[0].id {
			n++
		}
		group := late[:n]
		late = late[n:]
		v := lateView(group, p.timeOf(now))
		d, pol := p.policies.Decide(p.runCtx, &v)
		if !keeps(d) {
			st.lateDropped += int64(n)
			// A veto found now is final for the spans still to come.
			if d == Dropped {
				s.notSampled.add(group[0].id, at, true)
			}
			continue
		}
		for i := range group {
			out.add(group[i].ref, pol)
		}
		st.lateReversed += int64(n)
		s.remember(group[0].id, true, at)
		s.recordDecision(group[0].id, true, now) // handoff hook
	}
	clear(s.late) // drop batch references
	s.late = s.late[:0]
}

// lateView is the Trace made of one trace's late spans.
func lateView(items []ingestItem, seen time.Time) traceView {
	v := traceView{id: items[0].id, firstSeen: seen, root: -1, bytes: -1}
	v.refs = make([]spanRef, len(items))
	for i := range items {
		it := &items[i]
		v.refs[i] = it.ref
		if i == 0 || it.start < v.firstStart {
			v.firstStart = it.start
		}
		if it.end > v.lastEnd {
			v.lastEnd = it.end
		}
		if it.root && v.root < 0 {
			v.root = int32(i)
		}
	}
	return v
}

// recordReversed counts spans kept by a reversed decision and says so:
// decision_wait is then shorter than the time some spans take to arrive.
func (p *sampler) recordReversed(n int64) {
	p.tel.lateReversed.Add(p.runCtx, n)
	p.lateWarn.Warn("spans arrived after their trace was decided not sampled, and a policy keeps them: forwarded, so the trace reaches the backend in parts; decision_wait is shorter than the time these spans took to arrive",
		zap.Int64("spans", n))
}
