package handoff

import (
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callRaw makes a call use the replica codec.
var callRaw = grpc.CallContentSubtype(replicaCodec)

// replicaService is what the handoff listener serves for replication.
type replicaService interface {
	push(ctx context.Context, raw []byte) (*[]byte, error)
}

var replicaServiceDesc = grpc.ServiceDesc{
	ServiceName: "tailgate.handoff.v1.Replica",
	HandlerType: (*replicaService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Push",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			var in []byte
			if err := dec(&in); err != nil {
				return nil, err
			}
			h := srv.(replicaService)
			if interceptor == nil {
				return h.push(ctx, in)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: replicaMethod}
			return interceptor(ctx, &in, info, func(ctx context.Context, req any) (any, error) {
				return h.push(ctx, *req.(*[]byte))
			})
		},
	}},
	Metadata: "tailgate/handoff/replica",
}

var _ replicaService = (*replicator)(nil)

// push takes what a peer sends: shadows first (a trace replicated and
// decided within one request is then freed), then decisions, then a bye.
// It answers with this process's incarnation.
func (r *replicator) push(_ context.Context, raw []byte) (*[]byte, error) {
	req, err := decodeRequest(raw)
	if err != nil || req.from == "" {
		r.logFail.Warn("handoff: malformed replica request", zap.Error(err))
		return nil, status.Error(codes.InvalidArgument, "handoff: malformed replica request")
	}
	resp := response{incarnation: r.inc}
	for _, id := range req.ask {
		switch r.buf.TraceState(id) {
		case TracePending:
			resp.pending = append(resp.pending, id)
		case TraceKept:
			resp.sampled = append(resp.sampled, id)
		case TraceDropped:
			resp.notSampled = append(resp.notSampled, id)
		}
	}
	out := encodeResponse(&resp)
	if req.from == r.e.cfg.self {
		return &out, nil
	}
	owner := r.observe(req.from, req.incarnation)
	now := time.Now().UnixNano()
	l := r.layouts.Get().(*layout)
	for _, g := range req.shadow {
		bad, err := l.scan(g.traces, g.ids)
		if bad > 0 || err != nil {
			r.logFail.Warn("handoff: replica spans without a valid trace ID or malformed; they are not held",
				zap.String("peer", req.from), zap.Int("spans", bad), zap.Error(err))
		}
		if err != nil {
			continue
		}
		m := &encoded{buf: g.traces, hdr: slices.Clone(l.hdr), rss: slices.Clone(l.rss), sss: slices.Clone(l.sss)}
		_, n := r.store.add(owner, m, l.spans, g.firstSeen, now, r.t)
		add(r.m.spansReceived, n)
	}
	r.layouts.Put(l)
	graceful := owner.graceful.Load() || req.bye
	for _, d := range []struct {
		ids  []pcommon.TraceID
		keep bool
	}{{req.sampled, true}, {req.notSampled, false}} {
		for _, id := range d.ids {
			if d.keep && r.ownerKept(owner, id) {
				continue
			}
			r.buf.RememberDecision(id, d.keep)
		}
		freed := r.store.decide(d.ids, d.keep, graceful, now, r.t)
		opt := r.m.freedDropped
		if d.keep {
			opt = r.m.freedKept
		}
		add(r.m.freed, freed, opt)
	}
	if req.bye {
		owner.graceful.Store(true)
		// It hands its undecided traces off itself, and what it kept is
		// exported by its graceful shutdown.
		gone := r.store.remove(func(s *shadow) bool { return s.owner == owner })
		add(r.m.freed, len(gone), r.m.freedBye)
	}
	return &out, nil
}
