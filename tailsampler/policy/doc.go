// Package policy is what a tail sampling policy implements: the Policy
// interface, the Trace it evaluates, the Decision it returns, and the
// Factory that builds it from its YAML block. The `tail_sampling`
// processor (package tailsampler) builds its built-in policy types through
// the same Factory signature, and takes custom ones by type name:
//
//	tailsampler.NewFactory(tailsampler.WithPolicyType("span_name", newSpanNamePolicy))
//
// after which a configuration may use `type: span_name` with a
// `span_name:` block, at the top level or nested in `and`, `not`, `drop`
// and `composite`. README.md walks through writing one; Example runs it.
//
// # Evaluation
//
// With the default strategy (trace-complete) each trace is evaluated
// once, when its decision is due (decision_wait after its first span, or
// earlier: root span received, overflow), on a Trace view of the spans
// buffered so far; `sampling_strategy: span-ingest` evaluates it on every
// batch until a verdict is final. The processor combines its top-level
// policies' verdicts as upstream does:
//
//  1. drop policies run first, in configured order; the first that returns
//     Dropped ends the evaluation: the trace is dropped;
//  2. every other policy runs in configured order (with
//     sample_on_first_match, until the first Sampled; a Dropped from any
//     policy also ends it);
//  3. any Dropped drops the trace; else any InvertNotSampled rejects it;
//     else any Sampled keeps it; else any InvertSampled keeps it when no
//     policy voted NotSampled; else it is not sampled.
//
// A policy that returns an error has no vote; the error is counted in
// otelcol_processor_tail_sampling_sampling_policy_evaluation_error.
// Unspecified is no vote either. A kept trace is named (record_policy)
// after the sampling policy with the smallest OpenTelemetry sampling
// threshold, the first of them on a tie; a custom policy's threshold is 0,
// as a filter's.
//
// Nested in a combinator, a verdict reads as a match when it is Sampled
// (or the deprecated InvertSampled): `and` samples when every sub-policy
// matches, `drop` drops when every sub-policy matches, `composite` admits
// a trace that a sub-policy matches within its budget, and `not` turns
// Sampled into NotSampled and back, passing other verdicts through.
//
// # Contract
//
//   - Concurrency: one Policy value evaluates every trace, from several
//     goroutines at once (one per shard). Guard any state it keeps.
//   - The Trace is borrowed: read it, never modify its spans, and keep
//     nothing reached through it after Evaluate returns.
//   - Evaluate is on the processor's hot path: it must not block, and it
//     should not allocate per call. AnyMatch scans without allocating.
//   - A policy whose verdict depends on more than the trace in hand (a
//     budget, a bound a growing trace may still cross) implements
//     Stateful; `sampling_strategy: span-ingest`, which evaluates a trace
//     on every batch, then refuses it by name.
//   - A Factory also runs when a configuration is only validated: it must
//     not start goroutines or open anything.
//
// Package policytest turns a ptrace.Traces into a Trace, so a policy can be
// tested on its own.
package policy
