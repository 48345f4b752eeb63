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
// These methods are the buffer side of that; the transport is elsewhere.

// extract removes a pending trace without deciding it and returns a copy
// of its spans (grouped by their original resource and scope) and when
// its first span was seen. ok is false when the trace is not pending here
// (unknown, decided, or being decided right now).
func (p *sampler) extract(id pcommon.TraceID) (td ptrace.Traces, firstSeen time.Time, ok bool) {
	s := p.shards[p.shardOf(id)]
	out := newOutBuilder(false)
	s.mu.Lock()
	idx, found := s.index[id]
	if !found || s.entries[idx].state != statePending {
		s.mu.Unlock()
		return ptrace.Traces{}, time.Time{}, false
	}
	e := &s.entries[idx]
	for _, r := range e.refs {
		out.add(r, "")
	}
	firstSeen = p.timeOf(e.firstSeen)
	s.release(idx)
	s.mu.Unlock()
	td, _, ok = out.take()
	if !ok {
		td = ptrace.NewTraces()
	}
	return td, firstSeen, true
}

// importTrace buffers td as if its traces had first been seen at
// firstSeen, so they are decided decision_wait after that (at once if that
// has passed). Spans of traces already pending join them; spans of
// traces already decided follow the decision.
func (p *sampler) importTrace(ctx context.Context, td ptrace.Traces, firstSeen time.Time) error {
	return p.ingest(ctx, td, int64(firstSeen.Sub(p.base)))
}

// importDecision applies a decision made elsewhere: a pending trace is
// finalized with it at once, and it is remembered for later spans.
func (p *sampler) importDecision(id pcommon.TraceID, sampled bool) {
	s := p.shards[p.shardOf(id)]
	var st ingestStats
	s.mu.Lock()
	now := p.nowNanos()
	at := uint32(now / int64(time.Second))
	out := s.importOut()
	if idx, ok := s.index[id]; ok {
		switch s.entries[idx].state {
		case statePending:
			s.finalize(idx, sampled, "", out, now, &st)
		case stateDeciding:
			s.entries[idx].override = 2
			if sampled {
				s.entries[idx].override = 1
			}
		}
	} else if sampled {
		s.sampled.add(id, at)
		s.notSampled.remove(id)
	} else if _, kept := s.sampled.get(id); !kept {
		s.notSampled.add(id, at)
	}
	td, n, ok := out.take()
	s.mu.Unlock()
	if ok {
		p.fwd.enqueue(td, n)
	}
	p.recordStats(&st)
}

// importOut is a builder for spans released by an imported decision. It
// is separate from the decider's builder, which is used outside the lock.
func (s *shard) importOut() *outBuilder {
	if s.imp == nil {
		s.imp = newOutBuilder(s.p.cfg.RecordPolicy)
	}
	return s.imp
}
