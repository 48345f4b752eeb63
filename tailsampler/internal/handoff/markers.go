package handoff

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Marker attributes set on the Resource of every ResourceSpans a gateway
// sends to a peer. They are removed before the data reaches the Buffer, so
// they never reach a backend.
const (
	// AttrHop counts how many gateways forwarded the spans (int, >= 1).
	AttrHop = "tailgate.handoff.hop"
	// AttrFirstSeen is when the sending gateway first saw the trace (int,
	// Unix nanoseconds); the receiver decides on the original schedule.
	AttrFirstSeen = "tailgate.handoff.first_seen_unix_nano"
	// AttrDecision marks a ResourceSpans that carries decisions, not data:
	// every span in it only names a trace (trace ID set, nothing else)
	// whose decision is the attribute's value.
	AttrDecision = "tailgate.handoff.decision"
)

// Values of AttrDecision.
const (
	DecisionSampled    = "sampled"
	DecisionNotSampled = "not_sampled"
)

// decisionScope names the scope of decision ResourceSpans, so a debug
// exporter dump says what they are.
const decisionScope = "tailgate.handoff"

// mark sets the data markers on every ResourceSpans of td.
func mark(td ptrace.Traces, hop int, firstSeen time.Time) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		attrs := rss.At(i).Resource().Attributes()
		attrs.PutInt(AttrHop, int64(hop))
		attrs.PutInt(AttrFirstSeen, firstSeen.UnixNano())
	}
}

// appendDecisions appends one ResourceSpans per decision value to td.
func appendDecisions(td ptrace.Traces, hop int, sampled, notSampled []pcommon.TraceID) {
	for _, d := range []struct {
		value string
		ids   []pcommon.TraceID
	}{{DecisionSampled, sampled}, {DecisionNotSampled, notSampled}} {
		if len(d.ids) == 0 {
			continue
		}
		rs := td.ResourceSpans().AppendEmpty()
		attrs := rs.Resource().Attributes()
		attrs.PutInt(AttrHop, int64(hop))
		attrs.PutStr(AttrDecision, d.value)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(decisionScope)
		spans := ss.Spans()
		spans.EnsureCapacity(len(d.ids))
		for _, id := range d.ids {
			spans.AppendEmpty().SetTraceID(id)
		}
	}
}

// group is the data of one or more ResourceSpans that share their markers.
type group struct {
	hop       int
	firstSeen time.Time
	td        ptrace.Traces
}

// decision is one trace's decision received from a peer.
type decision struct {
	id      pcommon.TraceID
	sampled bool
}

// decoded is what a marked ptrace.Traces carries.
type decoded struct {
	groups    []group
	decisions []decision
	// malformed counts ResourceSpans whose markers were missing or invalid;
	// their data is still in groups, with hop = unknownHop (never
	// forwarded again) and firstSeen = now.
	malformed int
}

// unknownHop is the hop given to data whose hop marker is missing or
// invalid: larger than any hop_limit, so it is kept where it arrived.
const unknownHop = maxHopLimit + 1

// decode consumes td (its ResourceSpans are moved out) and returns its
// groups with markers removed, one group per distinct (hop, first-seen),
// and its decisions. now bounds first-seen times from the future and
// replaces missing ones. It never panics on any input.
func decode(td ptrace.Traces, now time.Time) decoded {
	var out decoded
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		hop, hopOK := readHop(attrs)
		bad := !hopOK
		if v, ok := attrs.Get(AttrDecision); ok {
			if sampled, valid := parseDecision(v); valid {
				// Decisions are never forwarded again: a bad hop only
				// says the sender is not well-formed.
				var emptyIDs bool
				out.decisions, emptyIDs = appendDecisionSpans(out.decisions, rs, sampled)
				if bad || emptyIDs {
					out.malformed++
				}
				continue
			}
			// Not a decision we understand: keep what it carries as data
			// rather than drop spans that may be real.
			attrs.Remove(AttrDecision)
			bad = true
		}
		firstSeen, fsOK := readFirstSeen(attrs, now)
		attrs.Remove(AttrHop)
		attrs.Remove(AttrFirstSeen)
		if !fsOK {
			bad = true
		}
		if bad {
			out.malformed++
			// Whatever it is, it is kept where it arrived.
			hop = unknownHop
		}
		g := out.groupFor(hop, firstSeen)
		rs.MoveTo(g.td.ResourceSpans().AppendEmpty())
	}
	return out
}

func (d *decoded) groupFor(hop int, firstSeen time.Time) *group {
	for i := range d.groups {
		if g := &d.groups[i]; g.hop == hop && g.firstSeen.Equal(firstSeen) {
			return g
		}
	}
	d.groups = append(d.groups, group{hop: hop, firstSeen: firstSeen, td: ptrace.NewTraces()})
	return &d.groups[len(d.groups)-1]
}

func readHop(attrs pcommon.Map) (int, bool) {
	v, ok := attrs.Get(AttrHop)
	if !ok || v.Type() != pcommon.ValueTypeInt {
		return 0, false
	}
	h := v.Int()
	if h < 1 || h > maxHopLimit {
		return 0, false
	}
	return int(h), true
}

func readFirstSeen(attrs pcommon.Map, now time.Time) (time.Time, bool) {
	v, ok := attrs.Get(AttrFirstSeen)
	if !ok || v.Type() != pcommon.ValueTypeInt || v.Int() <= 0 {
		return now, false
	}
	t := time.Unix(0, v.Int())
	if t.After(now) {
		// A peer's clock ahead of ours would postpone the decision; the
		// trace cannot have been seen later than now.
		return now, true
	}
	return t, true
}

func parseDecision(v pcommon.Value) (sampled, ok bool) {
	if v.Type() != pcommon.ValueTypeStr {
		return false, false
	}
	switch v.Str() {
	case DecisionSampled:
		return true, true
	case DecisionNotSampled:
		return false, true
	}
	return false, false
}

// appendDecisionSpans appends the decisions named by rs's spans; empty
// reports spans without a trace ID (skipped).
func appendDecisionSpans(dst []decision, rs ptrace.ResourceSpans, sampled bool) (_ []decision, empty bool) {
	sss := rs.ScopeSpans()
	for i := 0; i < sss.Len(); i++ {
		spans := sss.At(i).Spans()
		for j := 0; j < spans.Len(); j++ {
			id := spans.At(j).TraceID()
			if id.IsEmpty() {
				empty = true
				continue
			}
			dst = append(dst, decision{id: id, sampled: sampled})
		}
	}
	return dst, empty
}
