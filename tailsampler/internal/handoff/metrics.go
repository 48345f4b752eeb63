package handoff

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Scope of the instruments: the processor's own, as the handoff is part of
// the tail_sampling processor (its names carry the processor's prefix and
// are documented in tailsampler/metadata.yaml); an internal package path
// would otherwise show up in every user's otel_scope_name.
const meterScope = "github.com/tailgate-otel/tailgate/tailsampler"

const metricPrefix = "otelcol_processor_tail_sampling_handoff_"

// Values of the `reason` attribute of the failures counter.
const (
	// ReasonUnreachable: the owner could not be reached within the window
	// (or before shutdown); the trace was decided here instead.
	ReasonUnreachable = "unreachable"
	// ReasonRejected: the owner refused the data permanently (e.g. too
	// large, auth); the trace was decided here instead.
	ReasonRejected = "rejected"
	// ReasonQueueFull: stale-routed spans could not be queued for
	// forwarding; they were kept here.
	ReasonQueueFull = "queue_full"
)

type metrics struct {
	tracesSent, spansSent           metric.Int64Counter
	spansForwarded                  metric.Int64Counter
	decisionsSent                   metric.Int64Counter
	tracesReceived, spansReceived   metric.Int64Counter
	decisionsReceived               metric.Int64Counter
	failures, decisionsUndelivered  metric.Int64Counter
	malformed, spansDropped         metric.Int64Counter
	ringChanges                     metric.Int64Counter
	refused                         metric.Int64Counter
	attrsUnreachable, attrsRejected metric.MeasurementOption
	attrsQueueFull                  metric.MeasurementOption
	refusedAttrs                    map[string]metric.MeasurementOption
}

// instruments creates the instruments of one prefix on the processor's meter
// (a no-op one without a provider), collecting their errors.
type instruments struct {
	m      metric.Meter
	prefix string
	errs   []error
}

func newInstruments(mp metric.MeterProvider, prefix string) *instruments {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	return &instruments{m: mp.Meter(meterScope), prefix: prefix}
}

func (in *instruments) counter(name, unit, desc string) metric.Int64Counter {
	c, err := in.m.Int64Counter(in.prefix+name, metric.WithUnit(unit), metric.WithDescription(desc))
	in.errs = append(in.errs, err)
	return c
}

func (in *instruments) gauge(name, unit, desc string) metric.Int64ObservableGauge {
	g, err := in.m.Int64ObservableGauge(in.prefix+name, metric.WithUnit(unit), metric.WithDescription(desc))
	in.errs = append(in.errs, err)
	return g
}

// reasonAttr is the measurement option of a counter's reason attribute.
func reasonAttr(r string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	in := newInstruments(mp, metricPrefix)
	counter := in.counter
	out := &metrics{
		tracesSent:           counter("traces_sent", "{traces}", "Undecided traces handed off to their new owner after a ring change or on shutdown."),
		spansSent:            counter("spans_sent", "{spans}", "Spans of the traces handed off to their new owner."),
		spansForwarded:       counter("spans_forwarded", "{spans}", "Spans received for traces owned by another gateway (stale routing) and forwarded to it."),
		decisionsSent:        counter("decisions_sent", "{decisions}", "Decisions forwarded to the new owner of their trace."),
		tracesReceived:       counter("traces_received", "{traces}", "Traces received from peers (handed off or forwarded) and buffered here."),
		spansReceived:        counter("spans_received", "{spans}", "Spans received from peers and buffered here."),
		decisionsReceived:    counter("decisions_received", "{decisions}", "Decisions received from peers and applied here."),
		failures:             counter("failures", "{traces}", "Traces that could not be handed off or forwarded and were decided here instead, by reason."),
		decisionsUndelivered: counter("decisions_undelivered", "{decisions}", "Decisions that could not be forwarded to the new owner (late spans there are decided without them)."),
		malformed:            counter("malformed", "{resource_spans}", "ResourceSpans received with missing or invalid handoff markers (their request is refused)."),
		spansDropped:         counter("spans_dropped", "{spans}", "Spans lost because the buffer refused them (the only loss the engine can cause)."),
		ringChanges:          counter("ring_changes", "{changes}", "Gateway set changes seen by this gateway."),
		refused:              counter("refused", "{requests}", "Requests to the handoff listener refused, by reason (nothing of them is buffered)."),
		attrsUnreachable:     reasonAttr(ReasonUnreachable),
		attrsRejected:        reasonAttr(ReasonRejected),
		attrsQueueFull:       reasonAttr(ReasonQueueFull),
		refusedAttrs:         make(map[string]metric.MeasurementOption, len(refusalReasons)),
	}
	for _, r := range refusalReasons {
		out.refusedAttrs[r] = reasonAttr(r)
	}
	return out, errors.Join(in.errs...)
}

var refusalReasons = []string{
	RefusedMalformed, RefusedTooManySpans, RefusedTooManyTraces, RefusedTooLarge,
	RefusedNotPeer, RefusedUnauthenticated, RefusedTLS,
}

func add(c metric.Int64Counter, n int, opts ...metric.AddOption) {
	if n > 0 {
		c.Add(context.Background(), int64(n), opts...)
	}
}
