package tailsampler

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tailgate-otel/tailgate/tailsampler/internal/policies"
	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// scopeName is the instrumentation scope of every instrument here.
const scopeName = "github.com/tailgate-otel/tailgate/tailsampler"

// Instrument names. The first group is upstream's (same names, units and
// attributes, so dashboards keep working); the second is ours and additive.
// The per-policy instruments (count_traces_sampled, sampling_decision_latency,
// sampling_policy_evaluation_error) are recorded by the policy set.
const (
	metricPrefix = "otelcol_processor_tail_sampling_"

	mGlobalSampled      = metricPrefix + "global_count_traces_sampled"
	mDecisionTimer      = metricPrefix + "sampling_decision_timer_latency"
	mDroppedTooEarly    = metricPrefix + "sampling_trace_dropped_too_early"
	mRemovalAge         = metricPrefix + "sampling_trace_removal_age"
	mLateSpanAge        = metricPrefix + "sampling_late_span_age"
	mTracesOnMemory     = metricPrefix + "sampling_traces_on_memory"
	mNewTraceID         = metricPrefix + "new_trace_id_received"
	mEarlyReleases      = metricPrefix + "early_releases_from_cache_decision"
	mDroppedTooLarge    = metricPrefix + "traces_dropped_too_large"
	mEarlyDecisions     = metricPrefix + "early_decisions"
	mDroppedOnShutdown  = metricPrefix + "traces_dropped_on_shutdown"
	mDecisionDelay      = metricPrefix + "decision_delay"
	mSpansBufferedBytes = metricPrefix + "spans_buffered_bytes"
	mForwardFailed      = metricPrefix + "forward_failed_spans"
	mBackpressureWaits  = metricPrefix + "backpressure_waits"
	mLateReversed       = metricPrefix + "late_spans_reversed"
)

// Reasons for an early (before-deadline) decision.
const (
	reasonNumTraces        = "num_traces"
	reasonMaxBufferedBytes = "max_buffered_bytes"
)

type telemetry struct {
	globalSampled     metric.Int64Counter
	decisionTimer     metric.Int64Histogram
	droppedTooEarly   metric.Int64Counter
	removalAge        metric.Int64Histogram
	lateSpanAge       metric.Int64Histogram
	newTraceID        metric.Int64Counter
	earlyReleases     metric.Int64Counter
	droppedTooLarge   metric.Int64Counter
	earlyDecisions    metric.Int64Counter
	droppedOnShutdown metric.Int64Counter
	decisionDelay     metric.Int64Histogram
	forwardFailed     metric.Int64Counter
	backpressure      metric.Int64Counter
	lateReversed      metric.Int64Counter
	registration      metric.Registration

	// global_count_traces_sampled by final decision
	decidedSampled, decidedNotSampled, decidedDropped metric.MeasurementOption
	// early_releases_from_cache_decision by the cached decision
	cachedSampled, cachedNotSampled   metric.MeasurementOption
	earlyNumTraces, earlyBufferedSize metric.MeasurementOption
}

func newTelemetry(set component.TelemetrySettings, p *sampler) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	t := &telemetry{
		decidedSampled:    metric.WithAttributeSet(attribute.NewSet(policies.DecisionAttributes(policy.Sampled)...)),
		decidedNotSampled: metric.WithAttributeSet(attribute.NewSet(policies.DecisionAttributes(policy.NotSampled)...)),
		decidedDropped:    metric.WithAttributeSet(attribute.NewSet(policies.DecisionAttributes(policy.Dropped)...)),
		cachedSampled:     metric.WithAttributeSet(attribute.NewSet(attribute.String("sampled", "true"))),
		cachedNotSampled:  metric.WithAttributeSet(attribute.NewSet(attribute.String("sampled", "false"))),
		earlyNumTraces:    metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonNumTraces))),
		earlyBufferedSize: metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonMaxBufferedBytes))),
	}
	var errs, err error
	t.globalSampled, err = m.Int64Counter(mGlobalSampled, metric.WithUnit("{traces}"),
		metric.WithDescription("Traces decided, by final decision: sampled (true/false) and decision (sampled, not_sampled, or dropped by a drop policy)."))
	errs = errors.Join(errs, err)
	t.decisionTimer, err = m.Int64Histogram(mDecisionTimer, metric.WithUnit("ms"),
		metric.WithDescription("Time one decision round of a shard took (policy evaluation and forwarding hand-off)."),
		metric.WithExplicitBucketBoundaries(policies.DurationBuckets...))
	errs = errors.Join(errs, err)
	t.droppedTooEarly, err = m.Int64Counter(mDroppedTooEarly, metric.WithUnit("{traces}"),
		metric.WithDescription("Traces dropped before a decision. Always 0 here: overflow decides early instead (see early_decisions)."))
	errs = errors.Join(errs, err)
	t.removalAge, err = m.Int64Histogram(mRemovalAge, metric.WithUnit("s"),
		metric.WithDescription("Time from a trace's first span to its removal from memory."))
	errs = errors.Join(errs, err)
	t.lateSpanAge, err = m.Int64Histogram(mLateSpanAge, metric.WithUnit("s"),
		metric.WithDescription("Time from a trace's decision to the arrival of a late span of it found in a decision cache."))
	errs = errors.Join(errs, err)
	t.newTraceID, err = m.Int64Counter(mNewTraceID, metric.WithUnit("{traces}"),
		metric.WithDescription("Trace IDs seen for the first time (not pending, not in a decision cache)."))
	errs = errors.Join(errs, err)
	t.earlyReleases, err = m.Int64Counter(mEarlyReleases, metric.WithUnit("{spans}"),
		metric.WithDescription("Spans forwarded (sampled=true) or dropped (sampled=false) at once because a decision cache held their trace's decision."))
	errs = errors.Join(errs, err)
	t.droppedTooLarge, err = m.Int64Counter(mDroppedTooLarge, metric.WithUnit("{traces}"),
		metric.WithDescription("Traces dropped because they exceeded maximum_trace_size_bytes."))
	errs = errors.Join(errs, err)
	t.earlyDecisions, err = m.Int64Counter(mEarlyDecisions, metric.WithUnit("{traces}"),
		metric.WithDescription("Traces decided before decision_wait on what had arrived, because num_traces or max_buffered_bytes was reached (attribute reason)."))
	errs = errors.Join(errs, err)
	t.droppedOnShutdown, err = m.Int64Counter(mDroppedOnShutdown, metric.WithUnit("{traces}"),
		metric.WithDescription("Pending traces dropped undecided at shutdown (drop_pending_traces_on_shutdown, or the shutdown deadline expired)."))
	errs = errors.Join(errs, err)
	t.decisionDelay, err = m.Int64Histogram(mDecisionDelay, metric.WithUnit("ms"),
		metric.WithDescription("How long after its deadline a trace was decided."),
		metric.WithExplicitBucketBoundaries(1, 5, 10, 20, 50, 100, 250, 500, 1000, 5000))
	errs = errors.Join(errs, err)
	t.forwardFailed, err = m.Int64Counter(mForwardFailed, metric.WithUnit("{spans}"),
		metric.WithDescription("Sampled spans the next consumer refused, or that could not be forwarded before the shutdown deadline."))
	errs = errors.Join(errs, err)
	t.backpressure, err = m.Int64Counter(mBackpressureWaits, metric.WithUnit("{calls}"),
		metric.WithDescription("ConsumeTraces calls that waited for room (forward queue full, or num_traces full with block_on_overflow)."))
	errs = errors.Join(errs, err)
	t.lateReversed, err = m.Int64Counter(mLateReversed, metric.WithUnit("{spans}"),
		metric.WithDescription("Spans that arrived after their trace was decided not sampled, without a veto, and that a policy keeps on their own: forwarded (the trace reaches the backend in parts). They also count in early_releases_from_cache_decision (sampled=false)."))
	errs = errors.Join(errs, err)

	onMemory, err := m.Int64ObservableGauge(mTracesOnMemory, metric.WithUnit("{traces}"),
		metric.WithDescription("Traces buffered and not yet decided."))
	errs = errors.Join(errs, err)
	buffered, err := m.Int64ObservableGauge(mSpansBufferedBytes, metric.WithUnit("By"),
		metric.WithDescription("Encoded size of buffered spans; only measured when max_buffered_bytes or maximum_trace_size_bytes is set."))
	errs = errors.Join(errs, err)
	if errs != nil {
		return nil, errs
	}
	// Never incremented here (overflow decides early instead); upstream
	// adds to it every round, so its series exists, at 0.
	t.droppedTooEarly.Add(context.Background(), 0)
	t.registration, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		traces, bytes := p.bufferedTotals()
		o.ObserveInt64(onMemory, traces)
		o.ObserveInt64(buffered, bytes)
		return nil
	}, onMemory, buffered)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) close() {
	if t.registration != nil {
		_ = t.registration.Unregister()
	}
}
