package tailsampler

import (
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// policyAttribute is upstream's span attribute naming the policy that
// sampled a trace; written only when record_policy is on.
const policyAttribute = "tailsampling.policy"

// outBuilder assembles the sampled spans of many decided traces into one
// outgoing batch. Spans are copied (the held input is shared and must not
// change); the Resource and Scope of a source (batch, resource, scope) are
// copied once per outgoing batch however many traces use them.
type outBuilder struct {
	td     ptrace.Traces
	spans  int
	rsOut  map[rsKey]ptrace.ResourceSpans
	ssOut  map[ssKey]ptrace.SpanSlice
	record bool
}

type rsKey struct {
	b  *heldBatch
	rs uint32
}

type ssKey struct {
	b      *heldBatch
	rs, ss uint32
}

func newOutBuilder(record bool) *outBuilder {
	return &outBuilder{
		td:     ptrace.NewTraces(),
		rsOut:  make(map[rsKey]ptrace.ResourceSpans),
		ssOut:  make(map[ssKey]ptrace.SpanSlice),
		record: record,
	}
}

func (o *outBuilder) add(r spanRef, policy string) {
	sk := ssKey{r.b, r.rs, r.ss}
	spans, ok := o.ssOut[sk]
	if !ok {
		rk := rsKey{r.b, r.rs}
		src := r.resource()
		rs, ok := o.rsOut[rk]
		if !ok {
			rs = o.td.ResourceSpans().AppendEmpty()
			src.Resource().CopyTo(rs.Resource())
			rs.SetSchemaUrl(src.SchemaUrl())
			o.rsOut[rk] = rs
		}
		srcSS := src.ScopeSpans().At(int(r.ss))
		ss := rs.ScopeSpans().AppendEmpty()
		srcSS.Scope().CopyTo(ss.Scope())
		ss.SetSchemaUrl(srcSS.SchemaUrl())
		spans = ss.Spans()
		o.ssOut[sk] = spans
	}
	dst := spans.AppendEmpty()
	r.span().CopyTo(dst)
	if o.record && policy != "" {
		dst.Attributes().PutStr(policyAttribute, policy)
	}
	o.spans++
}

// take returns the batch built so far (ok false when empty) and starts a
// new one.
func (o *outBuilder) take() (ptrace.Traces, int, bool) {
	if o.spans == 0 {
		return ptrace.Traces{}, 0, false
	}
	td, n := o.td, o.spans
	o.td = ptrace.NewTraces()
	o.spans = 0
	clear(o.rsOut)
	clear(o.ssOut)
	return td, n, true
}
