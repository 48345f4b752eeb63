package handoff

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults of the per-request limits (handoff::max_spans_per_request,
// handoff::max_traces_per_request). A sender splits what it sends so that
// no request goes over them.
const (
	DefaultMaxSpansPerRequest  = 65536
	DefaultMaxTracesPerRequest = 16384
)

// Reasons a request from a peer is refused: the `reason` attribute of
// otelcol_processor_tail_sampling_handoff_refused.
const (
	// RefusedMalformed: a ResourceSpans with missing or invalid markers.
	RefusedMalformed = "malformed"
	// RefusedTooManySpans: more spans (data and decisions) than
	// max_spans_per_request.
	RefusedTooManySpans = "too_many_spans"
	// RefusedTooManyTraces: more distinct traces (data and decisions) than
	// max_traces_per_request.
	RefusedTooManyTraces = "too_many_traces"
	// RefusedTooLarge: a message larger than listen::max_recv_msg_size_mib
	// (refused by gRPC before it is decoded).
	RefusedTooLarge = "too_large"
	// RefusedNotPeer: the sender's address is not a gateway of this
	// gateway's view of the set (nor one that left it recently).
	RefusedNotPeer = "not_peer"
	// RefusedUnauthenticated: the listener's auth extension refused the
	// request.
	RefusedUnauthenticated = "unauthenticated"
	// RefusedTLS: the TLS handshake failed (e.g. no client certificate
	// signed by listen::tls::client_ca_file).
	RefusedTLS = "tls_handshake"
)

// requestLimits bounds one received request; zero fields are unlimited
// (the engine's own data, imported back after a failed send).
type requestLimits struct {
	spans, traces int
}

// refusal says why a request is refused; the zero value accepts it.
type refusal struct {
	reason    string
	malformed int // ResourceSpans with bad markers
	limit     int // the limit passed, for too_many_*
}

func (r refusal) refused() bool { return r.reason != "" }

// status is the gRPC answer to the sender. Malformed data and limits are
// permanent (the sender decides the data itself); see permanent.
func (r refusal) status() error {
	switch r.reason {
	case RefusedMalformed:
		return status.Error(codes.InvalidArgument,
			fmt.Sprintf("handoff: %d resource spans with missing or invalid %s markers", r.malformed, markerPrefix))
	case RefusedTooManySpans:
		return status.Error(codes.ResourceExhausted,
			fmt.Sprintf("handoff: more than %d spans in one request", r.limit))
	case RefusedTooManyTraces:
		return status.Error(codes.ResourceExhausted,
			fmt.Sprintf("handoff: more than %d traces in one request", r.limit))
	}
	return status.Error(codes.Internal, "handoff: refused: "+r.reason)
}

// fields describe the refusal in a log line.
func (r refusal) fields() []zap.Field {
	if r.malformed > 0 {
		return []zap.Field{zap.Int("malformed_resource_spans", r.malformed)}
	}
	if r.limit > 0 {
		return []zap.Field{zap.Int("limit", r.limit)}
	}
	return nil
}

// markerPrefix is the prefix of every marker attribute.
const markerPrefix = "tailgate.handoff."

// inspect validates the markers of every ResourceSpans of td and checks
// lim, without modifying td. It runs in one pass, linear in the spans of
// td; the set of distinct trace IDs it keeps is bounded by lim.traces.
// Malformed data is reported first, then the span limit, then the trace
// limit.
//
// A ResourceSpans is well-formed when it carries AttrHop (int in
// 1..maxHopLimit) and either AttrFirstSeen (int > 0: data) or AttrDecision
// (a known value, and every span names a trace: decisions).
func inspect(td ptrace.Traces, lim requestLimits) refusal {
	var (
		r         refusal
		spanCount int
		seen      map[pcommon.TraceID]struct{}
		overTrace bool
	)
	if lim.traces > 0 {
		seen = make(map[pcommon.TraceID]struct{}, min(lim.traces+1, 1024))
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		_, ok := readHop(attrs)
		isDecision := false
		if v, has := attrs.Get(AttrDecision); has {
			isDecision = true
			if _, valid := parseDecision(v); !valid {
				ok = false
			}
		} else if _, valid := readFirstSeen(attrs); !valid {
			ok = false
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			spanCount += spans.Len()
			for k := 0; k < spans.Len(); k++ {
				id := spans.At(k).TraceID()
				if isDecision && id.IsEmpty() {
					ok = false
				}
				if seen != nil && !overTrace {
					seen[id] = struct{}{}
					overTrace = len(seen) > lim.traces
				}
			}
		}
		if !ok {
			r.malformed++
		}
	}
	switch {
	case r.malformed > 0:
		r.reason = RefusedMalformed
	case lim.spans > 0 && spanCount > lim.spans:
		r.reason, r.limit = RefusedTooManySpans, lim.spans
	case overTrace:
		r.reason, r.limit = RefusedTooManyTraces, lim.traces
	}
	return r
}
