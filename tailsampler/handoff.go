package tailsampler

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Handoff hooks. When the gateway ring changes, a gateway that no longer
// owns a trace hands its buffered spans (and first-seen time) to the new
// owner, and owners exchange decisions so late spans keep following them.
// These methods are the buffer side of that; the transport is
// internal/handoff, wired in handoff_processor.go and handoff_buffer.go.

// extract removes a pending trace without deciding it and returns a copy
// of its spans (grouped by their original resource and scope) and when
// its first span was seen. ok is false when the trace is not pending here
// (unknown, decided, or being decided right now).
func (p *sampler) extract(id pcommon.TraceID) (td ptrace.Traces, firstSeen time.Time, ok bool) {
	s := p.shards[p.shardOf(id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.extractLocked(id, newOutBuilder(false))
}

// extractLocked is extract under s.mu, building with out (left empty).
func (s *shard) extractLocked(id pcommon.TraceID, out *outBuilder) (td ptrace.Traces, firstSeen time.Time, ok bool) {
	idx, found := s.index[id]
	if !found || s.entries[idx].state != statePending {
		return ptrace.Traces{}, time.Time{}, false
	}
	td, firstSeen = s.extractAt(idx, out)
	return td, firstSeen, true
}

// extractAt is extractLocked for the pending entry idx.
func (s *shard) extractAt(idx uint32, out *outBuilder) (ptrace.Traces, time.Time) {
	e := &s.entries[idx]
	for _, r := range e.refs {
		out.add(r, "")
	}
	firstSeen := s.p.timeOf(e.firstSeen)
	s.release(idx)
	td, _, ok := out.take()
	if !ok {
		td = ptrace.NewTraces()
	}
	return td, firstSeen
}

// importTrace buffers td as if its traces had first been seen at
// firstSeen, so they are decided decision_wait after that (at once if that
// has passed). Spans of traces already pending join them and the earlier
// first-seen wins: the new owner often buffers fresh spans of a trace
// before the old owner's handoff arrives, and the trace must still be
// decided on the original schedule. A span already buffered for its trace
// (same span ID: delivered twice, at least once) is left out; it returns
// how many were. Spans of traces already decided follow the decision.
func (p *sampler) importTrace(ctx context.Context, td ptrace.Traces, firstSeen time.Time) (int, error) {
	fs := int64(firstSeen.Sub(p.base))
	// Read the IDs before ingest: from then on a decision may move spans
	// out of td.
	ids := traceIDsOf(td)
	dup := p.dropBuffered(td, ids)
	if err := p.ingest(ctx, td, fs); err != nil {
		return dup, err
	}
	for _, id := range ids {
		p.shards[p.shardOf(id)].antedate(id, fs)
	}
	return dup, nil
}

// dropBuffered removes from td the spans already buffered for their
// trace and returns how many. Only traces pending here cost a look at
// their spans; an import of traces new here costs one lookup per trace.
func (p *sampler) dropBuffered(td ptrace.Traces, ids []pcommon.TraceID) int {
	var have map[pcommon.TraceID]map[pcommon.SpanID]struct{}
	for _, id := range ids {
		if _, done := have[id]; done {
			continue
		}
		s := p.shards[p.shardOf(id)]
		s.mu.Lock()
		if idx, ok := s.index[id]; ok {
			refs := s.entries[idx].refs
			set := make(map[pcommon.SpanID]struct{}, len(refs))
			for _, r := range refs {
				set[r.span().SpanID()] = struct{}{}
			}
			if have == nil {
				have = map[pcommon.TraceID]map[pcommon.SpanID]struct{}{}
			}
			have[id] = set
		}
		s.mu.Unlock()
	}
	if len(have) == 0 {
		return 0
	}
	dup := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			sss.At(j).Spans().RemoveIf(func(sp ptrace.Span) bool {
				set, ok := have[sp.TraceID()]
				if !ok {
					return false
				}
				if _, seen := set[sp.SpanID()]; seen {
					dup++
					return true
				}
				set[sp.SpanID()] = struct{}{} // a duplicate within td too
				return false
			})
		}
	}
	return dup
}

// antedate moves a pending trace's first-seen back to fs when that is
// earlier, and its deadline with it.
func (s *shard) antedate(id pcommon.TraceID, fs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, ok := s.index[id]
	if !ok {
		return
	}
	e := &s.entries[idx]
	if e.state != statePending || e.firstSeen <= fs {
		return
	}
	e.firstSeen = fs
	if d := fs + s.p.dw; d < e.deadline {
		e.deadline = d
		s.schedule(d, idx, e.gen)
	}
}

// traceIDsOf lists td's trace IDs, without consecutive repeats.
func traceIDsOf(td ptrace.Traces) []pcommon.TraceID {
	var ids []pcommon.TraceID
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				id := spans.At(k).TraceID()
				if n := len(ids); n == 0 || ids[n-1] != id {
					ids = append(ids, id)
				}
			}
		}
	}
	return ids
}

// importDecision applies a decision made elsewhere and remembers it for
// later spans. A kept decision keeps a pending trace at once. A not-sampled
// one leaves a pending trace to be decided on its own schedule: the peer
// decided on the spans it had, and the spans here (often the late part of
// a trace, where its error span tends to be) were never evaluated.
func (p *sampler) importDecision(id pcommon.TraceID, sampled bool) {
	s := p.shards[p.shardOf(id)]
	var st ingestStats
	s.mu.Lock()
	now := p.nowNanos()
	at := uint32(now / int64(time.Second))
	out := s.importOut()
	if idx, ok := s.index[id]; ok {
		switch {
		case !sampled:
		case s.entries[idx].state == statePending:
			s.finalize(idx, true, "", out, now, &st)
		case s.entries[idx].state == stateDeciding:
			s.entries[idx].override = overrideKeep
		}
	} else {
		effective := s.remember(id, sampled, at)
		// Passed on if the ring changes again within the window.
		s.recordDecision(id, effective, now)
	}
	td, n, ok := out.take()
	s.mu.Unlock()
	if ok {
		p.fwd.enqueue(td, n)
	}
	p.recordStats(&st)
}

// remember records a decision made elsewhere (or a reversed one) in the
// decision caches at at (Unix seconds), with s.mu held: a kept trace
// stays kept. It returns the decision in effect.
func (s *shard) remember(id pcommon.TraceID, sampled bool, at uint32) bool {
	if sampled {
		s.sampled.add(id, at)
		s.notSampled.remove(id)
		return true
	}
	if _, kept := s.sampled.get(id); kept {
		return true
	}
	s.notSampled.add(id, at, false)
	return false
}

// importOut is a builder for spans released by an imported decision. It
// is separate from the decider's builder, which is used outside the lock.
func (s *shard) importOut() *outBuilder {
	if s.imp == nil {
		s.imp = newOutBuilder(s.p.cfg.RecordPolicy)
	}
	return s.imp
}
