package handoff

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tailgate-otel/tailgate/hashring"
)

// view is one immutable picture of the gateway set as this gateway sees
// it. Ownership questions are answered from a single view so that one
// batch is never split by two rings.
type view struct {
	ring *hashring.Ring
	eps  []string // ring.Endpoints(), sorted
	// self is this gateway's index in ring, -1 when it is not a member.
	self int
	// ownAll: answer "mine" for every trace. Set before the first set
	// arrives, after shutdown, and while this gateway's own endpoint is
	// missing from the set (DNS lag at startup): data is never forwarded
	// into the void.
	ownAll bool
}

var ownEverything = &view{self: -1, ownAll: true}

// newView builds the view of endpoints; without self in the set it owns
// everything, unless draining (the ring then deliberately excludes self).
func newView(endpoints []string, self string, draining bool) *view {
	eps := endpoints
	if draining {
		eps = slices.DeleteFunc(slices.Clone(endpoints), func(e string) bool { return e == self })
	}
	r := hashring.New(eps)
	v := &view{ring: r, eps: r.Endpoints(), self: -1}
	for i := 0; i < r.Len(); i++ {
		if r.Endpoint(i) == self {
			v.self = i
		}
	}
	v.ownAll = r.Len() == 0 || (v.self < 0 && !draining)
	return v
}

// owner returns the ring index of id's owner, or -1 for "this gateway".
func (v *view) owner(id pcommon.TraceID) int {
	if v.ownAll {
		return -1
	}
	i := v.ring.Index(id[:])
	if i < 0 || i == v.self {
		return -1
	}
	return i
}

// member reports whether ep is in the ring.
func (v *view) member(ep string) bool {
	_, ok := slices.BinarySearch(v.eps, ep)
	return ok
}

func (v *view) owns(id pcommon.TraceID) bool { return v.owner(id) < 0 }

// ownsAllOf reports whether every span of td is owned; it is the
// allocation-free fast path of routing.
func (v *view) ownsAllOf(td ptrace.Traces) bool {
	if v.ownAll {
		return true
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if !v.owns(spans.At(k).TraceID()) {
					return false
				}
			}
		}
	}
	return true
}

// split copies td's spans into one ptrace.Traces per owner (key -1: this
// gateway), keeping each span's resource and scope. td is not modified.
// Resources and scopes are copied once per owner they contribute to.
func (v *view) split(td ptrace.Traces) map[int]ptrace.Traces {
	out := make(map[int]ptrace.Traces, 2)
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		var rsOf map[int]ptrace.ResourceSpans
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			var ssOf map[int]ptrace.ScopeSpans
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				o := v.owner(span.TraceID())
				dst, ok := ssOf[o]
				if !ok {
					drs, ok := rsOf[o]
					if !ok {
						t, ok := out[o]
						if !ok {
							t = ptrace.NewTraces()
							out[o] = t
						}
						drs = t.ResourceSpans().AppendEmpty()
						rs.Resource().CopyTo(drs.Resource())
						drs.SetSchemaUrl(rs.SchemaUrl())
						if rsOf == nil {
							rsOf = make(map[int]ptrace.ResourceSpans, 2)
						}
						rsOf[o] = drs
					}
					dst = drs.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(dst.Scope())
					dst.SetSchemaUrl(ss.SchemaUrl())
					if ssOf == nil {
						ssOf = make(map[int]ptrace.ScopeSpans, 2)
					}
					ssOf[o] = dst
				}
				span.CopyTo(dst.Spans().AppendEmpty())
			}
		}
	}
	return out
}
