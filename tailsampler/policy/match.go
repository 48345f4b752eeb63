package policy

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Matcher is what most policies ask of a trace: does any resource or span
// match. AnyMatch consults a ResourceSpans' resource once, before its
// spans, as upstream's attribute policies do.
type Matcher interface {
	MatchResource(res pcommon.Resource) bool
	MatchSpan(span ptrace.Span) bool
}

// SpansOnly is embedded by matchers that only look at spans: its
// MatchResource never matches.
type SpansOnly struct{}

// MatchResource reports false.
func (SpansOnly) MatchResource(pcommon.Resource) bool { return false }

// anyScan is the state of one scan. It is pooled and its callback is a
// method value bound once, so handing it to Trace.Spans (an interface call,
// through which any closure escapes) allocates nothing per evaluation.
type anyScan struct {
	m       Matcher
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
		if s.m.MatchResource(rs.Resource()) {
			s.matched = true
			return false
		}
	}
	if s.m.MatchSpan(span) {
		s.matched = true
		return false
	}
	return true
}

// AnyMatch reports whether any resource or span of t satisfies m, and stops
// at the first that does. It allocates nothing when m is a pointer (or
// another value that fits an interface without allocating), which a
// closure handed to Trace.Spans cannot promise.
func AnyMatch(t Trace, m Matcher) bool {
	s := anyScanPool.Get().(*anyScan)
	s.m = m
	t.Spans(s.fn)
	matched := s.matched
	*s = anyScan{fn: s.fn}
	anyScanPool.Put(s)
	return matched
}
