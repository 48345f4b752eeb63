// Package tailsampler is the `tail_sampling` processor: it buffers spans by
// trace ID, decides each trace once with the configured policies and
// forwards the spans of kept traces. It accepts upstream contrib's
// configuration and emits upstream's self-metrics, and goes further on
// timing, memory and loss (see README.md).
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
//   - Input is never modified: the processor keeps references to the
//     batches it receives (released when all their traces are decided)
//     and forwards copies of the kept spans. When pdata's proto pooling
//     feature gate is on, it copies each input batch instead.
//   - Lifecycle: Start returns at once. Shutdown is idempotent, safe before
//     Start, decides (or drops and counts) every pending trace, forwards
//     within its context's deadline and leaves no goroutine behind.
package tailsampler
