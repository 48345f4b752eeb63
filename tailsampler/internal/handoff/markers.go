package handoff

import (
	"slices"
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

// decisionsPerResource bounds the decisions of one ResourceSpans, so that
// a sender can split many decisions into requests that stay within the
// receiver's limits (requests are split between ResourceSpans).
const decisionsPerResource = 1024

// appendDecisions appends the decisions to td, in ResourceSpans of at most
// decisionsPerResource decisions of one value each.
func appendDecisions(td ptrace.Traces, hop int, sampled, notSampled []pcommon.TraceID) {
	for _, d := range []struct {
		value string
		ids   []pcommon.TraceID
	}{{DecisionSampled, sampled}, {DecisionNotSampled, notSampled}} {
		for ids := range slices.Chunk(d.ids, decisionsPerResource) {
			rs := td.ResourceSpans().AppendEmpty()
			attrs := rs.Resource().Attributes()
			attrs.PutInt(AttrHop, int64(hop))
			attrs.PutStr(AttrDecision, d.value)
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(decisionScope)
			spans := ss.Spans()
			spans.EnsureCapacity(len(ids))
			for _, id := range ids {
				spans.AppendEmpty().SetTraceID(id)
			}
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
}

// groupKey identifies a group: data is kept together only when both
// markers are equal.
type groupKey struct {
	hop       int
	firstSeen int64
}

// decode consumes td (its ResourceSpans are moved out) and returns its
// groups with markers removed, one group per distinct (hop, first-seen),
// and its decisions. It runs in time linear in the number of spans and
// ResourceSpans of td, whatever the number of distinct first-seen times.
// now bounds first-seen times from the future. td must have passed
// inspect: decode does not validate again, and skips what it cannot read.
func decode(td ptrace.Traces, now time.Time) decoded {
	var out decoded
	index := map[groupKey]int{}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		hop, _ := readHop(attrs)
		if v, ok := attrs.Get(AttrDecision); ok {
			sampled, _ := parseDecision(v)
			out.decisions = appendDecisionSpans(out.decisions, rs, sampled)
			continue
		}
		firstSeen, _ := readFirstSeen(attrs)
		if firstSeen.After(now) {
			// A peer's clock ahead of ours would postpone the decision;
			// the trace cannot have been seen later than now.
			firstSeen = now
		}
		attrs.Remove(AttrHop)
		attrs.Remove(AttrFirstSeen)
		k := groupKey{hop: hop, firstSeen: firstSeen.UnixNano()}
		gi, ok := index[k]
		if !ok {
			gi = len(out.groups)
			index[k] = gi
			out.groups = append(out.groups, group{hop: hop, firstSeen: firstSeen, td: ptrace.NewTraces()})
		}
		rs.MoveTo(out.groups[gi].td.ResourceSpans().AppendEmpty())
	}
	return out
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

// readFirstSeen returns AttrFirstSeen; ok is false when it is missing,
// not an int or not positive.
func readFirstSeen(attrs pcommon.Map) (time.Time, bool) {
	v, ok := attrs.Get(AttrFirstSeen)
	if !ok || v.Type() != pcommon.ValueTypeInt || v.Int() <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, v.Int()), true
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

// appendDecisionSpans appends the decisions named by rs's spans, skipping
// spans without a trace ID.
func appendDecisionSpans(dst []decision, rs ptrace.ResourceSpans, sampled bool) []decision {
	sss := rs.ScopeSpans()
	for i := 0; i < sss.Len(); i++ {
		spans := sss.At(i).Spans()
		for j := 0; j < spans.Len(); j++ {
			if id := spans.At(j).TraceID(); !id.IsEmpty() {
				dst = append(dst, decision{id: id, sampled: sampled})
			}
		}
	}
	return dst
}
