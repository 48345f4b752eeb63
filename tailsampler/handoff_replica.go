package tailsampler

import (
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/internal/handoff"
)

// The sampler is the Buffer replication (handoff::replicate) needs.
var _ handoff.ReplicaBuffer = (*sampler)(nil)

// SnapshotPending copies every pending trace match selects, with its
// first-seen time; the traces stay buffered. Used to replicate them again
// when their successor changed (ring change, successor restarted).
func (p *sampler) SnapshotPending(match func(pcommon.TraceID) bool) []handoff.Pending {
	var out []handoff.Pending
	b := newOutBuilder(false)
	b.copyAll = true
	p.eachPending(match, func(s *shard, id pcommon.TraceID, idx uint32) {
		e := &s.entries[idx]
		for _, r := range e.refs {
			b.add(r, "")
		}
		if td, _, ok := b.take(); ok {
			out = append(out, handoff.Pending{ID: id, Spans: td, FirstSeen: p.timeOf(e.firstSeen)})
		}
	})
	return out
}

// RememberDecision records a peer's decision in the decision caches only:
// a successor learns its owner's decisions, so that late spans follow
// them if it becomes the trace's owner.
func (p *sampler) RememberDecision(id pcommon.TraceID, sampled bool) {
	s := p.shards[p.shardOf(id)]
	s.mu.Lock()
	s.remember(id, sampled, uint32(p.nowNanos()/int64(time.Second)))
	s.mu.Unlock()
}

// TraceState says what this gateway knows of id: buffered (or being
// decided), decided kept or dropped (here or remembered), or nothing.
func (p *sampler) TraceState(id pcommon.TraceID) handoff.TraceState {
	s := p.shards[p.shardOf(id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx, ok := s.index[id]; ok && s.entries[idx].state != stateFree {
		return handoff.TracePending
	}
	if _, ok := s.sampled.get(id); ok {
		return handoff.TraceKept
	}
	if _, _, ok := s.notSampled.get(id); ok {
		return handoff.TraceDropped
	}
	return handoff.TraceUnknown
}

// ExportKept forwards the spans of traces kept by a peer that crashed
// before it could export them, and remembers them as kept.
func (p *sampler) ExportKept(_ context.Context, td ptrace.Traces) error {
	if p.stopped.Load() {
		return ErrStopped
	}
	for _, id := range traceIDsOf(td) {
		p.RememberDecision(id, true)
	}
	p.fwd.enqueue(td, td.SpanCount())
	return nil
}

// ImportTraceDedup is ImportTrace returning how many spans were already
// buffered (see importTrace).
func (p *sampler) ImportTraceDedup(ctx context.Context, td ptrace.Traces, firstSeen time.Time) (int, error) {
	return p.importTrace(ctx, td, firstSeen)
}

// KeepDecidedElsewhere keeps a trace its previous owner decided to keep
// after this gateway had promoted its replica: the previous owner exported
// the spans it had (had), so only the others are forwarded from here.
func (p *sampler) KeepDecidedElsewhere(id pcommon.TraceID, had func(pcommon.SpanID) bool) bool {
	s := p.shards[p.shardOf(id)]
	var st ingestStats
	s.mu.Lock()
	now := p.nowNanos()
	idx, ok := s.index[id]
	pending := ok && s.entries[idx].state == statePending
	out := s.importOut()
	switch {
	case pending:
		e := &s.entries[idx]
		e.refs = slices.DeleteFunc(e.refs, func(r spanRef) bool { return had(r.span().SpanID()) })
		s.finalize(idx, true, "", out, now, &st)
	case ok:
		// Being decided right now: kept whole.
		s.entries[idx].override = overrideKeep
	default:
		s.remember(id, true, uint32(now/int64(time.Second)))
	}
	td, n, some := out.take()
	s.mu.Unlock()
	if some {
		p.fwd.enqueue(td, n)
	}
	p.recordStats(&st)
	return pending
}
