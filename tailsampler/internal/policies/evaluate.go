package policies

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/tailgate-otel/tailgate/tailsampler/policy"
)

// Per-policy instruments. The first four are upstream's, with its units
// and attributes; sampling_decision_latency is ours (upstream had it and
// replaced it with the execution count and time sum).
const (
	MetricCountTracesSampled      = "otelcol_processor_tail_sampling_count_traces_sampled"
	MetricPolicyEvaluationError   = "otelcol_processor_tail_sampling_sampling_policy_evaluation_error"
	MetricPolicyExecutionCount    = "otelcol_processor_tail_sampling_sampling_policy_execution_count"
	MetricPolicyExecutionTimeSum  = "otelcol_processor_tail_sampling_sampling_policy_execution_time_sum"
	MetricSamplingDecisionLatency = "otelcol_processor_tail_sampling_sampling_decision_latency"
)

// DurationBuckets are the histogram boundaries upstream gives its
// decision timer (in ms) and gave its per-policy latency (in µs).
var DurationBuckets = []float64{1, 2, 5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 50000}

// Options configures New.
type Options struct {
	// SampleOnFirstMatch stops evaluating at the first policy that samples.
	SampleOnFirstMatch bool
	// Meter records the per-policy metrics; nil records nothing.
	Meter metric.Meter
	// ComponentName is the name part of the processor's component ID
	// (`tail_sampling/<name>`). When set, the metrics' policy attribute is
	// "<name>.<policy>", as upstream labels it, so two processors of one
	// collector do not add up in one series. Decisions and the
	// tailsampling.policy span attribute use the bare policy name.
	ComponentName string
}

// Set is the configured top-level policy list and the evaluator that
// combines its verdicts. It is safe for concurrent use if its policies are.
type Set struct {
	drops              []*entry // top-level drop policies, consulted first
	others             []*entry // every other policy, in configured order
	sampleOnFirstMatch bool
	now                func() time.Time
	slots              int // number of entry slots (see Tally)

	countSampled metric.Int64Counter
	evalErrors   metric.Int64Counter
	execCount    metric.Int64ObservableCounter
	execTime     metric.Int64ObservableCounter
	registration metric.Registration
	latency      metric.Int64Histogram
}

// entry carries one policy and its metric attribute sets, built once
// so recording a measurement allocates nothing.
type entry struct {
	name       string
	slot       int // index into Tally's counts
	p          policy.Policy
	optSampled []metric.AddOption // policy, sampled="true", decision="sampled"
	optNot     []metric.AddOption // policy, sampled="false", decision="not_sampled"
	optDropped []metric.AddOption // policy, sampled="false", decision="dropped"
	optPolicy  []metric.AddOption
	optLatency []metric.RecordOption
	optObserve []metric.ObserveOption
	// executions and spentNanos are the policy's execution count and
	// (estimated) time, observed by execution_count and
	// execution_time_sum: an atomic add costs a fraction of a synchronous
	// counter's Add, and the time is summed in nanoseconds, so fast
	// policies (well under a microsecond each) lose nothing to rounding.
	executions atomic.Int64
	spentNanos atomic.Int64
	// threshold is upstream's OpenTelemetry sampling threshold of the
	// policy (0 unless probabilistic, or an and holding one): among the
	// policies that sample a trace, the one with the smallest threshold
	// names the decision.
	threshold uint64
	stateful  bool
}

// New builds every policy of cfgs from reg (built-in and custom types).
// Validation errors have the same text as Validate's.
func New(cfgs []PolicyCfg, reg map[string]policy.Factory, set policy.Settings, opts Options) (*Set, error) {
	if err := Validate(cfgs, reg); err != nil {
		return nil, err
	}
	set = normalizeSettings(set)
	reg = bindRegistry(reg)
	m := opts.Meter
	if m == nil {
		m = noop.NewMeterProvider().Meter("")
	}
	ps := &Set{sampleOnFirstMatch: opts.SampleOnFirstMatch, now: time.Now}
	var errs, err error
	ps.countSampled, err = m.Int64Counter(MetricCountTracesSampled, metric.WithUnit("{traces}"),
		metric.WithDescription("Traces each policy evaluated, by its verdict (sampled, decision: sampled, not_sampled or dropped); an evaluation that failed is counted in sampling_policy_evaluation_error instead."))
	errs = errors.Join(errs, err)
	ps.evalErrors, err = m.Int64Counter(MetricPolicyEvaluationError, metric.WithUnit("{errors}"),
		metric.WithDescription("Policy evaluations that returned an error (the policy then has no vote on the trace)."))
	errs = errors.Join(errs, err)
	ps.execCount, err = m.Int64ObservableCounter(MetricPolicyExecutionCount, metric.WithUnit("{executions}"),
		metric.WithDescription("Times each policy was evaluated, errors included."))
	errs = errors.Join(errs, err)
	ps.execTime, err = m.Int64ObservableCounter(MetricPolicyExecutionTimeSum, metric.WithUnit("us"),
		metric.WithDescription("Time spent evaluating each policy, in microseconds; measured on 1 trace in 8 (chosen by trace ID) and scaled by 8."))
	errs = errors.Join(errs, err)
	// "us" is UCUM's microsecond, as upstream now writes it; the collector's
	// metadata tooling refuses "µs".
	ps.latency, err = m.Int64Histogram(MetricSamplingDecisionLatency, metric.WithUnit("us"),
		metric.WithDescription("Latency (in microseconds) of a given sampling policy."),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	errs = errors.Join(errs, err)
	if errs != nil {
		return nil, errs
	}
	for i := range cfgs {
		c := &cfgs[i]
		p, err := buildPolicy(c, label("policies", i, c.Name), reg, set)
		if err != nil {
			return nil, err
		}
		pol := attribute.String("policy", metricLabel(opts.ComponentName, c.Name))
		verdict := func(d policy.Decision) []metric.AddOption {
			return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(append(DecisionAttributes(d), pol)...))}
		}
		polOnly := metric.WithAttributeSet(attribute.NewSet(pol))
		e := &entry{
			name:       c.Name,
			slot:       i,
			p:          p,
			optSampled: verdict(policy.Sampled),
			optNot:     verdict(policy.NotSampled),
			optDropped: verdict(policy.Dropped),
			optPolicy:  []metric.AddOption{polOnly},
			optObserve: []metric.ObserveOption{polOnly},
			optLatency: []metric.RecordOption{polOnly},
			threshold:  thresholdOf(p),
			stateful:   isStateful(p),
		}
		// Upstream adds to it for every policy on every decision round,
		// zero included: the series exists before the first error, as
		// upstream's does, for dashboards and alerts that expect it.
		ps.evalErrors.Add(context.Background(), 0, e.optPolicy...)
		ps.slots++
		if c.Type == typeDrop {
			ps.drops = append(ps.drops, e)
		} else {
			ps.others = append(ps.others, e)
		}
	}
	ps.registration, err = m.RegisterCallback(ps.observe, ps.execCount, ps.execTime)
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// observe reports every policy's execution count and time.
func (ps *Set) observe(_ context.Context, o metric.Observer) error {
	for _, group := range [2][]*entry{ps.drops, ps.others} {
		for _, e := range group {
			o.ObserveInt64(ps.execCount, e.executions.Load(), e.optObserve...)
			o.ObserveInt64(ps.execTime, e.spentNanos.Load()/1000, e.optObserve...)
		}
	}
	return nil
}

// Close stops reporting the execution counts and times (their callback
// holds the set). The set still decides; call it once, when done.
func (ps *Set) Close() {
	if ps.registration != nil {
		_ = ps.registration.Unregister()
	}
}

// metricLabel is a policy's `policy` attribute value: upstream prefixes it
// with the processor's component name, when it has one.
func metricLabel(component, name string) string {
	if component == "" {
		return name
	}
	return component + "." + name
}

// DecisionAttributes are upstream's attributes of a final decision d
// (Sampled, NotSampled or Dropped): sampled, the string "true" or "false",
// and decision, "sampled", "not_sampled" or "dropped". count_traces_sampled
// carries them per policy verdict, global_count_traces_sampled per trace.
// Every other verdict reads as not sampled.
func DecisionAttributes(d policy.Decision) []attribute.KeyValue {
	switch {
	case d.Samples():
		return []attribute.KeyValue{attribute.String("sampled", "true"), attribute.String("decision", policy.Sampled.String())}
	case d == policy.Dropped:
		return []attribute.KeyValue{attribute.String("sampled", "false"), attribute.String("decision", policy.Dropped.String())}
	}
	return []attribute.KeyValue{attribute.String("sampled", "false"), attribute.String("decision", policy.NotSampled.String())}
}

// Decide evaluates t and returns the final decision (Sampled, NotSampled or
// Dropped) and the name of the policy that decided it ("" when no policy
// did, e.g. nothing matched).
//
// Order and precedence, as upstream:
//  1. drop policies, in configured order: the first Dropped ends it;
//  2. every other policy, in configured order (with sample_on_first_match,
//     until the first Sampled; a Dropped also ends it);
//  3. any Dropped → Dropped; else any InvertNotSampled → NotSampled; else
//     any Sampled → Sampled; else any InvertSampled and no NotSampled vote
//     → Sampled; else NotSampled. (Only custom policies return the
//     deprecated inverted verdicts.)
//
// A sampled trace is named after the sampling policy with the smallest
// sampling threshold, the first of them on a tie: a probabilistic policy
// (threshold from its percentage) yields to a later filter policy
// (threshold 0), as upstream does since it reports thresholds.
//
// A policy that returns an error is counted in
// sampling_policy_evaluation_error and has no vote.
func (ps *Set) Decide(ctx context.Context, t policy.Trace) (policy.Decision, string) {
	return ps.DecideTally(ctx, t, nil)
}

// Stateful names the top-level policies that are stateful (see
// policy.Stateful), in configured order.
func (ps *Set) Stateful() []string {
	var names []string
	for _, group := range [2][]*entry{ps.drops, ps.others} {
		for _, e := range group {
			if e.stateful {
				names = append(names, e.name)
			}
		}
	}
	return names
}

// Tally accumulates per-policy counts over many decisions, so a
// decision round adds to the per-policy counters once per policy and
// outcome instead of once per trace and policy (with the SDK, each Add
// locks and looks up an attribute set; five per trace doubled the cost of
// a P2 decision). Its zero value is ready; it is not safe for concurrent
// use.
type Tally struct {
	counts [numOutcomes][]int64 // evaluations by outcome, then entry.slot
	nanos  []int64              // estimated execution time, by entry.slot
	dirty  bool
}

// outcome is how one evaluation is counted: exactly one per evaluation.
type outcome int

const (
	outcomeSampled outcome = iota
	outcomeNotSampled
	outcomeDropped
	outcomeError
	numOutcomes
)

// outcomeOf classifies a policy's verdict d and error err.
func outcomeOf(d policy.Decision, err error) outcome {
	switch {
	case err != nil:
		return outcomeError
	case d.Samples():
		return outcomeSampled
	case d == policy.Dropped:
		return outcomeDropped
	}
	return outcomeNotSampled
}

// record adds n evaluations of e with outcome k to their counter.
func (ps *Set) record(ctx context.Context, e *entry, k outcome, n int64) {
	switch k {
	case outcomeSampled:
		ps.countSampled.Add(ctx, n, e.optSampled...)
	case outcomeNotSampled:
		ps.countSampled.Add(ctx, n, e.optNot...)
	case outcomeDropped:
		ps.countSampled.Add(ctx, n, e.optDropped...)
	case outcomeError:
		ps.evalErrors.Add(ctx, n, e.optPolicy...)
	}
}

// Flush adds the accumulated counts to the instruments and resets them.
// The execution count is the sum of the outcomes: every evaluation has
// exactly one of them.
func (ps *Set) Flush(ctx context.Context, t *Tally) {
	if !t.dirty {
		return
	}
	for _, group := range [2][]*entry{ps.drops, ps.others} {
		for _, e := range group {
			var executions int64
			for k := range numOutcomes {
				if n := t.counts[k][e.slot]; n > 0 {
					ps.record(ctx, e, k, n)
					executions += n
				}
			}
			if executions > 0 {
				e.executions.Add(executions)
			}
			if ns := t.nanos[e.slot]; ns > 0 {
				e.spentNanos.Add(ns)
			}
		}
	}
	for k := range t.counts {
		clear(t.counts[k])
	}
	clear(t.nanos)
	t.dirty = false
}

// DecideTally is Decide that counts into tally (flushed by the caller)
// when it is not nil, and records each count at once when it is.
func (ps *Set) DecideTally(ctx context.Context, t policy.Trace, tally *Tally) (policy.Decision, string) {
	if tally != nil && len(tally.nanos) != ps.slots {
		for k := range tally.counts {
			tally.counts[k] = make([]int64, ps.slots)
		}
		tally.nanos = make([]int64, ps.slots)
	}
	// Reading the clock around every policy cost ~20% of a P2 decision on
	// our 2-core VM, so latency is measured on 1 trace in 8, chosen by the
	// trace ID's last byte: no shared counter, spread like the IDs are
	// (random, for W3C trace IDs). The execution time sum counts each
	// measured evaluation for the 8 it stands for.
	var start time.Time
	timed := t.ID()[15]&latencySampleMask == 0
	if timed {
		start = ps.now()
	}
	for _, e := range ps.drops {
		var d policy.Decision
		d, start = ps.eval(ctx, e, t, timed, start, tally)
		if d == policy.Dropped {
			return policy.Dropped, e.name
		}
	}
	var sampled, firstInvertSampled, firstInvertNot *entry
	notSampled := false
	for _, e := range ps.others {
		var d policy.Decision
		d, start = ps.eval(ctx, e, t, timed, start, tally)
		switch d {
		case policy.Dropped:
			// A custom (or nested) policy may veto like a drop policy does.
			return policy.Dropped, e.name
		case policy.Sampled:
			if sampled == nil || e.threshold < sampled.threshold {
				sampled = e
			}
		//lint:ignore SA1019 custom policies may still return inverted verdicts; upstream's precedence applies
		case policy.InvertSampled:
			if firstInvertSampled == nil {
				firstInvertSampled = e
			}
		//lint:ignore SA1019 custom policies may still return inverted verdicts; upstream's precedence applies
		case policy.InvertNotSampled:
			if firstInvertNot == nil {
				firstInvertNot = e
			}
		case policy.NotSampled:
			notSampled = true
		case policy.Unspecified, errorVote:
		}
		if ps.sampleOnFirstMatch && d == policy.Sampled {
			break
		}
	}
	switch {
	case firstInvertNot != nil:
		return policy.NotSampled, ""
	case sampled != nil:
		return policy.Sampled, sampled.name
	case firstInvertSampled != nil && !notSampled:
		return policy.Sampled, firstInvertSampled.name
	}
	return policy.NotSampled, ""
}

// latencySampleMask selects the traces whose decision latency is measured:
// those whose trace ID's last byte has these bits clear (1 in 8).
const latencySampleMask = 0x07

// timedWeight is how many evaluations one measured evaluation stands for
// in the execution time sum.
const timedWeight = latencySampleMask + 1

// errorVote marks an evaluation that failed; it is never returned to the
// caller of Decide.
const errorVote policy.Decision = 255

// eval runs one policy and records its metrics. Latency is measured from
// the end of the previous policy's evaluation, so each policy costs one
// clock read instead of two.
func (ps *Set) eval(ctx context.Context, e *entry, t policy.Trace, timed bool, start time.Time, tally *Tally) (policy.Decision, time.Time) {
	d, err := e.p.Evaluate(ctx, t)
	end := start
	var spent int64
	if timed {
		end = ps.now()
		took := end.Sub(start)
		ps.latency.Record(ctx, took.Microseconds(), e.optLatency...)
		spent = int64(took) * timedWeight
	}
	k := outcomeOf(d, err)
	if tally != nil {
		tally.dirty = true
		tally.nanos[e.slot] += spent
		tally.counts[k][e.slot]++
	} else {
		ps.record(ctx, e, k, 1)
		e.executions.Add(1)
		if spent > 0 {
			e.spentNanos.Add(spent)
		}
	}
	if err != nil {
		return errorVote, end
	}
	return d, end
}

// thresholdReporter is implemented by built-in policies whose upstream
// counterpart reports an OpenTelemetry sampling threshold.
type thresholdReporter interface {
	samplingThreshold() uint64
}

// thresholdOf is p's sampling threshold: 0 (always sample) for every
// policy that does not report one, as upstream treats them.
func thresholdOf(p policy.Policy) uint64 {
	if r, ok := p.(thresholdReporter); ok {
		return r.samplingThreshold()
	}
	return 0
}
