package tailsampler

import (
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// policyAttribute is upstream's span attribute naming the policy that
// sampled a trace; written only when record_policy is on.
const policyAttribute = "tailsampling.policy"

// outBuilder assembles the sampled spans of many decided traces into one
// outgoing batch. Spans of owned input are moved, those of shared
// (read-only) input copied; sources with equal Resource and Scope share
// one copy of them per outgoing batch however many traces use them.
type outBuilder struct {
	td    ptrace.Traces
	spans int
	// copyAll copies even spans of owned input: a snapshot, whose
	// traces stay buffered.
	copyAll bool
	rsOut   map[rsKey]ptrace.ResourceSpans
	ssOut   map[ssKey]ptrace.SpanSlice
	record  bool
	// outgoing resources by content (see output_group.go)
	rsByHash map[uint64]int32
	groups   []resourceGroup
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

		rsByHash: make(map[uint64]int32),
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
			rs = o.resourceFor(src)
			o.rsOut[rk] = rs
		}
		spans = o.scopeFor(rs, src.ScopeSpans().At(int(r.ss)))
		o.ssOut[sk] = spans
	}
	dst := spans.AppendEmpty()
	if r.b.owned && !o.copyAll {
		// Only this trace refers to this span, and the trace is being
		// released: moving it leaves an empty span behind that nothing
		// reads, and saves copying every attribute.
		r.span().MoveTo(dst)
	} else {
		r.span().CopyTo(dst)
	}
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
	clear(o.rsByHash)
	clear(o.groups)
	o.groups = o.groups[:0]
	return td, n, true
}
