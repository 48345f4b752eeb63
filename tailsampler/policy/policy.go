package policy

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
// The processor combines the verdicts of the top-level policies as
// upstream does (see the package documentation for the whole order): drop
// policies are consulted first and a Dropped ends the evaluation; then
// any Dropped, else any Sampled keeps the trace; a policy that returns an
// error has no vote. The built-in policies only ever return Sampled,
// NotSampled or Dropped (invert_match flips a policy's own match);
// InvertSampled and InvertNotSampled remain for custom policies and keep
// upstream's deprecated precedence.
type Decision uint8

const (
	// Unspecified means the policy has no opinion on the trace.
	Unspecified Decision = iota
	// NotSampled means the policy does not ask to keep the trace.
	NotSampled
	// Sampled means the policy asks to keep the trace.
	Sampled
	// InvertSampled keeps the trace only when no other policy voted
	// NotSampled and none voted Sampled first.
	//
	// Deprecated: upstream removed inverted decisions from its built-in
	// policies; use a drop policy to veto, or a not policy to invert.
	InvertSampled
	// InvertNotSampled rejects the trace whatever other policies say,
	// except Dropped.
	//
	// Deprecated: use a drop policy instead.
	InvertNotSampled
	// Dropped means the trace must not be kept whatever other policies say.
	Dropped
)

// Samples reports whether d asks to keep the trace: Sampled, or the
// deprecated InvertSampled. It is how combinators read a sub-policy's
// verdict as a match.
func (d Decision) Samples() bool { return d == Sampled || d == InvertSampled }

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
// through it, after Evaluate returns. Spans that arrive while the policies
// run are not part of the view; they follow its decision.
type Trace interface {
	// ID is the trace ID.
	ID() pcommon.TraceID
	// SpanCount is the number of spans buffered so far.
	SpanCount() int
	// Bytes is the trace's encoded OTLP size, as bytes_limiting charges
	// it; computed on first use.
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
// concurrent use: the processor evaluates traces on several goroutines at
// once, and one Policy value serves every trace. Evaluate is on the hot
// path: it should not allocate per call (see AnyMatch) and must not block.
type Policy interface {
	Evaluate(ctx context.Context, t Trace) (Decision, error)
}

// Stateful is implemented by policies whose verdict on a trace depends on
// more than that trace: a budget (rate_limiting, bytes_limiting,
// composite) or a bound a growing trace may still cross (latency with
// upper_threshold_ms, span_count with max_spans). Such a policy cannot
// decide a trace from one batch, so `sampling_strategy: span-ingest`
// refuses it, naming it. Policies that do not implement the interface are
// stateless.
type Stateful interface {
	Policy
	// Stateful reports whether the policy, as configured, is stateful.
	Stateful() bool
}

// Func adapts an ordinary function to the Policy interface.
type Func func(ctx context.Context, t Trace) (Decision, error)

// Evaluate calls f.
func (f Func) Evaluate(ctx context.Context, t Trace) (Decision, error) { return f(ctx, t) }

// Settings is what a Factory gets besides its configuration. The
// processor fills every field: Telemetry's logger and meter provider and
// Now are never nil.
type Settings struct {
	// Name is the policy's configured name.
	Name string
	// Telemetry is the processor's telemetry (logger, meter provider).
	Telemetry component.TelemetrySettings
	// Now is the processor's clock; policies that need time (rate limits)
	// use it so tests can drive them.
	Now func() time.Time
}

// Factory builds a policy of one type from its configuration block:
// the map under the key named after the type (for `type: my_type`, the
// value of `my_type:`; empty when the block is absent). Decode it with
// conf.Unmarshal into your own struct so unknown keys are rejected.
// Errors are reported by the processor configuration's Validate, each
// line prefixed with the policy's place (`policies[0] (name)::my_type::`);
// start them with the key they are about. A factory is also called to
// validate a configuration, so it must not start anything it would have
// to stop.
type Factory func(set Settings, conf *confmap.Conf) (Policy, error)
