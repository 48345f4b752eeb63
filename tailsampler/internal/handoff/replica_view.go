package handoff

import "go.opentelemetry.io/collector/pdata/pcommon"

// A trace's successor is its second ring choice (hashring AppendChoices):
// the gateway that owns it in the ring without its owner. It holds the
// trace's shadow, and becomes its owner when the owner leaves, with no
// data to move.

// choices returns id's first two ring choices (-1 when missing).
func (v *view) choices(id pcommon.TraceID) (first, second int) {
	if v.ring == nil {
		return -1, -1
	}
	var buf [2]int
	c := v.ring.AppendChoices(buf[:0], id[:], 2)
	first, second = -1, -1
	if len(c) > 0 {
		first = c[0]
	}
	if len(c) > 1 {
		second = c[1]
	}
	return first, second
}

// successorOf is the ring index of the gateway that holds id's shadow for
// this gateway: its first choice that is not this gateway (in a draining
// view, which leaves this gateway out, its first choice). -1 when there
// is none: no set, or no other gateway.
func (v *view) successorOf(id pcommon.TraceID) int {
	if v.ownAll {
		return -1
	}
	first, second := v.choices(id)
	if first != v.self {
		return first
	}
	return second
}

// replicaTarget is where this gateway replicates spans of id: its
// successor when this gateway owns id, else -1.
func (v *view) replicaTarget(id pcommon.TraceID) int {
	if v.ownAll || v.ring == nil {
		return -1
	}
	if v.ring.Len() == 2 {
		// The other one: a table read instead of ranking both.
		if v.ring.Index(id[:]) != v.self {
			return -1
		}
		return 1 - v.self
	}
	first, second := v.choices(id)
	if first != v.self || first < 0 {
		return -1
	}
	return second
}

// holdsShadow reports whether this gateway is id's owner or successor
// under v; with no set (or not a member yet) it keeps what it holds.
func (v *view) holdsShadow(id pcommon.TraceID) bool {
	if v.ownAll || v.self < 0 {
		return true
	}
	first, second := v.choices(id)
	return first == v.self || second == v.self
}

// successorEndpoint is successorOf as an endpoint ("" for none), to
// compare views.
func (v *view) successorEndpoint(id pcommon.TraceID) string {
	if i := v.successorOf(id); i >= 0 {
		return v.ring.Endpoint(i)
	}
	return ""
}
