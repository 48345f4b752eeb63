package handoff

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Buffer is the tail sampler's trace buffer as the engine sees it. Every
// method may be called concurrently with the processor's own ingest and
// decisions, and with each other.
type Buffer interface {
	// TakeNotOwned removes and returns every undecided trace for which
	// owns(id) is false: all its buffered spans and when it was first seen.
	// The engine owns the returned Spans (it adds marker attributes). A
	// trace being decided at this moment is not undecided: it is left to
	// finish and its decision shows up in RecentDecisions.
	TakeNotOwned(owns func(pcommon.TraceID) bool) []Pending
	// RecentDecisions calls fn for every trace decided at or after since
	// whose decision is still remembered. fn must not call back into the
	// Buffer.
	RecentDecisions(since time.Time, fn func(id pcommon.TraceID, sampled bool))
	// ImportTrace buffers spans received from a peer (or taken back after a
	// failed handoff) as if their traces had first been seen at firstSeen:
	// they are decided decision_wait after it, at once if that has passed.
	// Spans of a trace already pending join it (keeping the earlier
	// first-seen); spans of a trace already decided follow its decision.
	// The Buffer owns td. An error means td was not buffered.
	ImportTrace(ctx context.Context, td ptrace.Traces, firstSeen time.Time) error
	// ImportDecision applies a decision made by a peer: a pending trace is
	// decided with it at once, and later spans follow it.
	ImportDecision(id pcommon.TraceID, sampled bool)
}

// Pending is one undecided trace taken out of the Buffer.
type Pending struct {
	ID        pcommon.TraceID
	Spans     ptrace.Traces
	FirstSeen time.Time
}
