package handoff

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// handler serves the handoff listener: plain OTLP/gRPC trace export whose
// ResourceSpans carry the handoff markers.
type handler struct {
	ptraceotlp.UnimplementedGRPCServer
	e *Engine
}

// Export imports what a peer sends. A request from a sender accept_from
// does not admit, or that is malformed or over the limits, is refused
// whole, before anything of it is applied.
// Decisions are applied first (they are idempotent). Data whose hop is below hop_limit and that this gateway
// does not own is forwarded once more; everything else is buffered here.
// If the Buffer refuses data before anything was buffered or forwarded,
// the request fails as Unavailable so that the sender retries (or decides
// it itself); a later refusal cannot be retried without duplicating what was
// already buffered, so it is counted as dropped and reported as a partial
// success.
func (h *handler) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	e := h.e
	resp := ptraceotlp.NewExportResponse()
	markHandled(ctx)
	if err := e.admit(ctx); err != nil {
		return resp, err
	}
	td := req.Traces()
	if r := inspect(td, e.cfg.limits()); r.refused() {
		add(e.m.malformed, r.malformed)
		e.refuse(ctx, r.reason, r.fields()...)
		return resp, r.status()
	}
	d := decode(td, time.Now())
	for _, dc := range d.decisions {
		e.buf.ImportDecision(dc.id, dc.sampled)
	}
	add(e.m.decisionsReceived, len(d.decisions))
	rejected, done := 0, false
	for _, g := range d.groups {
		td := g.td
		if g.hop < e.cfg.HopLimit {
			var forwarded bool
			td, forwarded = h.forwardNotOwned(g)
			done = done || forwarded
		}
		t := tally(td)
		if t.spans == 0 {
			continue
		}
		if err := e.importGroup(ctx, td, g.firstSeen); err != nil {
			if !done {
				return resp, status.Error(codes.Unavailable, fmt.Sprintf("handoff: buffer refused the data: %v", err))
			}
			rejected += t.spans
			add(e.m.spansDropped, t.spans)
			e.logImport.Warn("handoff: buffer refused spans from a peer, they are lost", zap.Int("spans", t.spans), zap.Error(err))
			continue
		}
		done = true
		add(e.m.tracesReceived, t.traces)
		add(e.m.spansReceived, t.spans)
	}
	if rejected > 0 {
		resp.PartialSuccess().SetRejectedSpans(int64(rejected))
		resp.PartialSuccess().SetErrorMessage("handoff: buffer refused part of the data")
	}
	return resp, nil
}

// forwardNotOwned queues the spans of g that another gateway owns under
// this gateway's view, one hop further, and returns the rest. If the queue
// is full, everything is kept.
func (h *handler) forwardNotOwned(g group) (_ ptrace.Traces, forwarded bool) {
	e := h.e
	v := e.cur.Load()
	if v.ownsAllOf(g.td) {
		return g.td, false
	}
	parts := v.split(g.td)
	kept, ok := parts[-1]
	if !ok {
		kept = ptrace.NewTraces()
	}
	delete(parts, -1)
	fwd := ptrace.NewTraces()
	for _, p := range parts {
		mark(p, g.hop+1, g.firstSeen)
		p.ResourceSpans().MoveAndAppendTo(fwd.ResourceSpans())
	}
	if !e.enqueue(fwd) {
		add(e.m.failures, tally(fwd).traces, e.m.attrsQueueFull)
		return g.td, false
	}
	return kept, true
}
