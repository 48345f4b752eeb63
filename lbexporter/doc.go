// Package lbexporter is the load_balancing exporter (deprecated alias
// loadbalancing): it routes traces, logs and metrics through a consistent
// hash ring (package hashring) over the endpoints discovered by a resolver
// (package resolver), so that every span of a trace reaches the same
// gateway. Its configuration is a drop-in for upstream contrib's
// loadbalancingexporter.
//
// # Guarantees
//
//   - Routing is a pure function of the endpoint set and the routing key:
//     spans of one trace (routing_key traceID) always go to one endpoint.
//     Each incoming batch is split in one pass into one batch per endpoint;
//     items are moved, not copied, and resource and scope are copied once
//     per endpoint.
//   - Endpoint changes are lossless. A new set builds a new ring, creates
//     and starts the exporters of new endpoints, then publishes the
//     routing table with one atomic store: routing never waits for a lock.
//     Per-endpoint exporters have no queue, so data addressed to an
//     endpoint is always in flight in a ConsumeX call. When an endpoint
//     leaves, new sends to it are refused and in-flight sends get a grace
//     period (protocol.otlp.timeout), after which they are cancelled; both
//     are re-routed through the new ring. Delivery is at-least-once.
//   - Failures are partial: the error returned carries only the data of
//     the endpoints that failed (consumererror.NewTraces and friends), so
//     retry_on_failure re-sends that part and never duplicates the rest.
//   - With failover.enabled, an endpoint failing max_consecutive_failures
//     exports in a row is skipped (its keys go to their next ring choice)
//     until live traffic sent every probe_interval succeeds again.
//   - Bad data never panics: empty trace IDs and missing service.name are
//     routed by a documented fallback key and counted. With no endpoint
//     known, data is refused with the retryable ErrNoEndpoints and counted.
//
// # Concurrency
//
// ConsumeTraces, ConsumeLogs and ConsumeMetrics are safe for concurrent
// use; sends to different endpoints of one call run concurrently. The
// exporter declares MutatesData: it moves items out of the batch it is
// given.
package lbexporter
