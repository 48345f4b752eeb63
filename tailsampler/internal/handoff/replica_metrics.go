package handoff

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// Replication's instruments sit next to the processor's own
// (otelcol_processor_tail_sampling_*), as replica_*.
const replicaPrefix = "otelcol_processor_tail_sampling_replica_"

// Values of the reason attribute of replica_promoted.
const (
	// PromotedOwnerLeft: the owner left the gateway set without deciding.
	PromotedOwnerLeft = "owner_left"
	// PromotedOwnerRestarted: the owner came back as a new process, which
	// lost what the previous one held.
	PromotedOwnerRestarted = "owner_restarted"
)

type replicaMetrics struct {
	spansSent, spansReceived metric.Int64Counter
	failures                 metric.Int64Counter
	promoted                 metric.Int64Counter
	freed                    metric.Int64Counter
	orphans                  metric.Int64Counter
	exported                 metric.Int64Counter
	dupAvoided, dupPossible  metric.Int64Counter
	undelivered              metric.Int64Counter
	dropped                  metric.Int64Counter
	registration             metric.Registration

	ownerLeft, ownerRestarted metric.MeasurementOption
	freedKept, freedDropped   metric.MeasurementOption
	freedBye                  metric.MeasurementOption
}

func newReplicaMetrics(mp metric.MeterProvider, store *shadowStore) (*replicaMetrics, error) {
	in := newInstruments(mp, replicaPrefix)
	counter := in.counter
	out := &replicaMetrics{
		spansSent:      counter("spans_sent", "{spans}", "Spans replicated to their trace's successor and acknowledged by it."),
		spansReceived:  counter("spans_received", "{spans}", "Spans received from ring predecessors and held as shadows."),
		failures:       counter("failures", "{spans}", "Spans whose replication failed: they were held by one gateway only."),
		promoted:       counter("promoted", "{traces}", "Shadows turned into traces of this gateway because their owner left the set or restarted without deciding them (attribute reason)."),
		freed:          counter("freed", "{traces}", "Shadows freed by their owner (attribute reason: not_sampled, freed at its decision; sampled, replica_grace after it; bye, it left gracefully and handed its traces off itself)."),
		orphans:        counter("orphans", "{traces}", "Shadows whose owner stayed in the set but sent no decision within decision_wait plus replica_grace: handed back to it to decide."),
		exported:       counter("exported", "{traces}", "Shadows of kept traces exported here because their owner crashed within replica_grace of its decision."),
		dupAvoided:     counter("duplicates_avoided", "{spans}", "Spans that reached a trace's owner twice (a promoted shadow and a handoff, a replica and a retry) and were buffered once."),
		dupPossible:    counter("duplicates_possible", "{traces}", "Traces that may reach the backend twice: kept shadows exported after their owner's crash, orphans handed back to an owner that may have decided them."),
		undelivered:    counter("decisions_undelivered", "{decisions}", "Decisions that could not be sent to the successor holding the shadow (it will decide the shadow as an orphan)."),
		dropped:        counter("dropped", "{traces}", "Shadows dropped because this gateway is no longer the trace's successor (its owner replicates it to the new one)."),
		ownerLeft:      reasonAttr(PromotedOwnerLeft),
		ownerRestarted: reasonAttr(PromotedOwnerRestarted),
		freedKept:      reasonAttr("sampled"),
		freedDropped:   reasonAttr("not_sampled"),
		freedBye:       reasonAttr("bye"),
	}
	shadows := in.gauge("shadows", "{traces}", "Traces held as shadows for their owners.")
	spans := in.gauge("shadow_spans", "{spans}", "Spans held as shadows.")
	if err := errors.Join(in.errs...); err != nil {
		return nil, err
	}
	var err error
	out.registration, err = in.m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(shadows, store.traces.Load())
		o.ObserveInt64(spans, store.spans.Load())
		return nil
	}, shadows, spans)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (m *replicaMetrics) close() {
	if m.registration != nil {
		_ = m.registration.Unregister()
	}
}
