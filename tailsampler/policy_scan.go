package tailsampler

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// spanPredicate is what most built-in policies ask of a trace: does any
// resource or span match. Resource attributes are consulted once per
// ResourceSpans, before its spans, as upstream does.
type spanPredicate interface {
	matchResource(res pcommon.Resource) bool
	matchSpan(span ptrace.Span) bool
}

// anyScan is the state of one scan. It is pooled and its callback is a
// method value bound once, so handing it to Trace.Spans (an interface call,
// through which any closure escapes) allocates nothing per evaluation.
type anyScan struct {
	pred    spanPredicate
	last    ptrace.ResourceSpans
	started bool
	matched bool
	fn      func(ptrace.ResourceSpans, ptrace.ScopeSpans, ptrace.Span) bool
}

var anyScanPool = sync.Pool{New: func() any {
	s := &anyScan{}
	s.fn = s.visit
	return s
}}

func (s *anyScan) visit(rs ptrace.ResourceSpans, _ ptrace.ScopeSpans, span ptrace.Span) bool {
	if !s.started || rs != s.last {
		s.started = true
		s.last = rs
		if s.pred.matchResource(rs.Resource()) {
			s.matched = true
			return false
		}
	}
	if s.pred.matchSpan(span) {
		s.matched = true
		return false
	}
	return true
}

// anyMatch reports whether any resource or span of t satisfies p.
func anyMatch(t Trace, p spanPredicate) bool {
	s := anyScanPool.Get().(*anyScan)
	s.pred = p
	t.Spans(s.fn)
	matched := s.matched
	*s = anyScan{fn: s.fn}
	anyScanPool.Put(s)
	return matched
}

// noResource is embedded by predicates that only look at spans.
type noResource struct{}

func (noResource) matchResource(pcommon.Resource) bool { return false }

// matchDecision maps a scan result to a decision. invert_match flips the
// policy's own match and nothing else, as upstream does since it removed
// its inverted decisions: an inverted policy samples the traces in which
// no resource or span matches (a missing key counts as no match).
func matchDecision(matched, invert bool) Decision {
	return boolDecision(matched != invert)
}
