package handoff

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// ReplicaBuffer is what replication (Config.Replicate) needs of the
// Buffer on top of the handoff hooks.
type ReplicaBuffer interface {
	Buffer
	// SnapshotPending returns a copy of every undecided trace for which
	// match returns true, with its first-seen time; the traces stay
	// buffered. match must not call back into the Buffer.
	SnapshotPending(match func(pcommon.TraceID) bool) []Pending
	// RememberDecision records a decision made elsewhere in the decision
	// caches only: nothing pending changes and it is not reported by
	// RecentDecisions.
	RememberDecision(id pcommon.TraceID, sampled bool)
	// TraceState says what this gateway knows of trace id.
	TraceState(id pcommon.TraceID) TraceState
	// ExportKept forwards td as kept, without evaluating it, and
	// remembers its traces as kept. The Buffer owns td.
	ExportKept(ctx context.Context, td ptrace.Traces) error
	// KeepDecidedElsewhere applies a keep decision taken by a peer that
	// exported the spans for which had returns true: a pending trace is
	// kept at once, forwarding only the other spans, and remembered as
	// kept. It returns false when the trace was not pending (it is then
	// remembered as kept).
	KeepDecidedElsewhere(id pcommon.TraceID, had func(pcommon.SpanID) bool) bool
	// ImportTraceDedup is ImportTrace that leaves out the spans already
	// buffered for their trace (same span ID) and says how many it left
	// out: at-least-once delivery brings some spans twice.
	ImportTraceDedup(ctx context.Context, td ptrace.Traces, firstSeen time.Time) (int, error)
}

// TraceState is what a gateway knows of a trace.
type TraceState uint8

// Trace states.
const (
	// TraceUnknown: neither buffered nor in a decision cache.
	TraceUnknown TraceState = iota
	// TracePending: buffered, undecided.
	TracePending
	// TraceKept: decided (here, or remembered from its owner) and kept.
	TraceKept
	// TraceDropped: decided and dropped.
	TraceDropped
)

// decided reports whether s is a decision.
func (s TraceState) decided() bool { return s == TraceKept || s == TraceDropped }
