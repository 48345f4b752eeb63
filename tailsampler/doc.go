// Package tailsampler is the `tail_sampling` processor: it buffers spans by
// trace ID, decides each trace once with the configured policies and
// forwards the spans of kept traces. It accepts upstream contrib's
// configuration and emits upstream's self-metrics, and goes further on
// timing, memory and loss (see README.md).
//
// Policies: the interface a policy implements, and everything else a
// policy author needs, is package policy (tailsampler/policy); custom
// types are registered with WithPolicyType. The built-in types and the
// evaluator live in an internal package; their configuration is reachable
// here as PolicyCfg and its blocks.
//
// Guarantees:
//
//   - Timing: a trace is decided at most ~10 ms (the timer resolution, plus
//     evaluation time) after decision_wait from its first span, or after
//     decision_wait_after_root_received from its root span if earlier.
//   - No silent loss: every span handed to ConsumeTraces is either
//     forwarded, or belongs to a trace decided not sampled, or is counted in
//     a metric (dropped too large, dropped on shutdown, refused by the next
//     consumer). Overflow (num_traces, max_buffered_bytes) decides the
//     oldest trace early instead of dropping it.
//   - Late spans follow the first decision through the decision caches
//     (on by default). A not-sampled cache hit is exact, so a span of a
//     kept trace is never dropped by a cache collision.
//   - Concurrency: ConsumeTraces may be called from any number of
//     goroutines. Traces are partitioned into shards by ID; each shard has
//     its own lock and decider goroutine, and one forwarder goroutine calls
//     the next consumer, in batches, so a slow consumer never stalls
//     decisions; it slows ConsumeTraces by back-pressure instead.
//   - Ordering: spans of one trace are forwarded in arrival order within a
//     batch; no order is promised between traces.
//   - Input: the processor keeps references to the batches it receives
//     (released when all their traces are decided) instead of copying
//     them. Read-only input is never modified: kept spans are copied out
//     of it. See Ownership for input that is not read-only. When pdata's
//     proto pooling feature gate is on, it copies each input batch first
//     (receivers may then recycle a batch once ConsumeTraces returns) and
//     owns the copy.
//   - Lifecycle: Start returns at once. Shutdown is idempotent, safe before
//     Start, decides (or drops and counts) every pending trace, forwards
//     within its context's deadline and leaves no goroutine behind.
//   - Handoff (optional `handoff:` block, internal/handoff): when the
//     gateway set changes, pending traces move whole, with their first-seen
//     time, to their new owner and recent decisions follow them; spans
//     routed here by a stale view are forwarded to the owner; Shutdown
//     drains to the remaining gateways first. A handed-off trace is
//     decided (and counted) only by its new owner. With
//     `handoff::replicate`, ConsumeTraces also holds every owned span on
//     its trace's successor before it returns, and a gateway that dies is
//     replaced by its successors. Without the block none of it runs.
//   - Late spans follow their trace's decision, except those of a trace
//     that matched no policy: they are evaluated on their own and
//     forwarded if a policy keeps them (a veto stays final).
//
// Embedding: the handoff block is HandoffConfig (set through
// Config.Handoff.GetOrInsertDefault); WithHandoffResolver feeds it the
// gateway set from code (a resolver.Factory such as manual.Source's
// Resolver, shared with the agents' lbexporter.WithResolver) and
// WithHandoffPeerAddress finds peers whose handoff ports differ.
//
// # Ownership
//
// A batch that is not read-only when it reaches ConsumeTraces belongs to
// this processor alone, and the processor moves kept spans out of it
// (Span.MoveTo: the attributes change hands, nothing is copied) instead of
// copying them. Why that is sound:
//
//   - Core's fan-out never shares one batch between a mutating and a
//     non-mutating consumer, and marks a batch read-only before giving it
//     to more than one non-mutating consumer. So an unmarked batch reaching
//     this (non-mutating) processor has no other consumer. Receivers and
//     the pipeline's own telemetry wrapper do not read a batch after
//     handing it on (the wrapper counts before), so nothing else reads it.
//     A caller that reuses a batch after ConsumeTraces returns must mark
//     it read-only first.
//   - A span belongs to exactly one trace, and is moved only when that
//     trace is decided kept (or extracted for handoff) and released in the
//     same step, under its shard's lock. Other pending traces of the same
//     batch refer to other spans, by index: MoveTo leaves an empty span in
//     place, so no index shifts, and it writes only the moved span's own
//     memory, so policies of other traces (other shards, outside any lock)
//     reading their own spans, or the batch's resources and scopes, never
//     race with it. Resources and scopes are shared by the spans of many
//     traces and are always copied, never moved.
//   - Nothing reads a span after its trace is released: policy snapshots
//     of a trace end before it is finalized.
//
// TestReadOnlyInputNeverMutated marks its input read-only (pdata panics on
// any mutation of read-only data) and checks it is unchanged;
// TestOwnedInputForwardsIntactSpans checks that moved spans arrive intact
// while the traces sharing their batches are decided concurrently.
package tailsampler
