// Package lbexporter is the load_balancing exporter (deprecated alias
// loadbalancing): it routes traces, logs and metrics through a consistent
// hash ring (package hashring) over the endpoints discovered by a resolver
// (package resolver), so that every span of a trace reaches the same
// gateway. Its configuration is a drop-in for upstream contrib's
// loadbalancingexporter. In code, WithResolver replaces the `resolver:`
// block with a resolver.Factory (e.g. manual.Source's Resolver, which can
// feed the gateways' handoff too).
//
// # Guarantees
//
//   - Routing is a pure function of the endpoint set and the routing key:
//     spans of one trace (routing_key traceID) always go to one endpoint.
//     Each incoming batch is split in one pass into one batch per endpoint;
//     items are moved, not copied, and resource and scope are copied once
//     per endpoint.
//   - One slow gateway never stalls the others. With protocol.otlp.sending_queue
//     (on by default, as upstream) every endpoint has its own bounded
//     buffer and num_consumers senders; a call hands each part of the batch
//     to its endpoint's buffer and returns. Only a part whose buffer is full
//     is refused, with a retryable error carrying that part alone
//     (ErrBufferFull). A buffer holds at most queue_size (requests, items or
//     bytes), queued and in flight together.
//   - Endpoint changes are lossless. A new set builds a new ring, creates
//     and starts the exporters of new endpoints, then publishes the
//     routing table with one atomic store: routing never waits for a lock.
//     When an endpoint leaves, new parts for it are refused and re-routed,
//     its buffer is re-routed through the new ring, and sends in flight get
//     a grace period (protocol.otlp.timeout) after which they are cancelled
//     and re-routed too. Delivery is at-least-once.
//   - Retries are per endpoint and per part (protocol.otlp.retry_on_failure).
//     A permanent error drops only that endpoint's part; one sender per
//     failing endpoint retries at least once a second and its success wakes
//     the others, so a backlog drains as soon as the gateway answers.
//   - With sending_queue.storage the buffers live in a storage extension;
//     a restarted agent re-routes what it finds.
//   - With failover.enabled, an endpoint failing max_consecutive_failures
//     attempts in a row is skipped: its buffer and its keys go to their
//     next ring choice, with the failover mark (package
//     internal/failovermark) that the tail sampler's handoff honours, until
//     live traffic sent every probe_interval succeeds again.
//   - Nothing is dropped silently: every drop is counted in
//     otelcol_loadbalancer_dropped_items{endpoint, reason} and logged at
//     most once per 10 s per endpoint.
//   - Bad data never panics: empty trace IDs and missing service.name are
//     routed by a documented fallback key and counted. With no endpoint
//     known, data is refused with the retryable ErrNoEndpoints and counted.
//
// # Concurrency
//
// ConsumeTraces, ConsumeLogs and ConsumeMetrics are safe for concurrent
// use. Each endpoint's senders run on their own goroutines, started with
// the endpoint and stopped when it leaves or at Shutdown; without buffers,
// sends to different endpoints of one call run concurrently. The exporter
// declares MutatesData: it moves items out of the batch it is given.
package lbexporter
