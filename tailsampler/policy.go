package tailsampler

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Decision is a policy's verdict on one trace.
//
// When several policies are configured their verdicts are combined with
// upstream's precedence: drop policies are consulted first and any Dropped
// ends the evaluation; otherwise Dropped > InvertNotSampled > Sampled >
// InvertSampled > NotSampled, where an InvertSampled verdict keeps the trace
// only if no policy voted NotSampled (Unspecified counts as NotSampled), as
// upstream does.
type Decision uint8

const (
	// Unspecified means the policy has no opinion on the trace.
	Unspecified Decision = iota
	// NotSampled means the policy does not ask to keep the trace.
	NotSampled
	// Sampled means the policy asks to keep the trace.
	Sampled
	// InvertSampled is the result of an inverted match that keeps the
	// trace; it loses to a Sampled verdict of another policy.
	InvertSampled
	// InvertNotSampled is the result of an inverted match that rejects the
	// trace; it wins over every other verdict except Dropped.
	InvertNotSampled
	// Dropped means the trace must not be kept whatever other policies say.
	Dropped
)

// String returns the decision's name as used in metric attributes and logs.
func (d Decision) String() string {
	switch d {
	case NotSampled:
		return "not_sampled"
	case Sampled:
		return "sampled"
	case InvertSampled:
		return "invert_sampled"
	case InvertNotSampled:
		return "invert_not_sampled"
	case Dropped:
		return "dropped"
	default:
		return "unspecified"
	}
}

// Trace is a read-only view of a buffered trace, handed to policies.
//
// Nothing is copied to build it: the spans are the buffered pdata. A policy
// must not modify them and must not keep the view, or anything reached
// through it, after Evaluate returns.
type Trace interface {
	// ID is the trace ID.
	ID() pcommon.TraceID
	// SpanCount is the number of spans buffered so far.
	SpanCount() int
	// Bytes is an estimate of the memory the buffered spans hold.
	Bytes() int
	// FirstSeen is when the first span of the trace reached this gateway
	// (or, for a trace handed over by a peer, the peer's first-seen time).
	FirstSeen() time.Time
	// FirstStart is the earliest span start timestamp.
	FirstStart() pcommon.Timestamp
	// LastEnd is the latest span end timestamp.
	LastEnd() pcommon.Timestamp
	// Root returns the root span (no parent span ID) if it has arrived.
	Root() (ptrace.Span, bool)
	// Spans calls fn for every buffered span, with the ResourceSpans and
	// ScopeSpans that carry it, until fn returns false.
	Spans(fn func(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span) bool)
}

// Policy decides whether a trace is kept. Implementations must be safe for
// concurrent use: the processor evaluates traces on several goroutines.
type Policy interface {
	Evaluate(ctx context.Context, t Trace) (Decision, error)
}

// PolicyFunc adapts an ordinary function to the Policy interface.
type PolicyFunc func(ctx context.Context, t Trace) (Decision, error)

// Evaluate calls f.
func (f PolicyFunc) Evaluate(ctx context.Context, t Trace) (Decision, error) { return f(ctx, t) }

// PolicySettings is what a PolicyFactory gets besides its configuration.
type PolicySettings struct {
	// Name is the policy's configured name.
	Name string
	// Telemetry is the processor's telemetry (logger, meter provider).
	Telemetry component.TelemetrySettings
	// Now is the processor's clock; policies that need time (rate limits)
	// use it so tests can drive them.
	Now func() time.Time
}

// PolicyFactory builds a policy of one type from its configuration block:
// the map under the key named after the type (for `type: my_type`, the
// value of `my_type:`; empty when the block is absent). Decode it with
// conf.Unmarshal into your own struct so unknown keys are rejected.
// Errors are reported by Validate with the policy's position and name.
type PolicyFactory func(set PolicySettings, conf *confmap.Conf) (Policy, error)
