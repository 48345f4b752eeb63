package handoff

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// kind says why data is being sent, for the metrics.
type kind int

const (
	kindHandoff kind = iota // undecided traces and decisions after a ring change or on drain
	kindStale               // spans received for a trace owned elsewhere
)

type peerConn struct {
	conn   *grpc.ClientConn
	client ptraceotlp.GRPCClient
}

// peer returns the connection to the peer of ring endpoint ep, dialing it
// (non-blocking) the first time.
func (e *Engine) peer(ep string) (*peerConn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.peers[ep]; ok {
		return p, nil
	}
	if e.state == stateStopped {
		return nil, ErrShutdown
	}
	cc := e.cfg.Client.ClientConfig
	cc.Endpoint = e.opts.peerAddress(ep)
	var opts []configgrpc.ToClientConnOption
	if e.dial != nil {
		opts = append(opts, configgrpc.WithGrpcDialOption(grpc.WithContextDialer(e.dial)))
	}
	conn, err := cc.ToClientConn(e.sendCtx, e.ext, e.set, opts...)
	if err != nil {
		return nil, err
	}
	p := &peerConn{conn: conn, client: ptraceotlp.NewGRPCClient(conn)}
	e.peers[ep] = p
	return p, nil
}

// closeStalePeers forgets the connections to gateways that left the set
// and closes them once the requests in flight on them had the time to
// finish (client::timeout): a gateway that left is usually still alive
// (a pod in its preStop sleep), and a request cut off after the peer took
// its data but before the answer would be sent again elsewhere, and the
// data decided twice. Called with e.mu held.
func (e *Engine) closeStalePeers(v *view) {
	var stale []*peerConn
	for ep, p := range e.peers {
		if !v.member(ep) {
			stale = append(stale, p)
			delete(e.peers, ep)
		}
	}
	if len(stale) == 0 {
		return
	}
	e.wg.Go(func() {
		t := time.NewTimer(e.cfg.Client.Timeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-e.stopping:
		}
		for _, p := range stale {
			_ = p.conn.Close()
		}
	})
}

// outcome of sending one owner's part.
type outcome struct {
	retry, rejected ptrace.Traces
}

// dispatch delivers marked data to the owners of its traces under the
// current view, retrying with backoff until deadline; each attempt
// re-reads the view, so data follows further ring changes, and what this
// gateway owns by then is imported here. What is still undelivered at the
// deadline, at shutdown, or refused for good is imported here and counted.
// It returns the number of traces imported here because of a failure.
func (e *Engine) dispatch(ctx context.Context, td ptrace.Traces, k kind, deadline time.Time) int {
	backoff := e.opts.initialBackoff
	failed := 0
	for {
		v := e.cur.Load()
		parts := v.split(td)
		if local, ok := parts[-1]; ok {
			e.importLocal(ctx, local, "")
			delete(parts, -1)
		}
		outcomes := make([]outcome, 0, len(parts))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for idx, part := range parts {
			ep := v.ring.Endpoint(idx)
			wg.Go(func() {
				o := e.sendTo(ctx, ep, part, k)
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			})
		}
		wg.Wait()
		retry := ptrace.NewTraces()
		for _, o := range outcomes {
			failed += e.importLocal(ctx, o.rejected, ReasonRejected)
			o.retry.ResourceSpans().MoveAndAppendTo(retry.ResourceSpans())
		}
		if retry.ResourceSpans().Len() == 0 {
			return failed
		}
		wait := min(backoff, maxBackoff)
		if e.isStopping() || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return failed + e.importLocal(ctx, retry, ReasonUnreachable)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-e.viewChanged():
		case <-e.stopping:
		case <-ctx.Done():
		}
		t.Stop()
		backoff *= 2
		td = retry
	}
}

func (e *Engine) isStopping() bool {
	select {
	case <-e.stopping:
		return true
	default:
		return false
	}
}

// sendTo sends part to the peer of ring endpoint ep in requests of at most
// maxRequestBytes. After the first failure that may heal, the rest is
// returned for retry without trying (the peer is likely down).
func (e *Engine) sendTo(ctx context.Context, ep string, part ptrace.Traces, k kind) outcome {
	out := outcome{retry: ptrace.NewTraces(), rejected: ptrace.NewTraces()}
	p, err := e.peer(ep)
	if err != nil {
		e.logSend.Warn("handoff: cannot connect to peer", zap.String("peer", ep), zap.Error(err))
		part.ResourceSpans().MoveAndAppendTo(out.retry.ResourceSpans())
		return out
	}
	for _, chunk := range chunks(part, e.chunkLimits) {
		if out.retry.ResourceSpans().Len() > 0 {
			chunk.ResourceSpans().MoveAndAppendTo(out.retry.ResourceSpans())
			continue
		}
		t := tally(chunk)
		rctx, cancel := context.WithTimeout(ctx, e.cfg.Client.Timeout)
		resp, err := p.client.Export(rctx, ptraceotlp.NewExportRequestFromTraces(chunk))
		cancel()
		switch {
		case err == nil:
			if ps := resp.PartialSuccess(); ps.RejectedSpans() > 0 {
				// The peer counted and logged them as dropped; they cannot
				// be identified to retry.
				e.logSend.Warn("handoff: peer dropped part of the data",
					zap.String("peer", ep), zap.Int64("spans", ps.RejectedSpans()), zap.String("message", ps.ErrorMessage()))
			}
			e.countSent(t, k)
		case permanent(err):
			e.logSend.Warn("handoff: peer refused data, deciding it here", zap.String("peer", ep), zap.Error(err))
			chunk.ResourceSpans().MoveAndAppendTo(out.rejected.ResourceSpans())
		default:
			e.logSend.Warn("handoff: peer unreachable, will retry within the window", zap.String("peer", ep), zap.Error(err))
			chunk.ResourceSpans().MoveAndAppendTo(out.retry.ResourceSpans())
		}
	}
	return out
}

func (e *Engine) countSent(t counts, k kind) {
	switch k {
	case kindHandoff:
		add(e.m.tracesSent, t.traces)
		add(e.m.spansSent, t.spans)
	case kindStale:
		add(e.m.spansForwarded, t.spans)
	}
	add(e.m.decisionsSent, t.decisions)
}

// permanent reports errors that another attempt cannot fix.
func permanent(err error) bool {
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.Unauthenticated, codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented,
		codes.ResourceExhausted, codes.DataLoss:
		return true
	}
	return false
}

// importLocal gives marked data back to the Buffer: its traces are decided
// here. reason, when set, counts them as failures; decisions in it are
// then counted as undelivered. It returns the number of traces.
func (e *Engine) importLocal(ctx context.Context, td ptrace.Traces, reason string) int {
	if td.ResourceSpans().Len() == 0 {
		return 0
	}
	d := decode(td, time.Now())
	traces := 0
	for _, g := range d.groups {
		t := tally(g.td)
		traces += t.traces
		if err := e.importGroup(context.WithoutCancel(ctx), g.td, g.firstSeen); err != nil {
			add(e.m.spansDropped, t.spans)
			e.logImport.Warn("handoff: buffer refused spans, they are lost", zap.Int("spans", t.spans), zap.Error(err))
		}
	}
	if reason == "" {
		for _, dc := range d.decisions {
			e.buf.ImportDecision(dc.id, dc.sampled)
		}
		return 0
	}
	add(e.m.decisionsUndelivered, len(d.decisions))
	switch reason {
	case ReasonRejected:
		add(e.m.failures, traces, e.m.attrsRejected)
	default:
		add(e.m.failures, traces, e.m.attrsUnreachable)
	}
	return traces
}
