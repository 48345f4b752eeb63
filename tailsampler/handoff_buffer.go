package tailsampler

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/tailsampler/internal/handoff"
)

// The sampler is the handoff engine's Buffer.
var _ handoff.Buffer = (*sampler)(nil)

// takeChunk bounds how many traces a sweep of the pending traces
// (TakeNotOwned, SnapshotPending) handles per lock hold, so a scale event
// does not stall a shard's ingest for the whole sweep.
const takeChunk = 256

// eachPending calls fn, with the shard locked, for every trace that was
// pending and selected by match, and is still pending when fn is called
// (it may have been decided meanwhile): match runs over a shard under one
// lock hold, fn under one per takeChunk traces.
func (p *sampler) eachPending(match func(pcommon.TraceID) bool, fn func(s *shard, id pcommon.TraceID, idx uint32)) {
	var ids []pcommon.TraceID
	for _, s := range p.shards {
		ids = ids[:0]
		s.mu.Lock()
		for id, idx := range s.index {
			if s.entries[idx].state == statePending && match(id) {
				ids = append(ids, id)
			}
		}
		s.mu.Unlock()
		for len(ids) > 0 {
			n := min(len(ids), takeChunk)
			s.mu.Lock()
			for _, id := range ids[:n] {
				if idx, ok := s.index[id]; ok && s.entries[idx].state == statePending {
					fn(s, id, idx)
				}
			}
			s.mu.Unlock()
			ids = ids[n:]
		}
	}
}

// TakeNotOwned removes every pending trace that owns rejects and returns
// its spans and first-seen time. Traces being decided are left alone. A
// trace taken out is not decided here: no decision metric counts it; the
// engine counts it as handed off.
func (p *sampler) TakeNotOwned(owns func(pcommon.TraceID) bool) []handoff.Pending {
	var out []handoff.Pending
	b := newOutBuilder(false)
	p.eachPending(func(id pcommon.TraceID) bool { return !owns(id) }, func(s *shard, id pcommon.TraceID, idx uint32) {
		td, fs := s.extractAt(idx, b)
		out = append(out, handoff.Pending{ID: id, Spans: td, FirstSeen: fs})
	})
	return out
}

// RecentDecisions reports the decisions remembered from since on, newest
// first per shard.
func (p *sampler) RecentDecisions(since time.Time, fn func(id pcommon.TraceID, sampled bool)) {
	from := int64(since.Sub(p.base))
	for _, s := range p.shards {
		s.mu.Lock()
		if s.recent != nil {
			s.recent.each(from, fn)
		}
		s.mu.Unlock()
	}
}

// ImportTrace buffers spans handed over by a peer (or taken back after a
// failed handoff) as first seen at firstSeen; see importTrace.
func (p *sampler) ImportTrace(ctx context.Context, td ptrace.Traces, firstSeen time.Time) error {
	_, err := p.importTrace(ctx, td, firstSeen)
	return err
}

// ImportDecision applies a peer's decision; see importDecision.
func (p *sampler) ImportDecision(id pcommon.TraceID, sampled bool) {
	p.importDecision(id, sampled)
}
