// Package spanmetrics is the span_metrics connector (deprecated alias
// spanmetrics): it turns every span it sees into RED metrics — a calls
// counter, a duration histogram and optionally an events counter — and hands
// them to a metrics pipeline every metrics_flush_interval. It accepts
// upstream spanmetricsconnector's configuration key for key, so a collector
// config written for contrib runs unchanged; in the tailgate gateway it sits
// in a traces/metrics pipeline next to tail sampling, so metrics count every
// span, sampled or not.
//
// Guarantees:
//
//   - Concurrency: ConsumeTraces may be called from any number of goroutines.
//     Series live in 64 shards chosen by key hash, each with its own lock, so
//     callers only meet when they update the same shard at the same instant.
//     Aggregating into existing series does not allocate.
//   - Input ownership: nothing of the input is kept by reference. Series keys
//     are hashes of type-tagged attribute values; a new series copies the
//     values it carries. Mutating a batch after ConsumeTraces changes nothing
//     that is emitted, and no batch stays reachable.
//   - Identity: values are keyed with their type, so int 200 and string "200"
//     are two series, and a missing dimension never equals an empty one.
//   - Ordering: each flush emits resources in first-seen order and data
//     points in series creation order, so output is deterministic.
//   - Memory: at most resource_metrics_cache_size resources (least recently
//     seen evicted, flushed once more first), at most
//     aggregation_cardinality_limit series per resource and metric (100,000
//     when 0) beyond which spans go to one otel.metric.overflow=true series,
//     at most exemplars::max_per_data_point exemplars per point per interval,
//     and for delta at most metric_timestamp_cache_size idle series kept for
//     their start timestamps. metrics_expiration and series_expiration remove
//     stale resources and series after emitting them one last time.
//   - Lifecycle: Start returns at once and owns the flush goroutine; Shutdown
//     is idempotent, safe before Start, stops the goroutine, and hands what
//     was aggregated since the last flush to the next consumer within its
//     context's deadline.
//   - Failure: spans whose resource has no service.name are skipped (as
//     upstream does) but counted in otelcol_connector_span_metrics_spans_dropped
//     and logged at most once per flush interval; a refused flush is counted
//     and returned. Malformed tracestate counts the span once.
package spanmetrics
