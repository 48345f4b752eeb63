package workload

import (
	"github.com/tailgate-otel/tailgate/examples/internal/wire"
	"github.com/tailgate-otel/tailgate/internal/tracegen"
)

// Outcome counts traces of one kind by what reached the backend.
type Outcome struct {
	Sent     int // traces of this kind sent
	Complete int // arrived with every span
	Partial  int // arrived with some spans only
	Missing  int // no span arrived
	Split    int // arrived partial, or in more than one decision (export)
}

// Score is a run's result at the backend.
type Score struct {
	Traces int     // traces sent
	Spans  int     // spans sent
	Errors Outcome // traces with an ERROR span: the policy keeps them all
	Slow   Outcome // traces lasting 2 s (no error): the latency policy keeps them all
	Others Outcome // the rest: only the probabilistic share is kept
}

// KeptShare is the share of Others that arrived (whole or not).
func (s Score) KeptShare() float64 {
	if s.Others.Sent == 0 {
		return 0
	}
	return float64(s.Others.Complete+s.Others.Partial) / float64(s.Others.Sent)
}

// Split is the number of traces, of every kind, that arrived incomplete or
// in more than one decision.
func (s Score) Split() int { return s.Errors.Split + s.Slow.Split + s.Others.Split }

// Arrived is the number of traces, of every kind, of which a span arrived.
func (s Score) Arrived() int {
	n := 0
	for _, o := range []Outcome{s.Errors, s.Slow, s.Others} {
		n += o.Complete + o.Partial
	}
	return n
}

// Evaluate scores a sent workload against the sink.
func Evaluate(sent Sent, sink *wire.Sink) Score {
	spec := sent.Spec
	sc := Score{Traces: spec.Traces, Spans: sent.Spans}
	for i := range spec.Traces {
		o := &sc.Others
		switch {
		case spec.IsError(i):
			o = &sc.Errors
		case spec.IsSlow(i):
			o = &sc.Slow
		}
		o.Sent++
		id := tracegen.TraceID(spec.Seed, i)
		got := sink.SpansOf(id)
		switch {
		case got >= spec.SpansPerTrace:
			o.Complete++
		case got > 0:
			o.Partial++
		default:
			o.Missing++
		}
		if (got > 0 && got < spec.SpansPerTrace) || sink.ExportsOf(id) > 1 {
			o.Split++
		}
	}
	return sc
}

// IncompleteErrors lists the error traces of which some span, or every
// span, is missing at the sink, with how many of their spans arrived.
func IncompleteErrors(sent Sent, sink *wire.Sink) map[int]int {
	out := map[int]int{}
	spec := sent.Spec
	for i := range spec.Traces {
		if !spec.IsError(i) {
			continue
		}
		if got := sink.SpansOf(tracegen.TraceID(spec.Seed, i)); got < spec.SpansPerTrace {
			out[i] = got
		}
	}
	return out
}
