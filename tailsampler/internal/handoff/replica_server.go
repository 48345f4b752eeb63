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
// It answers with this process's incarnation. Like the OTLP handler, it
// refuses a sender accept_from does not admit, and a request that is
// malformed or over max_spans_per_request / max_traces_per_request (its
// spans, decisions and questions), whole, before anything of it is
// applied.
func (r *replicator) push(ctx context.Context, raw []byte) (*[]byte, error) {
	e := r.e
	markHandled(ctx)
	if err := e.admit(ctx); err != nil {
		return nil, err
	}
	req, err := decodeRequest(raw)
	if err != nil || req.from == "" {
		return nil, r.refuseMalformed(ctx, err)
	}
	// Index every shadow group first: a malformed one refuses the request.
	layouts := make([]*layout, len(req.shadow))
	defer func() {
		for _, l := range layouts {
			if l != nil {
				r.layouts.Put(l)
			}
		}
	}()
	n := len(req.sampled) + len(req.notSampled) + len(req.ask)
	for i, g := range req.shadow {
		l := r.layouts.Get().(*layout)
		layouts[i] = l
		bad, err := l.scan(g.traces, g.ids)
		if err != nil {
			return nil, r.refuseMalformed(ctx, err)
		}
		if bad > 0 {
			r.logFail.Warn("handoff: replica spans without a valid trace ID; they are not held",
				zap.String("peer", req.from), zap.Int("spans", bad))
		}
		n += len(l.spans) + bad
	}
	if ref := r.overLimits(&req, layouts, n); ref.refused() {
		e.refuse(ctx, ref.reason, ref.fields()...)
		return nil, ref.status()
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
	if req.from == e.cfg.self {
		return &out, nil
	}
	owner := r.observe(req.from, req.incarnation)
	now := time.Now().UnixNano()
	for i, g := range req.shadow {
		l := layouts[i]
		m := &encoded{buf: g.traces, hdr: slices.Clone(l.hdr), rss: slices.Clone(l.rss), sss: slices.Clone(l.sss)}
		_, n := r.store.add(owner, m, l.spans, g.firstSeen, now, r.t)
		add(r.m.spansReceived, n)
	}
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

// refuseMalformed counts and logs a malformed replica request and returns
// the answer to its sender.
func (r *replicator) refuseMalformed(ctx context.Context, err error) error {
	fields := []zap.Field{zap.String("rpc", replicaMethod)}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	r.e.refuse(ctx, RefusedMalformed, fields...)
	return status.Error(codes.InvalidArgument, "handoff: malformed replica request")
}

// overLimits applies max_spans_per_request and max_traces_per_request to
// a replica request of n spans and trace IDs; distinct traces are only
// counted when n is over the trace limit.
func (r *replicator) overLimits(req *request, layouts []*layout, n int) refusal {
	lim := r.e.cfg.limits()
	if lim.spans > 0 && n > lim.spans {
		return refusal{reason: RefusedTooManySpans, limit: lim.spans}
	}
	if lim.traces <= 0 || n <= lim.traces {
		return refusal{}
	}
	seen := make(map[pcommon.TraceID]struct{}, lim.traces+1)
	for _, ids := range [][]pcommon.TraceID{req.sampled, req.notSampled, req.ask} {
		for _, id := range ids {
			seen[id] = struct{}{}
		}
	}
	for _, l := range layouts {
		for _, sp := range l.spans {
			seen[sp.id] = struct{}{}
		}
	}
	if len(seen) > lim.traces {
		return refusal{reason: RefusedTooManyTraces, limit: lim.traces}
	}
	return refusal{}
}
